"""Evaluate a trained sprite DDPM: DDPM against DDIM, timed and scored in one run.

    python -m keras_ddpm.apps.sprites.evaluation --model outputs/sprites_cpu/model.keras \\
        --data-dir ../shared/data/sprites --out outputs/sprites_cpu/eval

Protocol (so numbers are comparable between runs):

- The real images are split into two seeded random halves A and B. The floor is FID/KID(A, B).
- Every sampler draws ``n = |A|`` samples (with ``num_samples`` smaller, A is cut to n images
  too) from the same x_T (one seed) and is scored against B, so its numbers sit next to the
  floor at the same sample sizes. Samplers: DDPM with either variance (beta_t, beta-tilde_t) and
  DDIM at each step count for each eta.
- Each sampler runs in each mode: ``conditional``, with the labels of half A (the real label
  distribution, no guidance), and ``unconditional``, with the "no class" label (a
  class-conditional network sees that label only on the ``class_dropout`` share of its batches).
- Features come from the sprite classifier (trained once on the labels, saved, reused) or from
  InceptionV3 given a local weights file.
- Timing: each sampler's reverse process is one compiled graph; it is compiled first (one
  step, the same graph), then the timed call covers sampling the n images only (wall time).
- Class fidelity: guided samples of each class (DDPM, guidance scale w); the share the sprite
  classifier assigns to the class asked for, next to its accuracy on held-out real sprites.
- Memorisation (`keras_ddpm.evaluation.memorization`): for each sample the distance to its
  nearest training sprite, and the share of near-copies, next to the same for real sprites.
- DDIM with eta = 1 and all T steps is DDPM with the posterior variance (Song et al. 2021,
  section 4.1): both are run from the same x_T and seed without x0 clipping, and the largest
  difference between their samples is reported.

Writes ``results.json``, ``results.md`` (all tables), ``timing.csv``, ``metrics.csv``, a grid per
sampler and mode, and ``per_class.png`` into the output folder.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ddpm.utils.cli import ArgumentParser, non_negative_int, positive_int, run_cli  # noqa: E402

GRID_SAMPLES = 50
MODES = ("conditional", "unconditional")
VARIANCES = ("beta", "posterior")


def parse_steps(text: str, timesteps: int) -> list[int]:
    """``"10,25,T"`` -> ``[10, 25, T]``, each in 1..T (``T`` stands for all timesteps)."""
    try:
        steps = [timesteps if s.strip().upper() == "T" else int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"DDIM steps must be comma-separated integers (or T), got {text!r}") from None
    bad = [s for s in steps if not 1 <= s <= timesteps]
    if not steps or bad:
        raise ValueError(f"DDIM steps must be integers in 1..{timesteps} (T), got {text!r}")
    return sorted(set(steps))


def parse_etas(text: str) -> list[float]:
    """``"0,1"`` -> ``[0.0, 1.0]``, each in [0, 1]."""
    try:
        etas = [float(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"DDIM etas must be comma-separated numbers in [0, 1], got {text!r}") from None
    if not etas or any(not 0.0 <= e <= 1.0 for e in etas):
        raise ValueError(f"DDIM etas must be numbers in [0, 1], got {text!r}")
    return sorted(set(etas))


def parse_modes(text: str) -> list[str]:
    """``"conditional,unconditional"`` -> the modes, in that order."""
    modes = [s.strip() for s in str(text).split(",") if s.strip()]
    if not modes or any(m not in MODES for m in modes):
        raise ValueError(f"modes must be a comma-separated subset of {', '.join(MODES)}, got {text!r}")
    return [m for m in MODES if m in modes]


def default_classifier_path(builder) -> str:
    """``saved_models/sprite_classifier_<TFDS config>.keras``: one classifier per data set."""
    return os.path.join("saved_models", f"sprite_classifier_{builder.builder_config.name}.keras")


def sampler_rows(schedule, ddim_steps, etas=(0.0,), variances=("beta",), jit_compile: bool = True,
                 prediction: str = "epsilon"):
    """``[(name, steps, sampler)]``: DDPM with each variance, then DDIM at each eta and step count, all
    clipping the predicted x0 to the images' range [-1, 1]."""
    from keras_ddpm.samplers import DDIMSampler, DDPMSampler

    T = schedule.timesteps
    common = dict(clip_x0=(-1.0, 1.0), jit_compile=jit_compile, prediction=prediction)
    rows = [(f"DDPM ({v})", T, DDPMSampler(schedule, variance=v, **common)) for v in variances]
    for eta in etas:
        for steps in ddim_steps:
            rows.append((f"DDIM-{steps} eta {eta:g}", steps, DDIMSampler(schedule, num_steps=steps, eta=eta, **common)))
    return rows


