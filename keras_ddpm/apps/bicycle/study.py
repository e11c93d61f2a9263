"""The checkpoint study: is the drop in sample quality proportional to the difference in loss?

For every checkpoint a training run saved (``OUT/checkpoints/checkpoints.csv``) it records the
training loss logged at that epoch, the validation loss on held-out points (overall and per bin of
timesteps, fixed t and noise: `TimestepLossEvaluator`), and sample metrics of ``num_samples``
points drawn with a fixed seed (`keras_ddpm.evaluation.points.evaluate`, each next to its
real-vs-real floor). It writes, into ``OUT/study/``:

    study.csv               one row per checkpoint
    study.png               loss and each metric against the epoch, shared axes, floors dashed
    study_samples.png       a row of sample scatters, one per checkpoint, and the held-out data
    study_timestep_loss.png validation loss per timestep bin, one line per checkpoint
    answer.json             the measured relation and the answer (`answer`): stated only when the
                            checkpoints support one (`CRITERION`), else why the run is too short

Command line (after ``train_bicycle.py``, which saves the held-out points it needs)::

    python -m keras_ddpm.apps.bicycle.study outputs/bicycle --num-samples 10000
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time

import numpy as np

from keras_ddpm.utils import checks
from keras_ddpm.utils.io import write_csv, write_text

#: The fewest samples per checkpoint the study's metrics are computed from.
MIN_SAMPLES = 10

#: Files ``train_bicycle.py`` saves for the study: the validation split (never trained on) and as
#: many other real points (from the training split) for the real-vs-real floor.
VALIDATION_FILE = "validation.npy"
REAL_FILE = "real_reference.npy"
METRIC_LABELS = {"sliced_w1": "sliced W1", "mmd": "MMD (RBF)", "precision": "precision", "recall": "recall"}


def read_checkpoint_index(out_dir) -> list:
    """Rows of ``OUT/checkpoints/checkpoints.csv`` (epoch, file, logged metrics), by epoch."""
    path = os.path.join(os.fspath(out_dir), "checkpoints", "checkpoints.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint index at {path}: train with checkpoints first")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} lists no checkpoints")
    return sorted(rows, key=lambda r: int(r["epoch"]))


def load_split(out_dir):
    """``(validation, real)`` saved by ``train_bicycle.py`` in ``out_dir``."""
    arrays = []
    for name in (VALIDATION_FILE, REAL_FILE):
        path = os.path.join(os.fspath(out_dir), name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: the study needs the held-out points that "
                                    "train_bicycle.py saves (run it with --validation-fraction > 0)")
        arrays.append(np.load(path))
    return tuple(arrays)


def study_checkpoints(out_dir, validation, real, num_samples: int = 10000, seed: int = 0,
                      variance: str = "beta", num_bins: int = 10, progress: int = 0, log=print) -> list:
    """Evaluate every checkpoint of the run in ``out_dir``; returns one dict per checkpoint.

    Samples of every checkpoint start from the same noise (``seed``), so differences between
    checkpoints come from the weights alone. ``log`` gets one line per checkpoint, with the time
    so far and an estimate of the time left; ``progress`` is the sampler's own progress bar.
    """
    from keras_ddpm.evaluation.points import evaluate
    from keras_ddpm.samplers import DDPMSampler
    from keras_ddpm.training.callbacks import TimestepLossEvaluator
    from keras_ddpm.training.checkpoints import check_checkpoint, load_checkpoint

    checks.integer_at_least("num_samples", num_samples, MIN_SAMPLES)
    out_dir = os.fspath(out_dir)
    evaluator = None
    rows = []
    entries = read_checkpoint_index(out_dir)
    start = time.monotonic()
    for done, entry in enumerate(entries, 1):
        path = os.path.join(out_dir, "checkpoints", entry["file"])
        if not os.path.exists(path):
            raise FileNotFoundError(f"checkpoint listed in checkpoints.csv is missing: {path}")
        try:
            check_checkpoint(path)
        except ValueError as err:  # e.g. truncated by a kill: the other checkpoints still answer
            print(f"study: skipping a damaged checkpoint: {err}", file=sys.stderr)
            continue
        if evaluator is None:
            # One model for all checkpoints (same architecture): each checkpoint's weights are loaded
            # into it, so the compiled sampler and loss are traced and compiled once.
            model = load_checkpoint(path, compile=False)
            schedule = model.schedule
            evaluator = TimestepLossEvaluator(validation, schedule.timesteps, num_bins, seed=seed)
            sampler = DDPMSampler(schedule, variance=variance, jit_compile=True)
        else:
            model.load_weights(path)
        samples = sampler.sample(model.network, (int(num_samples),) + tuple(validation.shape[1:]), seed=seed,
                                 progress=progress)
        row = {"epoch": int(entry["epoch"]), "file": entry["file"],
               "loss": float(entry["loss"]) if entry.get("loss") not in (None, "") else float("nan")}
        row.update(evaluator(model))
        # Every checkpoint has the same number of samples, so the real-vs-real floor is computed once.
        row.update(evaluate(samples, validation, real, seed=seed, floor=rows[0] if rows else None))
        row["samples"] = samples
        rows.append(row)
        if log:
            elapsed = time.monotonic() - start
            log(f"study: checkpoint {done}/{len(entries)}, epoch {row['epoch']}: loss {row['loss']:.4f}, "
                f"val_loss {row['val_loss']:.4f}, sliced W1 {row['sliced_w1']:.4f} (floor {row['sliced_w1_floor']:.4f}), "
                f"precision {row['precision']:.3f}, recall {row['recall']:.3f} "
                f"[{elapsed:.0f} s, ETA {elapsed / done * (len(entries) - done):.0f} s]")
    if not rows:
        raise ValueError(f"no sound checkpoint in {os.path.join(out_dir, 'checkpoints')} to study")
    return rows


def _spearman(x, y) -> tuple[float, float]:
    """Spearman's rank correlation and its two-sided p-value: exact (all permutations) for up to 8
    checkpoints, where the t approximation scipy uses is far off (it gives ~1e-24 for a perfect
    correlation of 5 points, whose exact p-value is 2/120), scipy's otherwise."""
    import itertools

    from scipy.stats import rankdata, spearmanr

    test = spearmanr(x, y)
    rho = float(test.statistic)
    n = len(x)
    if n > 8:
        return rho, float(test.pvalue)
    rx, ry = rankdata(x), rankdata(y)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())
    ry = ry - ry.mean()
    ry = ry / np.linalg.norm(ry)
    perms = np.array(list(itertools.permutations(range(n))))
    rhos = ry[perms] @ rx
    return rho, float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))


