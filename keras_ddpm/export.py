"""Export a trained diffusion model as a self-contained TensorFlow SavedModel of its samplers.

The SavedModel holds the network's weights, the noise schedule (as constants of the graphs) and
the compiled reverse processes, so it samples anywhere TensorFlow runs (a serving stack, a
notebook, another machine) with nothing but::

    import tensorflow as tf
    sampler = tf.saved_model.load("saved_models/bicycle")
    x0 = sampler.sample(num_samples=20000, seed=0)["samples"]          # DDPM, Algorithm 2
    x0 = sampler.sample_ddim(num_samples=20000, num_steps=50, eta=0.0, seed=0)["samples"]

Endpoints (also exported as serving signatures of the same names; all inputs are scalars unless
noted, timesteps 0-based: index ``t`` is the paper's step ``t + 1``):

==================  ========================================================================
``sample``          ``(num_samples int32, seed int64)``: DDPM ancestral sampling from x_T.
``sample_ddim``     ``(num_samples int32, num_steps int32, eta float32, seed int64)``: DDIM
                    (Song et al. 2021) with ``num_steps`` in 1..T, ``eta`` in [0, 1].
``denoise_from``    ``(x float32 (n, *data_shape), t_start int32, seed int64)``: the DDPM reverse
                    process from a state ``x`` at timestep ``t_start`` (partial diffusion, SDEdit).
``diffuse``         ``(x0 float32 (n, *data_shape), t int32, seed int64)``: the forward process,
                    q(x_t | x_0) in closed form (eq. 4), to feed ``denoise_from``.
``info``            ``()``: ``timesteps``, ``num_classes`` (0: unconditional), ``data_shape``,
                    ``schedule`` (JSON), ``variance``, ``prediction`` (``epsilon`` or ``v``),
                    ``format_version``.
==================  ========================================================================

For a class-conditional network (one with ``num_classes``), ``sample``, ``sample_ddim`` and
``denoise_from`` also take ``labels`` (int32 ``(n,)``, class ids, ``num_classes`` = no class) and
``guidance_scale`` (float32; classifier-free guidance w, 1 = plain conditional, 0 = unconditional).
Every endpoint returns ``{"samples": tensor}`` (``info`` its own dict).

Inputs are checked inside the graph (``num_samples >= 1``, ``num_steps`` in 1..T, ``eta`` in
[0, 1], ``t_start`` in 0..T-1, label ids and counts), so a bad call fails with
``InvalidArgumentError`` carrying a message that names the input, not a wrong result.

Same seed, same samples: the endpoints run the very graph code of `DDPMSampler` and
`DDIMSampler` (`Sampler.generate`) with the same stateless noise keys, so ``sample(n, seed)``
equals ``DDPMSampler(schedule, clip_x0=clip_x0).sample(network, (n, *data_shape), seed)`` and
``sample_ddim`` equals ``DDIMSampler(schedule, num_steps, eta, clip_x0=clip_x0).sample(...)``. The graphs are not XLA-compiled: XLA cannot
compile DDIM's run-time ``num_steps`` (a dynamic loop length), it would drop the input checks, and
its Philox kernels draw different noise than the in-process samplers' default ``jit_compile=False``.

Command line (a ``.keras`` checkpoint to a SavedModel)::

    python -m keras_ddpm.export outputs/bicycle/model.keras            # -> saved_models/model/
    python -m keras_ddpm.export outputs/bicycle/model.keras --out saved_models/bicycle
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import keras
import tensorflow as tf

from keras_ddpm.process.forward import q_sample
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.samplers import DDIMSampler, DDPMSampler, initial_noise

#: Where exports go by default: ``saved_models/<name>/``.
DEFAULT_DIR = "saved_models"
#: Bumped when the endpoints change incompatibly; readers can check ``info()["format_version"]``.
FORMAT_VERSION = 1
ENDPOINTS = ("sample", "sample_ddim", "denoise_from", "diffuse", "info")
#: Written into every export folder: an export may replace a folder only if it holds this file.
MARKER_FILE = "keras_ddpm_export.json"
#: What `keras.export.ExportArchive.write_out` writes, plus the marker: all an export folder holds.
EXPORT_ENTRIES = frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb", MARKER_FILE})


def default_path(name: str) -> str:
    """``saved_models/<name>``."""
    return os.path.join(DEFAULT_DIR, name)


def infer_data_shape(network) -> tuple:
    """The shape of one example: the network's ``data_shape`` or ``data_dim`` attribute, else the
    shape of ``x_t`` the network was built with (`get_build_config`)."""
    shape = getattr(network, "data_shape", None)
    if shape is None and getattr(network, "data_dim", None) is not None:
        shape = (network.data_dim,)
    if shape is None:
        built = (network.get_build_config() or {}).get("input_shape")
        if isinstance(built, (list, tuple)) and built and isinstance(built[0], (list, tuple)):
            shape = tuple(built[0])[1:]
    if shape is None or any(d is None for d in shape):
        raise ValueError(
            f"cannot tell the data shape of network {network.name!r} (no data_shape or data_dim "
            "attribute, and not built on a full example shape): pass data_shape=..."
        )
    return tuple(int(d) for d in shape)


def build_archive(model, schedule: NoiseSchedule | None = None, data_shape=None, variance: str = "beta",
                  clip_x0=None, prediction: str | None = None) -> keras.export.ExportArchive:
    """A `keras.export.ExportArchive` tracking the network, with the sampler endpoints added.

    Args:
        model: a `DiffusionModel` (its ``network`` and ``schedule`` are used) or a bare
            noise-prediction network (then pass ``schedule``).
        schedule: the `NoiseSchedule` the network was trained with (default: ``model.schedule``).
        data_shape: the shape of one example (default: from the network, see `infer_data_shape`).
        variance: DDPM's sigma_t^2, ``"beta"`` or ``"posterior"`` (see `DDPMSampler`).
        clip_x0: both samplers' clipping of the predicted x0, e.g. ``(-1, 1)`` for images, or None.
        prediction: what the network predicts, ``"epsilon"`` or ``"v"`` (default: a
            `DiffusionModel`'s ``prediction``, else ``"epsilon"``).
    """
    network = getattr(model, "network", model)
    schedule = schedule if schedule is not None else getattr(model, "schedule", None)
    if not isinstance(schedule, NoiseSchedule):
        raise ValueError("export needs the NoiseSchedule the network was trained with: pass schedule=...")
    if not network.built:
        raise ValueError(f"network {network.name!r} is not built: train it or call it once before exporting")
    data_shape = tuple(int(d) for d in data_shape) if data_shape is not None else infer_data_shape(network)
    T = schedule.timesteps
    num_classes = int(getattr(network, "num_classes", None) or 0)
    if prediction is None:
        prediction = getattr(model, "prediction", "epsilon")
    ddpm = DDPMSampler(schedule, variance=variance, clip_x0=clip_x0, prediction=prediction)
    ddim = DDIMSampler(schedule, num_steps=min(50, T), eta=0.0, clip_x0=clip_x0, prediction=prediction)

    x_spec = tf.TensorSpec((None,) + data_shape, tf.float32, name="x")
    num_samples_spec = tf.TensorSpec((), tf.int32, name="num_samples")
    seed_spec = tf.TensorSpec((), tf.int64, name="seed")
    label_specs = [tf.TensorSpec((None,), tf.int32, name="labels"),
                   tf.TensorSpec((), tf.float32, name="guidance_scale")] if num_classes else []

    def start_noise(num_samples, seed):
        check = tf.debugging.assert_positive(num_samples, message="num_samples must be >= 1")
        with tf.control_dependencies([check]):
            shape = tf.concat([tf.reshape(num_samples, (1,)), tf.constant(data_shape, tf.int32)], 0)
        return initial_noise(shape, seed)

    def conditioned(run, x, labels=None, guidance_scale=None):
        """``run(labels, w)`` with the label inputs checked; w = 1 costs one network call per step."""
        if not num_classes:
            return run(None, 1.0)
        checks = [
            tf.debugging.assert_equal(tf.shape(labels)[0], tf.shape(x)[0],
                                      message="labels must hold one class id per sample"),
            tf.debugging.assert_non_negative(labels, message=f"labels must be class ids in 0..{num_classes}"),
            tf.debugging.assert_less_equal(labels, num_classes,
                                           message=f"labels must be class ids in 0..{num_classes} "
                                                   f"({num_classes} = no class)"),
            tf.debugging.assert_all_finite(guidance_scale, message="guidance_scale must be finite"),
        ]
        with tf.control_dependencies(checks):
            labels = tf.identity(labels)
        return tf.cond(tf.equal(guidance_scale, 1.0), lambda: run(labels, 1.0),
                       lambda: run(labels, guidance_scale))

    def sample(num_samples, seed, labels=None, guidance_scale=None):
        x_T = start_noise(num_samples, seed)
        return {"samples": conditioned(lambda y, w: ddpm.generate(network, x_T, seed, y, w),
                                       x_T, labels, guidance_scale)}

    def sample_ddim(num_samples, num_steps, eta, seed, labels=None, guidance_scale=None):
        # Gate the parameters themselves on the sampler's checks: otherwise a bad num_steps may
        # reach a gather in the loop (an "indices out of range" error) before the check fails.
        with tf.control_dependencies(ddim.check_params({"num_steps": num_steps, "eta": eta})):
            num_steps, eta = tf.identity(num_steps), tf.identity(eta)
        x_T = start_noise(num_samples, seed)
        return {"samples": conditioned(
            lambda y, w: ddim.generate(network, x_T, seed, y, w, num_steps=num_steps, eta=eta),
            x_T, labels, guidance_scale)}

    def denoise_from(x, t_start, seed, labels=None, guidance_scale=None):
        message = f"t_start must be in 0..{T - 1}"  # checked here too, before any use (see sample_ddim)
        with tf.control_dependencies([tf.debugging.assert_non_negative(t_start, message=message),
                                      tf.debugging.assert_less(t_start, T, message=message)]):
            t_start = tf.identity(t_start)
        return {"samples": conditioned(lambda y, w: ddpm.generate_from(network, x, t_start, seed, y, w),
                                       x, labels, guidance_scale)}

    def diffuse(x0, t, seed):
        checks = [tf.debugging.assert_non_negative(t, message=f"t must be in 0..{T - 1}"),
                  tf.debugging.assert_less(t, T, message=f"t must be in 0..{T - 1}")]
        with tf.control_dependencies(checks):
            t_batch = tf.fill(tf.shape(x0)[:1], t)
        # The forward noise uses the starting-noise key (seed, 0), which no reverse step uses.
        return {"samples": q_sample(schedule, x0, t_batch, initial_noise(tf.shape(x0), seed))}

    schedule_json = json.dumps(schedule.get_config())

    def info():
        return {
            "timesteps": tf.constant(T, tf.int32),
            "num_classes": tf.constant(num_classes, tf.int32),
            "data_shape": tf.constant(data_shape, tf.int32),
            "schedule": tf.constant(schedule_json),
            "variance": tf.constant(variance),
            "prediction": tf.constant(prediction),
            "format_version": tf.constant(FORMAT_VERSION, tf.int32),
        }

    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint("sample", sample, [num_samples_spec, seed_spec] + label_specs)
    archive.add_endpoint(
        "sample_ddim", sample_ddim,
        [num_samples_spec, tf.TensorSpec((), tf.int32, name="num_steps"),
         tf.TensorSpec((), tf.float32, name="eta"), seed_spec] + label_specs,
    )
    archive.add_endpoint("denoise_from", denoise_from,
                         [x_spec, tf.TensorSpec((), tf.int32, name="t_start"), seed_spec] + label_specs)
    archive.add_endpoint("diffuse", diffuse, [tf.TensorSpec((None,) + data_shape, tf.float32, name="x0"),
                                              tf.TensorSpec((), tf.int32, name="t"), seed_spec])
    archive.add_endpoint("info", info, [])
    return archive


def export_sampler(model, path=None, *, schedule: NoiseSchedule | None = None, name: str | None = None,
                   data_shape=None, variance: str = "beta", clip_x0=None, prediction: str | None = None) -> str:
    """Write the sampler SavedModel of ``model`` to ``path`` (default ``saved_models/<name>/``).

    The folder is written next to its final place and renamed into it, so a run killed while
    exporting never leaves a half-written SavedModel under ``path``. An earlier export there is
    replaced; anything else is never deleted (see `check_export_target`). See the module
    docstring for the endpoints and `build_archive` for the arguments.

    Returns:
        The path of the SavedModel folder.
    """
    if path is None:
        network = getattr(model, "network", model)
        path = default_path(name or network.name)
    path = os.fspath(path)
    check_export_target(path)
    archive = build_archive(model, schedule=schedule, data_shape=data_shape, variance=variance,
                            clip_x0=clip_x0, prediction=prediction)
    _write_folder_atomically(archive, path)
    return path


def check_export_target(path) -> str:
    """Check that an export may be written to the folder ``path``; return ``path``.

    It may if ``path`` does not exist yet, is an empty folder, or holds an earlier export of this
    module (its `MARKER_FILE` and nothing but what an export writes): that export is replaced.
    A file, a folder with anything else in it, or a path under a file is refused, so an export
    never deletes what it did not write.

    Raises:
        ValueError: naming the path and what is in the way.
    """
    path = os.fspath(path)
    if path.endswith(".keras"):
        raise ValueError(f"a SavedModel is a folder; got a .keras file name: {path}")
    if not os.path.lexists(path):
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise ValueError(f"cannot export to {path}: {parent} is a file, not a folder")
        return path
    if not os.path.isdir(path) or os.path.islink(path):
        raise ValueError(f"cannot export to {path}: it is an existing file, and an export is a folder; "
                         "choose another path")
    entries = set(os.listdir(path))
    if entries and not (MARKER_FILE in entries and entries <= EXPORT_ENTRIES):
        foreign = sorted(entries - EXPORT_ENTRIES) or sorted(entries)
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ValueError(f"cannot export to {path}: the folder holds files that are not a keras-ddpm export "
                         f"({shown}), which an export would delete; choose a new or empty folder")
    return path


def _write_folder_atomically(archive, path):
    path = os.path.abspath(path)
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders
        archive.write_out(tmp, verbose=False)
        with open(os.path.join(tmp, MARKER_FILE), "w", encoding="utf-8") as handle:
            json.dump({"format": "keras-ddpm sampler SavedModel", "format_version": FORMAT_VERSION}, handle)
        check_export_target(path)  # again: something may have appeared there while writing
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{base}.", suffix=".old", dir=parent)
            os.replace(path, os.path.join(old, base))
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not os.path.exists(path):
            os.replace(os.path.join(old, base), path)  # put the previous export back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# -- command line ----------------------------------------------------------------------------------
def main(argv=None) -> int:
    from keras_ddpm.training.checkpoints import load_checkpoint
    from keras_ddpm.utils.cli import ArgumentParser

    p = ArgumentParser(prog="python -m keras_ddpm.export",
                       description="Export a .keras diffusion checkpoint as a sampler SavedModel.")
    p.add_argument("checkpoint", help="a .keras file holding a DiffusionModel (e.g. OUT/model.keras)")
    p.add_argument("--out", help=f"SavedModel folder (default: {DEFAULT_DIR}/<checkpoint name>)")
    p.add_argument("--variance", choices=("beta", "posterior"), default="beta",
                   help="DDPM sampling variance (default: %(default)s)")
    p.add_argument("--clip-x0", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="clip the samplers' predicted x0 to [LOW, HIGH] (images: -1 1)")
    args = p.parse_args(argv)
    name = os.path.splitext(os.path.basename(args.checkpoint))[0]
    out = check_export_target(args.out or default_path(name))  # before the slow load
    model = load_checkpoint(args.checkpoint, compile=False)
    if not hasattr(model, "schedule"):
        raise ValueError(f"{args.checkpoint} holds a {type(model).__name__}, not a DiffusionModel")
    path = export_sampler(model, out, variance=args.variance, clip_x0=args.clip_x0)
    print(f"exported {args.checkpoint} -> {path}")
    return 0


if __name__ == "__main__":
    from keras_ddpm.utils.cli import run_cli

    sys.exit(run_cli(main, prog="python -m keras_ddpm.export"))
