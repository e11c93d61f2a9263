#!/usr/bin/env python
"""``sample.py`` / ``keras-ddpm sample``: draw samples from an exported keras-ddpm SavedModel, with
TensorFlow alone.

    python sample.py saved_models/bicycle --num-samples 20000 --seed 0 --out samples/bicycle.npy
    python sample.py saved_models/bicycle --num-samples 20000 --ddim-steps 50 --eta 0 --out samples/ddim50.npy
    python sample.py saved_models/sprites --num-samples 50 --labels 0,1,2,3,4 --guidance-scale 3 --out sprites.npy
    python sample.py saved_models/bicycle --from points.npy --t-start 250 --out edited.npy   # SDEdit

Writes the samples (``.npy``, float32, ``(n, *data_shape)``) and a picture next to them (the same
name with ``.png``): a scatter for 2D points, a grid for images. The same seed gives the same
samples as the in-process samplers of keras_ddpm.

The sampling itself needs only TensorFlow: the SavedModel holds the network, its schedule and the
compiled samplers (this module uses nothing of keras_ddpm but its command-line and atomic-write
helpers). The SavedModel is made by
``train_bicycle.py`` (at the end of training) or ``python -m keras_ddpm.export MODEL.keras``.
Bad input exits with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time

from keras_ddpm.utils.cli import (
    ArgumentParser,
    non_negative_int32,
    non_negative_int64,
    output_file,
    positive_int32,
)
from keras_ddpm.utils.io import atomic_path, save_npy

PROG = "sample.py"
MAX_GRID = 100  # images drawn in the picture at most
#: Arrays of the samples' size that sampling holds at once (x_t, the noise, the prediction, the result):
#: with the physical memory, the largest --num-samples that can be drawn at all.
ARRAYS_IN_MEMORY = 4


class UserError(ValueError):
    """Bad input: reported as one line, exit code 2."""


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _labels(text):
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids, got {text!r}") from None


def parse_args(argv=None, prog: str = PROG):
    p = ArgumentParser(prog=prog, description="Sample from a keras-ddpm SavedModel (DDPM or DDIM).")
    p.add_argument("path", help="the SavedModel folder (e.g. saved_models/bicycle)")
    p.add_argument("--num-samples", "--n", dest="n", type=positive_int32, default=20000,
                   help="number of samples (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int64, default=0, help="same seed, same samples (default: %(default)s)")
    p.add_argument("--ddim-steps", type=positive_int32, default=None,
                   help="sample with DDIM in this many steps (1..T) instead of DDPM's T steps")
    p.add_argument("--eta", type=_float, default=None,
                   help="DDIM stochasticity in [0, 1]: 0 deterministic, 1 DDPM-like (default: 0)")
    p.add_argument("--labels", type=_labels, default=None,
                   help="class-conditional models: comma-separated class ids, repeated to --num-samples samples "
                   "(default: every class in turn); the id num_classes means 'no class'")
    p.add_argument("--guidance-scale", type=_float, default=1.0,
                   help="classifier-free guidance w: 1 plain conditional, 0 unconditional, >1 "
                   "stronger (default: %(default)s)")
    p.add_argument("--from", dest="from_file", default=None,
                   help="partial diffusion (SDEdit): a .npy of data to noise to --t-start and denoise "
                   "(--num-samples is then its length)")
    p.add_argument("--t-start", type=non_negative_int32, default=None, help="0-based timestep for --from")
    p.add_argument("--out", required=True, help="output .npy file; the picture goes next to it (.png)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines (by default: the expected time, from one timed step, and the time taken)")
    p.add_argument("--picture", default=None, help="picture file (default: --out with .png); 'none' to skip")
    args = p.parse_args(argv)
    if not args.out.endswith(".npy"):
        p.error(f"--out must be a .npy file, got {args.out!r}")
    if args.eta is not None and args.ddim_steps is None:
        p.error("--eta needs --ddim-steps")
    if (args.from_file is None) != (args.t_start is None):
        p.error("--from and --t-start go together")
    if args.from_file is not None and args.ddim_steps is not None:
        p.error("--from (partial diffusion) runs DDPM steps; drop --ddim-steps")
    # Both files are written after sampling: a bad path is refused now, not after the work.
    try:
        output_file(args.out, "--out")
        if args.picture is None or args.picture.lower() != "none":
            output_file(args.picture or os.path.splitext(args.out)[0] + ".png", "--picture")
    except ValueError as err:
        p.error(str(err))
    return args


def check_against_model(args, info) -> None:
    """The flags that depend on the model (its T, its data shape), checked before sampling."""
    timesteps = int(info["timesteps"])
    if args.ddim_steps is not None and args.ddim_steps > timesteps:
        raise UserError(f"--ddim-steps must be in 1..{timesteps} (the model's T), got {args.ddim_steps}")
    if args.t_start is not None and args.t_start >= timesteps:
        raise UserError(f"--t-start must be in 0..{timesteps - 1} (the model's T - 1), got {args.t_start}")
    if args.from_file is None:
        size = args.n * math.prod(int(d) for d in info["data_shape"]) * 4  # float32
        memory = _physical_memory()
        if memory and size * ARRAYS_IN_MEMORY > memory:
            raise UserError(f"--num-samples {args.n} needs about {size * ARRAYS_IN_MEMORY / 2**30:.0f} GiB of "
                            f"memory ({ARRAYS_IN_MEMORY} arrays of {size / 2**30:.1f} GiB), more than this machine's "
                            f"{memory / 2**30:.0f} GiB; draw fewer samples per call")


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# -- loading ---------------------------------------------------------------------------------------
def load_sampler(path):
    """``tf.saved_model.load`` with one clear error for every way the folder can be wrong."""
    import tensorflow as tf

    if not os.path.exists(path):
        raise UserError(f"no SavedModel at {path}")
    if os.path.isfile(path):
        if path.endswith(".keras"):
            raise UserError(f"{path} is a .keras checkpoint, not a SavedModel: export it first with "
                            f"python -m keras_ddpm.export {path}")
        raise UserError(f"{path} is a file; a SavedModel is a folder holding saved_model.pb")
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise UserError(f"{path} is not a SavedModel (no saved_model.pb in it)")
    try:
        sampler = tf.saved_model.load(path)
    except Exception as err:  # noqa: BLE001 - protobuf, OpError, ValueError...: all mean "damaged"
        raise UserError(f"cannot load the SavedModel in {path}: it is truncated or corrupt "
                        f"({type(err).__name__}: {_short(err)})") from None
    missing = [name for name in ("sample", "sample_ddim", "denoise_from", "diffuse", "info")
               if not hasattr(sampler, name)]
    if missing:
        raise UserError(f"{path} is a SavedModel but not a keras-ddpm sampler export "
                        f"(no {', '.join(missing)})")
    info = {k: v.numpy() for k, v in sampler.info().items()}
    return sampler, info


# -- sampling --------------------------------------------------------------------------------------
def draw(sampler, info, args):
    import numpy as np
    import tensorflow as tf

    num_classes = int(info["num_classes"])
    data_shape = tuple(int(d) for d in info["data_shape"])
    seed = tf.constant(args.seed, tf.int64)
    x = None
    n = args.n
    if args.from_file is not None:
        x = _load_npy(args.from_file, data_shape)
        n = len(x)
    extra = {}
    if num_classes:
        ids = args.labels if args.labels is not None else list(range(num_classes))
        if not ids:
            raise UserError("--labels is empty")
        bad = [i for i in ids if not 0 <= i <= num_classes]
        if bad:
            raise UserError(f"--labels: class ids must be in 0..{num_classes - 1} "
                            f"({num_classes} = no class), got {bad}")
        extra = {"labels": tf.constant(np.resize(np.asarray(ids, np.int32), n)),
                 "guidance_scale": tf.constant(args.guidance_scale, tf.float32)}
    elif args.labels is not None or args.guidance_scale != 1.0:
        raise UserError("this model is not class-conditional: --labels and --guidance-scale do not apply")
    if x is not None:
        steps, what = args.t_start + 1, f"denoising {n} examples from t = {args.t_start}"
    elif args.ddim_steps is not None:
        steps, what = args.ddim_steps, f"sampling {n} with DDIM"
    else:
        steps, what = int(info["timesteps"]), f"sampling {n} with DDPM"
    if not args.quiet:
        # One step on the same batch, timed (after a first call that warms the graph up), gives
        # the time the whole loop will take.
        def one_step():
            start = time.perf_counter()
            sampler.denoise_from(x=tf.zeros((n,) + data_shape), t_start=tf.constant(0, tf.int32), seed=seed, **extra)
            return time.perf_counter() - start

        one_step()
        step = one_step()
        print(f"{what}, {steps} steps: about {_duration(step * steps)} (one step took {step:.2f} s)", flush=True)
    start = time.perf_counter()
    if x is not None:
        x_t = sampler.diffuse(x0=tf.constant(x), t=tf.constant(args.t_start, tf.int32), seed=seed)["samples"]
        out = sampler.denoise_from(x=x_t, t_start=tf.constant(args.t_start, tf.int32), seed=seed, **extra)
    elif args.ddim_steps is not None:
        eta = 0.0 if args.eta is None else args.eta
        out = sampler.sample_ddim(num_samples=tf.constant(n, tf.int32),
                                  num_steps=tf.constant(args.ddim_steps, tf.int32),
                                  eta=tf.constant(eta, tf.float32), seed=seed, **extra)
    else:
        out = sampler.sample(num_samples=tf.constant(n, tf.int32), seed=seed, **extra)
    samples = out["samples"].numpy()
    if not args.quiet:
        print(f"{what}: done in {_duration(time.perf_counter() - start)}", flush=True)
    labels = extra["labels"].numpy() if extra else None
    return samples, labels


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _load_npy(path, data_shape):
    import numpy as np

    if not os.path.isfile(path):
        raise UserError(f"--from file not found: {path}")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":  # np.load would take it for pickled data and say so
        raise UserError(f"--from {path} is not a .npy array (save one with numpy.save)")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UserError(f"--from {path}: not a readable .npy array ({_short(err)})") from None
    if x.ndim != 1 + len(data_shape) or tuple(x.shape[1:]) != data_shape or len(x) == 0:
        raise UserError(f"--from {path}: expected an array of shape (n, {', '.join(map(str, data_shape))}), "
                        f"got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise UserError(f"--from {path}: values must be finite")
    return x.astype(np.float32)


def graph_error_message(err) -> str:
    """The message of a failed in-graph check, e.g. 'num_steps must be in 1..1000 (got num_steps = 0)'."""
    text = str(getattr(err, "message", err))
    match = re.search(r"assertion failed: \[(.*)", text, re.S)
    if not match:
        return _short(err)
    parts = match.group(1).split("] [")
    message = parts[0]
    for i, part in enumerate(parts[:-1]):
        name = re.match(r"x \((\w+):0\) = $", part.strip() + " ")
        if name and i + 1 < len(parts):
            value = parts[i + 1].split("]")[0]
            return f"{message} (got {name.group(1)} = {value})"
    return message


# -- output ----------------------------------------------------------------------------------------
def draw_picture(samples, labels, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if samples.ndim == 4 and samples.shape[-1] in (1, 3):  # images, pixels in [-1, 1]
        images = np.clip((samples[:MAX_GRID] + 1.0) / 2.0, 0.0, 1.0)
        cols = math.ceil(math.sqrt(len(images)))
        rows = math.ceil(len(images) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.4), squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k < len(images):
                ax.imshow(images[k].squeeze(-1) if images.shape[-1] == 1 else images[k],
                          cmap="gray" if images.shape[-1] == 1 else None, interpolation="nearest")
        if len(samples) > MAX_GRID:
            title += f" (first {MAX_GRID})"
    elif samples.ndim == 2 and samples.shape[1] >= 2:  # points: the first two coordinates
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        colour = labels if labels is not None else "k"
        ax.scatter(samples[:, 0], samples[:, 1], s=1.0, alpha=0.5, linewidths=0, c=colour,
                   cmap="tab10" if labels is not None else None, rasterized=True)
        ax.set_aspect("equal")
        if samples.shape[1] > 2:
            title += " (first two coordinates)"
    elif samples.ndim == 2:  # 1D data
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.hist(samples[:, 0], bins=100)
    else:
        return None
    fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:  # a killed run never leaves a truncated picture
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def main(argv=None, prog: str = PROG):
    args = parse_args(argv, prog)
    import numpy as np
    import tensorflow as tf

    sampler, info = load_sampler(args.path)
    check_against_model(args, info)
    start = time.time()
    try:
        samples, labels = draw(sampler, info, args)
    except tf.errors.InvalidArgumentError as err:
        raise UserError(graph_error_message(err)) from None
    seconds = time.time() - start
    save_npy(args.out, samples.astype(np.float32))
    method = (f"DDIM, {args.ddim_steps} steps, eta {args.eta or 0.0:g}" if args.ddim_steps is not None
              else f"partial diffusion from t = {args.t_start}" if args.from_file is not None
              else f"DDPM, {int(info['timesteps'])} steps")
    print(f"{len(samples)} samples ({method}, seed {args.seed}) in {seconds:.1f} s -> {args.out}")
    picture = args.picture or os.path.splitext(args.out)[0] + ".png"
    if picture.lower() != "none":
        if draw_picture(samples, labels, picture, f"{os.path.basename(os.path.normpath(args.path))}: {method}"):
            print(f"picture -> {picture}")
    return 0


def _short(err) -> str:
    return " ".join(str(err).split())[:300]


def run_cli(argv=None, prog: str = PROG):
    """`main` with bad input as one line on stderr and exit code 2."""
    from keras_ddpm.utils.cli import run_cli as run

    return run(lambda args: main(args, prog), argv, prog=prog)