def timed_sample(sampler, network, x_T, seed: int, labels=None, guidance_scale: float = 1.0):
    """``(samples, seconds, warm_up_seconds)``: the compiled loop is first run for its last step only
    (which compiles it), then timed over the whole sequence from ``x_T``."""
    steps = len(sampler.timestep_sequence)
    start = time.perf_counter()
    sampler.run(network, x_T, seed=seed, start=steps - 1, labels=labels, guidance_scale=guidance_scale)
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    samples, _ = sampler.run(network, x_T, seed=seed, labels=labels, guidance_scale=guidance_scale)
    return samples, time.perf_counter() - start, warm_up


def ddim_equals_ddpm(network, schedule, shape, seed: int = 0, labels=None, prediction: str = "epsilon") -> dict:
    """DDIM (eta = 1, all T steps, no x0 clipping) against DDPM (posterior variance) from one x_T and seed.

    Returns ``{"max_abs_difference", "samples"}``: the largest difference of any pixel of any sample.
    """
    import numpy as np

    from keras_ddpm.samplers import DDIMSampler, DDPMSampler
    from keras_ddpm.samplers.base import initial_noise

    x_T = initial_noise(shape, seed)
    T = schedule.timesteps
    ddpm, _ = DDPMSampler(schedule, variance="posterior", prediction=prediction).run(network, x_T, seed=seed,
                                                                                     labels=labels)
    ddim, _ = DDIMSampler(schedule, num_steps=T, eta=1.0, prediction=prediction).run(network, x_T, seed=seed,
                                                                                     labels=labels)
    return {"max_abs_difference": float(np.max(np.abs(ddpm - ddim))), "samples": int(shape[0])}


def feature_extractor(images, labels, num_classes, classifier_path=None, inception_weights=None, seed=0,
                      verbose=0):
    """``(extractor, note, classifier)``: InceptionV3 features when weights are given, else the
    sprite classifier's; the classifier (for class fidelity) is loaded or trained in both cases
    when a path is given."""
    from keras_ddpm.apps.sprites.data import to_model_range
    from keras_ddpm.evaluation.features import (
        ClassifierFeatures,
        InceptionFeatures,
        load_or_train_classifier,
    )

    classifier, note = None, ""
    if classifier_path:
        classifier, note = load_or_train_classifier(classifier_path, to_model_range(images), labels, num_classes,
                                                    seed=seed, verbose=verbose)
    if inception_weights:
        return InceptionFeatures(inception_weights), f"InceptionV3 features from {inception_weights}", classifier
    if classifier is None:
        raise ValueError("give a sprite classifier path (it is trained there if missing) or InceptionV3 weights")
    return ClassifierFeatures(classifier), note, classifier


class _Progress:
    """One line per finished unit of work with the time left, estimated from the network calls done."""

    def __init__(self, total_calls: float, units: int, verbose):
        self.total, self.units, self.verbose = float(total_calls), units, verbose
        self.done_calls, self.done_units, self.seconds = 0.0, 0, 0.0

    def update(self, calls: float, seconds: float, text: str):
        self.done_calls += calls
        self.done_units += 1
        self.seconds += seconds
        left = self.seconds / max(self.done_calls, 1e-9) * (self.total - self.done_calls)
        if self.verbose:
            print(f"[{self.done_units}/{self.units}] {text}; about {left / 60:.1f} min of sampling left", flush=True)