def _relative(a, b):
    return (b - a) / a if a else float("nan")


#: When the study states an answer: at least this many checkpoints (with fewer, no rank
#: correlation reaches p < 0.05: for 4 checkpoints the smallest two-sided p is 0.083) ...
MIN_CHECKPOINTS = 5
#: ... and a rank correlation between validation loss and sample quality significant at this level.
MAX_P_VALUE = 0.05
#: "Proportional": the elasticity of the quality gap to the loss (the slope of log sliced-W1 excess
#: against log validation loss, 1 for exact proportionality) within these bounds.
PROPORTIONAL_ELASTICITY = (0.5, 2.0)
CRITERION = (f"The study answers only with at least {MIN_CHECKPOINTS} checkpoints and a Spearman rank "
             f"correlation between the validation loss and the sliced-W1 excess significant at p < {MAX_P_VALUE}; "
             "'proportional' then means that the elasticity of that excess to the validation loss (the slope of "
             "log excess against log loss, least squares) lies between "
             f"{PROPORTIONAL_ELASTICITY[0]:g} and {PROPORTIONAL_ELASTICITY[1]:g}.")


def _elasticity(loss, excess) -> float:
    """Least-squares slope of ``log excess`` against ``log loss``: the relative change of the
    excess per relative change of the loss (1 when they are proportional)."""
    x, y = np.log(np.asarray(loss, float)), np.log(np.asarray(excess, float))
    return float(np.polyfit(x, y, 1)[0]) if np.ptp(x) > 0 else float("nan")


