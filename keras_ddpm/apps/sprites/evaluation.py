"""Evaluate a trained sprite DDPM: DDPM against DDIM at several step counts, timed in one run,
each scored by FID and KID against the real sprites, next to the real-vs-real floor.

    python -m keras_ddpm.apps.sprites.evaluation --model outputs/sprites_cpu/model.keras \\
        --data-dir ../shared/data/sprites --out outputs/sprites_cpu/eval

Protocol (so numbers are comparable between runs):

- The real images are split into two seeded random halves A and B. The floor is FID/KID(A, B).
- Every sampler draws ``n = |A|`` samples (with ``--num-samples n`` smaller, A is cut to n
  images too) from the same x_T (one seed), unconditionally (the "no class" label for a class-conditional network), and is scored
  against B, so its numbers sit next to the floor at the same sample sizes.
- Features come from the sprite classifier (trained once on the labels, saved, reused) or from
  InceptionV3 given a local weights file.
- Timing: each sampler's whole reverse process is one compiled graph; it is compiled (warm-up)
  first, then the timed call covers sampling the n images only (wall time, `time.perf_counter`).

Writes ``timing.csv``, ``metrics.csv``, ``results.json``, ``results.md`` (both tables) and a
50-image grid per sampler into the output folder.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ddpm.utils.cli import ArgumentParser, non_negative_int, positive_int, run_cli  # noqa: E402

GRID_SAMPLES = 50


def parse_steps(text: str, timesteps: int) -> list[int]:
    """``"10,25,50"`` -> ``[10, 25, 50]``, each in 1..T."""
    try:
        steps = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"DDIM steps must be comma-separated integers, got {text!r}") from None
    bad = [s for s in steps if not 1 <= s <= timesteps]
    if not steps or bad:
        raise ValueError(f"DDIM steps must be integers in 1..{timesteps} (T), got {text!r}")
    return sorted(set(steps))


def default_classifier_path(builder) -> str:
    """``saved_models/sprite_classifier_<TFDS config>.keras``: one classifier per data set."""
    return os.path.join("saved_models", f"sprite_classifier_{builder.builder_config.name}.keras")


def compiled_samplers(network, schedule, ddim_steps, jit_compile: bool = True, eta: float = 0.0):
    """``[(name, steps, warm_up, run)]``: each ``run(x_T, seed)`` is one compiled reverse process.

    DDPM runs through `DDPMSampler.generate_from` so that its warm-up can compile the same graph
    with a single step (``t_start = 0``); DDIM's warm-up is a full call (its step count is baked
    into the compiled graph).
    """
    import tensorflow as tf

    from keras_ddpm.samplers import DDIMSampler, DDPMSampler

    T = schedule.timesteps
    ddpm = DDPMSampler(schedule)
    ddpm_fn = tf.function(lambda x, t_start, seed: ddpm.generate_from(network, x, t_start, seed),
                          jit_compile=jit_compile)
    rows = [("DDPM", T, lambda x, seed: ddpm_fn(x, tf.constant(0), seed),
             lambda x, seed: ddpm_fn(x, tf.constant(T - 1), seed))]
    for steps in ddim_steps:
        sampler = DDIMSampler(schedule, num_steps=steps, eta=eta, clip_x0=(-1.0, 1.0))
        fn = tf.function(lambda x, seed, sampler=sampler: sampler.generate(network, x, seed),
                         jit_compile=jit_compile)
        rows.append((f"DDIM-{steps}", steps, fn, fn))
    return rows


def feature_extractor(images, labels, num_classes, classifier_path=None, inception_weights=None, seed=0,
                      verbose=0):
    """The extractor and a note: InceptionV3 when weights are given, else the sprite classifier."""
    from keras_ddpm.apps.sprites.data import to_model_range
    from keras_ddpm.evaluation.features import (
        ClassifierFeatures,
        InceptionFeatures,
        load_or_train_classifier,
    )

    if inception_weights:
        return InceptionFeatures(inception_weights), f"InceptionV3 features from {inception_weights}"
    if not classifier_path:
        raise ValueError("give a sprite classifier path (it is trained there if missing) or InceptionV3 weights")
    model, note = load_or_train_classifier(classifier_path, to_model_range(images), labels, num_classes,
                                           seed=seed, verbose=verbose)
    return ClassifierFeatures(model), note


def evaluate(network, schedule, images, labels, out_dir, ddim_steps=(10, 25, 50, 100), num_samples=None,
             seed: int = 0, jit_compile: bool = True, classifier_path=None, inception_weights=None,
             verbose=1, kid_subsets: int = 100):
    """Time every sampler on the same number of samples and score each by FID/KID (see the module doc).

    Args:
        network: the trained eps_theta (a `UNet`; class-conditional ones are sampled unconditionally).
        schedule: its `NoiseSchedule`.
        images, labels: the real sprites (uint8) and integer class ids.
        out_dir: where the tables and grids go.
        num_samples: samples per sampler (default: half the data, the size of the floor's halves).

    Returns:
        ``{"floor": {...}, "rows": [{sampler, steps, seconds, fid, kid, kid_std}, ...], ...}``.
    """
    import numpy as np
    import tensorflow as tf

    from keras_ddpm.apps.sprites.data import to_model_range
    from keras_ddpm.apps.sprites.figures import image_grid
    from keras_ddpm.evaluation.images import fid, kid, split_halves
    from keras_ddpm.samplers.base import initial_noise
    from keras_ddpm.utils.io import write_csv, write_text

    images = np.asarray(images)
    labels = np.asarray(labels)
    num_classes = int(getattr(network, "num_classes", None) or labels.max() + 1)
    half_a, half_b = split_halves(len(images), seed)
    n = int(num_samples or len(half_a))
    if n < len(half_a):  # the floor at the samplers' sample size
        half_a = half_a[:n]
    extractor, note = feature_extractor(images, labels, num_classes, classifier_path, inception_weights,
                                        seed=seed, verbose=0)
    print(note)
    real = to_model_range(images)
    feats_a, feats_b = extractor(real[half_a]), extractor(real[half_b])
    kid_size = max(2, min(1000, len(half_a) // 2, n // 2))

    def score(feats):
        k, k_std = kid(feats, feats_b, num_subsets=kid_subsets, subset_size=kid_size, seed=seed)
        return fid(feats, feats_b), k, k_std

    floor = dict(zip(("fid", "kid", "kid_std"), score(feats_a)))
    print(f"real vs real (halves of {len(half_a)} and {len(half_b)}): FID {floor['fid']:.3f}, "
          f"KID {floor['kid']:.4g} +- {floor['kid_std']:.2g} ({extractor.name} features)")

    shape = (n,) + tuple(images.shape[1:])
    x_T = initial_noise(shape, seed)
    seed_t = tf.constant(seed, tf.int64)
    rows = []
    for name, steps, warm_up, run in compiled_samplers(network, schedule, ddim_steps, jit_compile):
        start = time.perf_counter()
        warm_up(x_T, seed_t).numpy()
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        samples = run(x_T, seed_t).numpy()
        seconds = time.perf_counter() - start
        row = dict(sampler=name, steps=steps, samples=n, seconds=seconds, warm_up_seconds=compile_seconds)
        row.update(zip(("fid", "kid", "kid_std"), score(extractor(np.clip(samples, -1, 1)))))
        rows.append(row)
        image_grid(samples[:GRID_SAMPLES], os.path.join(out_dir, f"samples_{name.lower()}.png"), cols=10,
                   title=f"{name}: {seconds:.1f} s for {n} samples, FID {row['fid']:.2f}")
        if verbose:
            print(f"{name:>9}: {steps:4d} steps, {seconds:7.1f} s for {n} samples "
                  f"(warm-up {compile_seconds:.1f} s); FID {row['fid']:.3f}, KID {row['kid']:.4g}")
    ddpm_seconds = rows[0]["seconds"]
    for row in rows:
        row["speedup"] = ddpm_seconds / row["seconds"]

    result = {"features": extractor.name, "feature_note": note, "samples": n, "seed": seed,
              "jit_compile": bool(jit_compile), "real_halves": [len(half_a), len(half_b)],
              "floor": floor, "rows": rows, "load": _loadavg()}
    os.makedirs(out_dir, exist_ok=True)
    write_text(os.path.join(out_dir, "results.json"), json.dumps(result, indent=2) + "\n")
    write_csv(os.path.join(out_dir, "timing.csv"), rows,
              ("sampler", "steps", "samples", "seconds", "speedup", "warm_up_seconds"))
    write_csv(os.path.join(out_dir, "metrics.csv"), [{"sampler": "real vs real (floor)", "steps": "", **floor}] + rows,
              ("sampler", "steps", "fid", "kid", "kid_std"))
    table = markdown_tables(result)
    write_text(os.path.join(out_dir, "results.md"), table)
    print(table)
    return result


def markdown_tables(result) -> str:
    """The timing table and the FID/KID table (with the floor) as Markdown."""
    n = result["samples"]
    lines = [f"Sampling {n} sprites, one compiled graph per sampler (XLA: {result['jit_compile']}), "
             f"load average {result['load']}:", "",
             "| sampler | network calls | seconds | speed-up over DDPM |", "| --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['sampler']} | {r['steps']} | {r['seconds']:.1f} | {r['speedup']:.1f}x |")
    f = result["floor"]
    a, b = result["real_halves"]
    lines += ["", f"FID and KID against real half B ({b} sprites), {result['features']} features; "
              f"floor: real half A ({a}) vs B:", "",
              "| sampler | FID | KID (mean +- std over subsets) |", "| --- | --- | --- |",
              f"| real vs real (floor) | {f['fid']:.2f} | {f['kid']:.4g} +- {f['kid_std']:.2g} |"]
    for r in result["rows"]:
        lines.append(f"| {r['sampler']} | {r['fid']:.2f} | {r['kid']:.4g} +- {r['kid_std']:.2g} |")
    return "\n".join(lines) + "\n"


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"


def parse_args(argv=None):
    p = ArgumentParser(prog="python -m keras_ddpm.apps.sprites.evaluation",
                       description="Time DDPM against DDIM on a trained sprite model and score each by FID/KID.")
    p.add_argument("--model", required=True, help="the trained model (.keras, a DiffusionModel)")
    p.add_argument("--data-dir", required=True, help="folder holding the images and labels .npy files")
    p.add_argument("--images", help="images file name (default: as train_sprites.py)")
    p.add_argument("--labels", help="labels file name (default: as train_sprites.py)")
    p.add_argument("--tfds-dir", help="TFDS data folder (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--out", default="outputs/sprites_eval", help="output folder (default: %(default)s)")
    p.add_argument("--ddim-steps", default="10,25,50,100", help="DDIM step counts (default: %(default)s)")
    p.add_argument("--num-samples", type=positive_int, help="samples per sampler (default: half the data)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--classifier", help="sprite classifier .keras, trained there if missing (default: "
                   "saved_models/sprite_classifier_<TFDS config>.keras)")
    p.add_argument("--inception-weights", help="InceptionV3 no-top weights file: use its features instead")
    p.add_argument("--no-jit", action="store_true", help="compile the samplers without XLA")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"model file not found: {args.model}")
    import tensorflow_datasets as tfds

    from keras_ddpm.apps.sprites.tfds_builder import sprites_builder
    from keras_ddpm.networks.unet import UNet
    from keras_ddpm.training.checkpoints import load_checkpoint

    model = load_checkpoint(args.model, compile=False)
    if not isinstance(getattr(model, "network", None), UNet):
        raise ValueError(f"{args.model} holds a {type(model).__name__} of "
                         f"{type(getattr(model, 'network', model)).__name__}, not a sprite DiffusionModel")
    network, schedule = model.network, model.schedule
    builder = sprites_builder(args.data_dir, args.images, args.labels, data_dir=args.tfds_dir)
    images, labels = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, as_supervised=True))
    evaluate(network, schedule, images, labels, args.out,
             ddim_steps=parse_steps(args.ddim_steps, schedule.timesteps), num_samples=args.num_samples,
             seed=args.seed, jit_compile=not args.no_jit,
             classifier_path=args.classifier or default_classifier_path(builder),
             inception_weights=args.inception_weights)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="python -m keras_ddpm.apps.sprites.evaluation"))