def evaluate(network, schedule, images, labels, out_dir, ddim_steps=(10, 25, 50, 100), num_samples=None,
             seed: int = 0, jit_compile: bool = True, classifier_path=None, inception_weights=None,
             verbose=1, kid_subsets: int = 100, etas=(0.0, 1.0), variances=VARIANCES, modes=MODES,
             guidance_scale: float = 2.0, per_class: int = 30, train_index=None, check_samples: int = 16,
             class_names=None, prediction: str = "epsilon"):
    """Time every sampler in every mode on the same number of samples and score each (module doc).

    Args:
        network: the trained eps_theta (a `UNet`).
        schedule: its `NoiseSchedule`.
        images, labels: the real sprites (uint8) and integer class ids.
        out_dir: where the tables and grids go.
        ddim_steps, etas, variances, modes: the sampler rows (DDPM per variance, DDIM per eta and
            step count) and the modes each is run in (unconditional only for an unconditional network).
        num_samples: samples per sampler (default: half the data, the size of the floor's halves).
        guidance_scale, per_class: the guided samples per class of the class-fidelity check (0 skips it).
        train_index: indices of the images the network was trained on (default: all); the others are
            the held-out baseline of the memorisation check.
        check_samples: samples of the DDIM(eta = 1, T steps) = DDPM check (0 skips it).
        class_names: the row labels of ``per_class.png``.
        prediction: what the network predicts, ``"epsilon"`` or ``"v"`` (the model's ``prediction``).

    Returns:
        the dict written to ``results.json``: ``floor``, ``rows`` (sampler, mode, steps, seconds,
        speedup, fid, kid, kid_std, class agreement, near-copy share), ``fidelity``,
        ``memorization``, ``ddim_equals_ddpm``.
    """
    import numpy as np

    from keras_ddpm.apps.sprites.data import to_model_range
    from keras_ddpm.apps.sprites.figures import class_rows, image_grid
    from keras_ddpm.evaluation.features import classifier_accuracy
    from keras_ddpm.evaluation.images import fid, kid, split_halves
    from keras_ddpm.evaluation.memorization import (
        NEAR_COPY_THRESHOLD,
        copy_statistics,
        nearest_distances,
        real_distances,
    )
    from keras_ddpm.samplers import DDPMSampler
    from keras_ddpm.samplers.base import initial_noise
    from keras_ddpm.utils.io import write_csv, write_text

    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64)
    conditional = bool(getattr(network, "num_classes", None))
    num_classes = int(network.num_classes if conditional else labels.max() + 1)
    modes = [m for m in modes if conditional or m == "unconditional"] or ["unconditional"]
    half_a, half_b = split_halves(len(images), seed)
    n = int(num_samples or len(half_a))
    if n < len(half_a):  # the floor at the samplers' sample size
        half_a = half_a[:n]
    n = len(half_a)
    extractor, note, classifier = feature_extractor(images, labels, num_classes, classifier_path, inception_weights,
                                                    seed=seed, verbose=0)
    print(note)
    real = to_model_range(images)
    train_index = np.arange(len(images)) if train_index is None else np.asarray(train_index)
    held_out = np.setdiff1d(np.arange(len(images)), train_index)
    training = real[train_index]
    baseline = real[held_out] if len(held_out) else None
    feats_a, feats_b = extractor(real[half_a]), extractor(real[half_b])
    kid_size = max(2, min(1000, len(half_a) // 2, n // 2))

    def distances(feats):
        k, k_std = kid(feats, feats_b, num_subsets=kid_subsets, subset_size=kid_size, seed=seed)
        return {"fid": fid(feats, feats_b), "kid": k, "kid_std": k_std}

    def score(samples, requested=None):
        row = distances(extractor(samples))
        if classifier is not None and requested is not None:
            row["class_agreement"] = float(np.mean(classifier.predict(samples, verbose=0).argmax(-1) == requested))
        memo = copy_statistics(nearest_distances(samples, training)[0])
        row["near_copy_share"], row["nearest_median"] = memo["near_copy_share"], memo["median"]
        return row

    # The floor row: real sprites, with the classifier's held-out accuracy and the real sprites'
    # own distances to the training set (held-out or leave-one-out) as their class and copy numbers.
    d_real, kind = real_distances(training, baseline)  # once: it does not depend on the sampler
    memo_real = {"threshold": NEAR_COPY_THRESHOLD, "baseline": kind, "real": copy_statistics(d_real)}
    floor = distances(feats_a)
    floor["near_copy_share"], floor["nearest_median"] = memo_real["real"]["near_copy_share"], memo_real["real"]["median"]
    if classifier is not None:
        floor["class_agreement"] = classifier_accuracy(classifier, real, labels, seed=seed)
    print(f"real vs real (halves of {len(half_a)} and {len(half_b)}): FID {floor['fid']:.3f}, "
          f"KID {floor['kid']:.4g} +- {floor['kid_std']:.2g} ({extractor.name} features)")

    os.makedirs(out_dir, exist_ok=True)
    shape = (n,) + tuple(images.shape[1:])
    x_T = initial_noise(shape, seed)
    samplers = sampler_rows(schedule, ddim_steps, etas, variances, jit_compile, prediction)
    fidelity_calls = 2 * schedule.timesteps * per_class * num_classes / n if conditional and per_class else 0
    progress = _Progress(len(modes) * sum(s for _, s, _ in samplers) + fidelity_calls,
                         len(modes) * len(samplers) + (1 if fidelity_calls else 0), verbose)
    rows = []
    for mode in modes:
        requested = labels[half_a] if mode == "conditional" else None
        for name, steps, sampler in samplers:
            samples, seconds, warm_up = timed_sample(sampler, network, x_T, seed, labels=requested)
            samples = np.clip(samples, -1.0, 1.0)
            row = dict(sampler=name, mode=mode, steps=steps, samples=n, seconds=seconds, warm_up_seconds=warm_up)
            row.update(score(samples, requested))
            rows.append(row)
            slug = f"{name.lower().replace(' ', '_').replace('(', '').replace(')', '')}_{mode}"
            image_grid(samples[:GRID_SAMPLES], os.path.join(out_dir, f"samples_{slug}.png"), cols=10,
                       title=f"{name}, {mode}: FID {row['fid']:.2f}")
            progress.update(steps, seconds, f"{name}, {mode}: {seconds:.1f} s for {n} samples "
                            f"(compiling {warm_up:.1f} s); FID {row['fid']:.2f} ({row['fid'] / floor['fid']:.1f}x floor)")
    for row in rows:
        first = next(r for r in rows if r["mode"] == row["mode"])  # DDPM of the same mode
        row["speedup"] = first["seconds"] / row["seconds"]
        row["fid_over_floor"] = row["fid"] / floor["fid"]

    fidelity = None
    if fidelity_calls:
        ids = np.repeat(np.arange(num_classes), per_class)
        ddpm = DDPMSampler(schedule, clip_x0=(-1.0, 1.0), jit_compile=jit_compile, prediction=prediction)
        start = time.perf_counter()
        guided = np.clip(ddpm.sample(network, (len(ids),) + tuple(images.shape[1:]), seed=seed, labels=ids,
                                     guidance_scale=guidance_scale), -1.0, 1.0)
        seconds = time.perf_counter() - start
        predicted = classifier.predict(guided, verbose=0).argmax(-1)
        per_class_share = [float(np.mean(predicted[ids == k] == k)) for k in range(num_classes)]
        fidelity = {"guidance_scale": float(guidance_scale), "per_class": per_class,
                    "agreement": float(np.mean(predicted == ids)), "agreement_per_class": per_class_share,
                    "classifier_accuracy_real": floor["class_agreement"], "seconds": seconds}
        names = list(class_names) if class_names else [f"class {k}" for k in range(num_classes)]
        class_rows([(names[k], guided[ids == k][:12]) for k in range(num_classes)],
                   os.path.join(out_dir, "per_class.png"),
                   title=f"DDPM, guidance scale {guidance_scale:g}, one row per class")
        progress.update(fidelity_calls, seconds, f"guided per-class samples: classifier agreement "
                        f"{fidelity['agreement']:.3f} (real held-out accuracy {fidelity['classifier_accuracy_real']:.3f})")

    equality = None
    if check_samples:
        check_labels = labels[half_a][:check_samples] if conditional else None
        equality = ddim_equals_ddpm(network, schedule, (min(check_samples, n),) + tuple(images.shape[1:]), seed,
                                    labels=check_labels, prediction=prediction)
        if verbose:
            print(f"DDIM (eta 1, {schedule.timesteps} steps) against DDPM (posterior variance), same x_T and seed: "
                  f"largest pixel difference {equality['max_abs_difference']:.2e}")

    result = {"features": extractor.name, "feature_note": note, "samples": n, "seed": seed,
              "jit_compile": bool(jit_compile), "real_halves": [len(half_a), len(half_b)],
              "timesteps": schedule.timesteps, "schedule": schedule.kind,
              "floor": floor, "rows": rows, "fidelity": fidelity,
              "memorization": memo_real,
              "ddim_equals_ddpm": equality, "load": _loadavg()}
    write_text(os.path.join(out_dir, "results.json"), json.dumps(result, indent=2) + "\n")
    write_csv(os.path.join(out_dir, "timing.csv"), rows,
              ("sampler", "mode", "steps", "samples", "seconds", "speedup", "warm_up_seconds"))
    write_csv(os.path.join(out_dir, "metrics.csv"),
              [{"sampler": "real vs real (floor)", "mode": "", "steps": "", **floor}] + rows,
              ("sampler", "mode", "steps", "fid", "kid", "kid_std", "class_agreement", "near_copy_share"))
    table = markdown_tables(result)
    write_text(os.path.join(out_dir, "results.md"), table)
    print(table)
    return result


def markdown_tables(result) -> str:
    """The timing and quality table (with the floor), class fidelity, memorisation and the
    DDIM = DDPM check, as Markdown."""
    n = result["samples"]
    f = result["floor"]
    a, b = result["real_halves"]
    lines = [f"{n} samples per sampler from one x_T, each sampler one compiled graph (XLA: {result['jit_compile']}), "
             f"load average {result['load']}. FID and KID against real half B ({b} sprites), "
             f"{result['features']} features; the floor is real half A ({a}) against B. "
             "Class agreement: the share of samples the sprite classifier assigns to the label they were drawn "
             "with; near-copies: samples closer than "
             f"{result['memorization']['threshold']:g} (RMS, pixels in [-1, 1]) to a training sprite.", "",
             "| sampler | mode | network calls | seconds | speed-up over DDPM | FID | FID / floor | KID | "
             "class agreement | near-copies |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
             f"| real half A (floor) | | | | | {f['fid']:.2f} | 1.0 | {f['kid']:.3g} +- {f['kid_std']:.2g} | "
             f"{_share(f.get('class_agreement'))} | {_share(f['near_copy_share'])} |"]
    for r in result["rows"]:
        lines.append(f"| {r['sampler']} | {r['mode']} | {r['steps']} | {r['seconds']:.1f} | {r['speedup']:.1f}x | "
                     f"{r['fid']:.2f} | {r['fid_over_floor']:.2f} | {r['kid']:.3g} +- {r['kid_std']:.2g} | "
                     f"{_share(r.get('class_agreement'))} | {_share(r['near_copy_share'])} |")
    fidelity = result.get("fidelity")
    if fidelity:
        lines += ["", f"Class fidelity: {fidelity['per_class']} guided DDPM samples per class (guidance scale "
                  f"{fidelity['guidance_scale']:g}); the classifier assigns {_share(fidelity['agreement'])} of them "
                  f"to the class asked for (per class: "
                  f"{', '.join(_share(s) for s in fidelity['agreement_per_class'])}); its accuracy on held-out real "
                  f"sprites is {_share(fidelity['classifier_accuracy_real'])}, so fidelity / accuracy = "
                  f"{fidelity['agreement'] / fidelity['classifier_accuracy_real']:.2f}."]
    memo = result["memorization"]
    against = "the training sprites" if memo["baseline"] == "held-out" else "the other training sprites"
    lines += ["", f"Memorisation: real {memo['baseline']} sprites lie at a median RMS distance of "
              f"{memo['real']['median']:.3f} from their nearest training sprite (each against {against}), and "
              f"{_share(memo['real']['near_copy_share'])} of them are near-duplicates (the floor row's near-copies): "
              "samples closer to the training set than that are copies, not new sprites."]
    check = result.get("ddim_equals_ddpm")
    if check:
        lines += ["", f"DDIM with eta = 1 and all {result['timesteps']} steps against DDPM with the posterior "
                  f"variance, same x_T and seed, {check['samples']} samples: largest pixel difference "
                  f"{check['max_abs_difference']:.2e}."]
    return "\n".join(lines) + "\n"


def _share(value) -> str:
    return "" if value is None or value != value else f"{100 * value:.1f}%"


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"


def add_protocol_flags(p, prefix: str = ""):
    """The evaluation protocol's flags (``--{prefix}ddim-steps`` ...), shared with train_sprites.py."""
    p.add_argument(f"--{prefix}ddim-steps", default="10,25,50,100,T",
                   help="DDIM step counts, T for all timesteps (default: %(default)s)")
    p.add_argument(f"--{prefix}etas", default="0,1", help="DDIM etas (default: %(default)s)")
    p.add_argument(f"--{prefix}modes", default="conditional,unconditional",
                   help="conditional (real label distribution) and/or unconditional (default: %(default)s)")
    p.add_argument(f"--{prefix}per-class", type=non_negative_int, default=30,
                   help="guided samples per class for class fidelity, 0 to skip (default: %(default)s)")


def parse_args(argv=None):
    p = ArgumentParser(prog="python -m keras_ddpm.apps.sprites.evaluation",
                       description="Time DDPM against DDIM on a trained sprite model and score each by FID/KID, "
                                   "class fidelity and memorisation.")
    p.add_argument("--model", required=True, help="the trained model (.keras, a DiffusionModel)")
    p.add_argument("--data-dir", required=True, help="folder holding the images and labels .npy files")
    p.add_argument("--images", help="images file name (default: as train_sprites.py)")
    p.add_argument("--labels", help="labels file name (default: as train_sprites.py)")
    p.add_argument("--tfds-dir", help="TFDS data folder (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--out", default="outputs/sprites_eval", help="output folder (default: %(default)s)")
    add_protocol_flags(p)
    p.add_argument("--guidance-scale", type=float, default=2.0, help="w of the per-class samples (default: %(default)s)")
    p.add_argument("--num-samples", type=positive_int, help="samples per sampler (default: half the data)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default: %(default)s)")
    p.add_argument("--classifier", help="sprite classifier .keras, trained there if missing (default: "
                   "saved_models/sprite_classifier_<TFDS config>.keras)")
    p.add_argument("--inception-weights", help="InceptionV3 no-top weights file: use its features instead")
    p.add_argument("--no-jit", action="store_true", help="compile the samplers without XLA")
    args = p.parse_args(argv)
    try:
        args.etas = parse_etas(args.etas)
        args.modes = parse_modes(args.modes)
    except ValueError as error:
        p.error(str(error))
    if args.inception_weights and not os.path.isfile(args.inception_weights):
        p.error(f"--inception-weights: file not found: {args.inception_weights}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"model file not found: {args.model}")
    import tensorflow_datasets as tfds

    from keras_ddpm.apps.sprites.tfds_builder import sprites_builder
    from keras_ddpm.networks.unet import UNet
    from keras_ddpm.training.checkpoints import load_checkpoint

    model = load_checkpoint(args.model, compile=False)
    network = getattr(model, "network", None)
    if not isinstance(network, UNet):
        if hasattr(network, "data_dim"):  # the point networks (DenoisingMLP, ResidualMLP) of the bicycle
            kind = f"a bicycle/point model ({type(network).__name__} on {network.data_dim}-D points)"
        else:
            kind = f"a {type(model).__name__} of {type(network if network is not None else model).__name__}"
        raise ValueError(f"{args.model} is {kind}, not a sprite UNet: this evaluation scores sprite models "
                         "(made by train_sprites.py)")
    network, schedule = model.network, model.schedule
    builder = sprites_builder(args.data_dir, args.images, args.labels, data_dir=args.tfds_dir)
    images, labels = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, as_supervised=True))
    evaluate(network, schedule, images, labels, args.out,
             ddim_steps=parse_steps(args.ddim_steps, schedule.timesteps), num_samples=args.num_samples,
             seed=args.seed, jit_compile=not args.no_jit, etas=args.etas, modes=args.modes,
             guidance_scale=args.guidance_scale, per_class=args.per_class,
             classifier_path=args.classifier or default_classifier_path(builder),
             inception_weights=args.inception_weights, prediction=getattr(model, "prediction", "epsilon"))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, prog="python -m keras_ddpm.apps.sprites.evaluation"))