def answer(rows) -> dict:
    """The numbers that answer the assignment's question, and the answer in words when they support one.

    Compares each metric's *excess over its floor* (what the model still gets wrong) with the
    validation loss across checkpoints: the rank correlation (Spearman, with its p-value) over all
    checkpoints, the elasticity of the sliced-W1 excess to the loss, and the relative changes from
    the first checkpoint to the last. The verdict follows `CRITERION`; when the run is too short for
    it (too few checkpoints, no significant relation, or samples at their floor) the text says so and
    why, instead of an answer.
    """
    first, last = rows[0], rows[-1]
    excess = {
        "sliced_w1": [r["sliced_w1"] - r["sliced_w1_floor"] for r in rows],
        "mmd": [r["mmd"] - r["mmd_floor"] for r in rows],
        "precision": [r["precision_floor"] - r["precision"] for r in rows],
        "recall": [r["recall_floor"] - r["recall"] for r in rows],
    }
    val = [r["val_loss"] for r in rows]
    result = {"val_loss_change": _relative(first["val_loss"], last["val_loss"]), "correlation": {}, "p_value": {},
              "excess_change": {}, "criterion": CRITERION}
    for name, values in excess.items():
        rho = p = float("nan")
        if len(rows) > 2 and np.ptp(val) > 0 and np.ptp(values) > 0:
            rho, p = _spearman(val, values)
        result["correlation"][name] = rho
        result["p_value"][name] = p
        result["excess_change"][name] = _relative(values[0], values[-1])
    bins = [k for k in first if k.startswith("val_loss_t")]
    bin_change = {k: _relative(first[k], last[k]) for k in bins}
    result["bin_change"] = bin_change
    w1 = excess["sliced_w1"]
    positive = all(v > 0 for v in w1)
    result["elasticity"] = _elasticity(val, w1) if positive else float("nan")
    rho, p = result["correlation"]["sliced_w1"], result["p_value"]["sliced_w1"]
    loss_pct = 100 * result["val_loss_change"]
    w1_pct = 100 * result["excess_change"]["sliced_w1"]
    numbers = (
        f"From epoch {first['epoch']} to epoch {last['epoch']} ({len(rows)} checkpoints) the validation loss changed by "
        f"{loss_pct:+.1f}% ({first['val_loss']:.4f} -> {last['val_loss']:.4f}), while the sliced W1 "
        f"beyond its floor changed by {w1_pct:+.0f}% ({w1[0]:.4f} -> {w1[-1]:.4f}), "
        f"precision went from {first['precision']:.3f} to {last['precision']:.3f} and recall from "
        f"{first['recall']:.3f} to {last['recall']:.3f} (floors {last['precision_floor']:.3f} and "
        f"{last['recall_floor']:.3f})."
    )
    relation = f"Spearman rank correlation between validation loss and sliced-W1 excess is {rho:+.2f} (p = {p:.3g})"
    why = None
    if len(rows) < MIN_CHECKPOINTS:
        why = f"it has {len(rows)} checkpoint{'s' * (len(rows) != 1)}, and a rank correlation needs {MIN_CHECKPOINTS}"
    elif not positive:
        why = "the sliced W1 of some checkpoints is at or below its real-vs-real floor, so its excess cannot be compared"
    elif not (np.isfinite(p) and p < MAX_P_VALUE):
        measured = f"the {relation}" if np.isfinite(rho) else "the loss or the metric did not change"
        why = (f"over its {len(rows)} checkpoints the loss and the sample quality show no significant relation "
               f"({measured})")
    counter = _counter_example(rows)
    if counter:
        result["counter_example"] = counter[0]
        counter = counter[1]
    result["answered"] = why is None
    if why is not None:
        result["proportional"] = None
        result["text"] = " ".join(filter(None, [
            numbers, counter, f"This run is too short to answer the question: {why}. Train longer and keep more "
            f"checkpoints (--epochs, --checkpoint-every) to answer it. Criterion: {CRITERION}"]))
        return result

    elasticity = result["elasticity"]
    low, high = PROPORTIONAL_ELASTICITY
    result["proportional"] = bool(low <= elasticity <= high)
    lines = [numbers, f"The {relation}, and the elasticity of the excess to the loss is {elasticity:.1f} (1 would be "
                      "proportional)."]
    if elasticity > high:
        lines.append(f"So the quality of the samples is **not** proportional to the loss: over these checkpoints a 1% "
                     f"change in the loss went with a change of about {elasticity:.0f}% in the sample quality gap.")
    elif elasticity < low:
        lines.append("So the quality of the samples is **not** proportional to the loss: it moved much less than "
                     "the loss did.")
    else:
        lines.append("So over these checkpoints the quality of the samples changed about in proportion to the loss.")
    if bins and elasticity > high:
        small, large = bins[0], bins[-1]
        lines.append(
            f"Why: the loss is an average over t of a noise-prediction error that is mostly irreducible "
            f"(even the exact E[eps | x_t] leaves a large error wherever x_t does not determine eps), so its "
            f"floor is high and differences between good models are small in it. The fine detail of the picture "
            f"is decided at small t: the bin {small[len('val_loss_'):]} changed by {100 * bin_change[small]:+.1f}% "
            f"(to {last[small]:.4f}) and the bin {large[len('val_loss_'):]} by {100 * bin_change[large]:+.1f}% "
            f"(to {last[large]:.4f}). Errors of eps_theta enter every one of the T reverse steps of "
            "Algorithm 2 and compound, so a small gain in the loss at the right timesteps moves the samples a lot.")
    if counter:
        lines.append(counter)
    lines.append(f"Criterion: {CRITERION}")
    result["text"] = " ".join(lines)
    return result


def _counter_example(rows):
    """The clearest counter-example to "a lower loss means better samples": ``([epoch a, epoch b], text)``
    for the later checkpoint b with a lower validation loss but the largest worsening of sliced W1,
    or None."""
    worst = None
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if b["val_loss"] < a["val_loss"] and b["sliced_w1"] > a["sliced_w1"]:
                if worst is None or b["sliced_w1"] / a["sliced_w1"] > worst[1]["sliced_w1"] / worst[0]["sliced_w1"]:
                    worst = (a, b)
    if worst is None:
        return None
    a, b = worst
    return [a["epoch"], b["epoch"]], (
        f"The loss does not order the checkpoints perfectly: epoch {b['epoch']} has a lower validation loss than "
        f"epoch {a['epoch']} ({b['val_loss']:.4f} vs {a['val_loss']:.4f}) but a worse sliced W1 "
        f"({b['sliced_w1']:.4f} vs {a['sliced_w1']:.4f}).")


def write_study(out_dir, rows) -> dict:
    """Write ``study.csv`` and the figures into ``OUT/study/``; returns ``{"answer": ..., "files": [...]}``."""
    from keras_ddpm.utils import plots

    folder = os.path.join(os.fspath(out_dir), "study")
    os.makedirs(folder, exist_ok=True)
    write_csv(os.path.join(folder, "study.csv"), rows, [k for k in rows[0] if k != "samples"])

    epochs = np.array([r["epoch"] for r in rows])
    series = {"loss": {"train": [r["loss"] for r in rows], "validation": [r["val_loss"] for r in rows]}}
    for name, label in METRIC_LABELS.items():
        series[label] = {"samples": [r[name] for r in rows], "floor": float(np.mean([r[f"{name}_floor"] for r in rows]))}
    plots.metric_curves(epochs, series, os.path.join(folder, "study.png"),
                        suptitle="Checkpoints: loss and sample metrics against the epoch")
    scatters = [(f"epoch {r['epoch']}\nW1 {r['sliced_w1']:.4f}", r["samples"]) for r in rows]
    plots.scatter_grid([scatters], os.path.join(folder, "study_samples.png"), size=2.4,
                       suptitle="Samples of each checkpoint (same seed, same starting noise)")
    bins = [k for k in rows[0] if k.startswith("val_loss_t")]
    if bins:
        centers = [np.mean([int(v) for v in k[len("val_loss_t"):].split("_")]) for k in bins]
        curves = {f"epoch {r['epoch']}": [r[k] for k in bins] for r in rows}
        plots.timestep_loss_curves(centers, curves, os.path.join(folder, "study_timestep_loss.png"))
    result = answer(rows)
    write_text(os.path.join(folder, "answer.json"), json.dumps(result, indent=2, default=float))
    names = ["study.csv", "study.png", "study_samples.png", "answer.json"] + (["study_timestep_loss.png"] if bins else [])
    return {"answer": result, "files": [os.path.join("study", n) for n in names]}


def run_study(out_dir, num_samples: int = 10000, seed: int = 0, variance: str = "beta", progress: int = 0,
              validation=None, real=None, log=print) -> dict:
    """Evaluate every checkpoint in ``out_dir`` and write the study; returns `write_study`'s dict plus rows."""
    if validation is None or real is None:
        validation, real = load_split(out_dir)
    rows = study_checkpoints(out_dir, validation, real, num_samples=num_samples, seed=seed, variance=variance,
                             progress=progress, log=log)
    result = write_study(out_dir, rows)
    result["rows"] = [{k: v for k, v in r.items() if k != "samples"} for r in rows]
    return result


def main(argv=None):
    from keras_ddpm.utils.cli import ArgumentParser, non_negative_int, positive_int

    p = ArgumentParser(prog="python -m keras_ddpm.apps.bicycle.study",
                       description="Loss and sample metrics of every checkpoint of a train_bicycle.py run.")
    p.add_argument("out", help="the run's output folder (holds checkpoints/ and validation.npy)")
    p.add_argument("--num-samples", type=positive_int, default=10000,
                   help="points sampled per checkpoint, same seed for all (default: %(default)s)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed (default: %(default)s)")
    p.add_argument("--variance", choices=("beta", "posterior"), default="beta",
                   help="Algorithm 2's sigma_t^2 (default: %(default)s)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.out):
        raise FileNotFoundError(f"run folder not found: {args.out}")
    result = run_study(args.out, num_samples=args.num_samples, seed=args.seed, variance=args.variance)
    for name in result["files"]:
        print(f"wrote {os.path.join(args.out, name)}")
    if os.path.exists(os.path.join(args.out, "summary.json")):  # a train_bicycle.py run: refresh its report
        from keras_ddpm.apps.bicycle.report import (
            SUMMARY_FILE,
            load_summary,
            write_report,
        )

        summary = load_summary(args.out)
        summary["study"] = {"num_samples": args.num_samples, "rows": result["rows"], "answer": result["answer"]["text"]}
        summary["files"] = sorted(set(summary.get("files", [])) | set(result["files"]))
        write_text(os.path.join(args.out, SUMMARY_FILE), json.dumps(summary, indent=2, default=float))
        print(f"wrote {write_report(args.out, summary)}")
    print(result["answer"]["text"])
    return 0


if __name__ == "__main__":
    from keras_ddpm.utils.cli import run_cli

    sys.exit(run_cli(main, prog="python -m keras_ddpm.apps.bicycle.study"))
