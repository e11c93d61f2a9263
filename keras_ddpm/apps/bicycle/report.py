"""``REPORT.md``: the bicycle run written up as the assignment's answer sheet.

``train_bicycle.py`` saves a run summary (``summary.json``) and calls `write_report`; the report
has one section per step of the assignment, each with its figure and the classes/functions that
implement it, and the metrics table with the real-vs-real floors. Runs of other presets can be
set side by side (``--compare-with``). Regenerate a report from saved runs with::

    python -m keras_ddpm.apps.bicycle.report outputs/bicycle --compare-with outputs/bicycle_assignment
"""

from __future__ import annotations

import json
import os
import sys

from keras_ddpm.utils.io import write_text

SUMMARY_FILE = "summary.json"
REPORT_FILE = "REPORT.md"
METRIC_ROWS = (
    ("sliced_w1", "sliced Wasserstein-1 (lower is better)", "{:.4f}"),
    ("mmd", "MMD², multi-scale RBF (lower is better)", "{:.5f}"),
    ("precision", "k-NN precision, k=3 (higher is better)", "{:.3f}"),
    ("recall", "k-NN recall, k=3 (higher is better)", "{:.3f}"),
)


def load_summary(out_dir) -> dict:
    path = os.path.join(os.fspath(out_dir), SUMMARY_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no run summary at {path}: run train_bicycle.py with --out {out_dir} first")
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except (ValueError, OSError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is unreadable or damaged ({' '.join(str(err).split())}); "
                         f"run train_bicycle.py with --out {out_dir} again to rewrite it") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path} is not a run summary (a JSON object); run train_bicycle.py with --out "
                         f"{out_dir} again to rewrite it")
    return summary


def _fmt(fmt, value):
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return "—"


def _figure(summary, name, alt):
    return f"![{alt}]({name})\n" if name in summary.get("files", []) else f"*({name} was not written in this run)*\n"


def run_label(r) -> str:
    """``preset, N ep``: tells runs of one preset apart."""
    epochs = r.get("epochs_trained", r.get("config", {}).get("epochs"))
    return f"{r['preset']}, {epochs} ep" if epochs is not None else r["preset"]


def metrics_table(runs) -> str:
    """A Markdown table: one row per metric, for each run its value and its floor."""
    header = "| metric | " + " | ".join(f"{run_label(r)} | floor (real vs real)" for r in runs) + " |"
    rule = "| --- |" + " --- | --- |" * len(runs)
    lines = [header, rule]
    for key, label, fmt in METRIC_ROWS:
        cells = []
        for r in runs:
            m = r.get("metrics", {})
            cells += [_fmt(fmt, m.get(key)), _fmt(fmt, m.get(f"{key}_floor"))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    targets = []
    for r in runs:
        m = r.get("metrics", {})
        ok = m.get("meets_targets")
        targets += ["yes" if ok else ("no" if ok is not None else "—"), ""]
    lines.append("| meets the bar (P, R within 0.05 of floor; W1 ≤ 1.5 × floor) | " + " | ".join(targets) + " |")
    return "\n".join(lines) + "\n"


def _timesteps_drawn(config) -> str:
    """How the training t are drawn: Algorithm 1's uniform t, or that mixed with the smallest t."""
    fraction = config.get("small_t_fraction") or 0.0
    if not fraction:
        return "uniform over 0..T-1"
    return f"{fraction:.0%} from 0..{config['small_t_steps'] - 1}, the rest uniform over 0..T-1"


def runs_table(runs) -> str:
    """Presets side by side: network, size, hyper-parameters, time, loss."""
    rows = [
        ("network", lambda r: f"`{r['network_class']}`"),
        ("parameters", lambda r: f"{r['parameters']:,}"),
        ("epochs trained (planned)", lambda r: f"{r.get('epochs_trained', r['config']['epochs'])} ({r['config']['epochs']})"),
        ("batch size", lambda r: str(r["config"]["batch_size"])),
        ("learning rate (decay)", lambda r: f"{r['config']['learning_rate']:g} ({r['config']['lr_decay']})"),
        ("EMA momentum", lambda r: f"{r['config']['ema_momentum']:g}"),
        ("schedule, T", lambda r: f"{r['config']['schedule']}, {r['config']['timesteps']}"),
        ("training t", lambda r: _timesteps_drawn(r["config"])),
        ("sampling variance", lambda r: str(r["variance"])),
        ("training time", lambda r: f"{r['times']['train_s']:.0f} s"),
        ("final training loss", lambda r: _fmt("{:.4f}", r.get("final_loss"))),
        ("final validation loss", lambda r: _fmt("{:.4f}", r.get("final_val_loss"))),
    ]
    lines = ["| | " + " | ".join(f"`{run_label(r)}`" for r in runs) + " |", "| --- |" + " --- |" * len(runs)]
    for label, cell in rows:
        values = []
        for r in runs:
            try:
                values.append(cell(r))
            except (KeyError, TypeError, ValueError):
                values.append("—")
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def study_table(study) -> str:
    rows = study.get("rows", [])
    if not rows:
        return "*(no checkpoint study in this run)*\n"
    lines = ["| epoch | train loss | val loss | sliced W1 | MMD² | precision | recall |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['epoch']} | {r['loss']:.4f} | {r['val_loss']:.4f} | {r['sliced_w1']:.4f} | "
                     f"{r['mmd']:.5f} | {r['precision']:.3f} | {r['recall']:.3f} |")
    r = rows[-1]
    lines.append(f"| floor (real vs real) | | | {r['sliced_w1_floor']:.4f} | {r['mmd_floor']:.5f} | "
                 f"{r['precision_floor']:.3f} | {r['recall_floor']:.3f} |")
    return "\n".join(lines) + "\n"


def render(summary, compare=()) -> str:
    """The Markdown text of the report for ``summary`` (and other runs to set beside it)."""
    s = summary
    runs = [s, *compare]
    c = s["config"]
    d = s["data"]
    partial = s.get("partial_diffusion", {})
    study = s.get("study", {})
    out = []
    add = out.append
    add(f"# DDPM on the bicycle: `{s['preset']}` preset\n")
    add(f"Generated by `train_bicycle.py` ({s.get('command', '')}). Everything below was measured in this run; "
        "timesteps are 0-based in code (index t is the paper's step t+1).\n")

    add("## 1. Data\n")
    add(f"{d['num_points']:,} 2D points from `{d['path']}`, loaded with `keras_ddpm.data.load_points` and split at "
        f"random (the file is sorted spatially) by `keras_ddpm.data.split_points` into {d['num_train']:,} training "
        f"and {d['num_validation']:,} held-out validation points; training batches come from "
        "`keras_ddpm.data.make_dataset` (tf.data, reshuffled every epoch).\n")
    add(_figure(s, "data.png", "data"))

    add("## 2. Noise schedules\n")
    add("`keras_ddpm.process.schedules.NoiseSchedule` computes `betas`, `alphas`, `alphas_cumprod` (alpha-bar) and the "
        "posterior variance in float64: linear (betas 1e-4 to 0.02, Ho et al. 2020), sigmoid and cosine "
        f"(Nichol & Dhariwal 2021). This run uses **{c['schedule']}**, T = {c['timesteps']}.\n")
    add(_figure(s, "schedules.png", "alpha-bar of the schedules"))

    add("## 3. Forward process\n")
    add("`keras_ddpm.process.forward.q_sample` draws x_t ~ q(x_t | x_0) in closed form (eq. 4); `q_step` is one Markov "
        "step (eq. 2). Rows: linear and sigmoid schedules.\n")
    add(_figure(s, "forward_process.png", "forward process"))

    add("## 4. Model and its shape check\n")
    add(f"`keras_ddpm.networks.{s['network_class']}`, {s['parameters']:,} parameters, inside "
        "`keras_ddpm.training.diffusion_model.DiffusionModel`. Preset `" + s["preset"] + "`: " + s.get("preset_description", "")
        + ".\n")
    add(f"Shape check of the untrained network: `{s.get('shape_check', '')}`\n")
    from keras_ddpm.apps.bicycle.presets import PRESETS

    add("The two presets (`keras_ddpm.apps.bicycle.presets.PRESETS`, chosen with `--preset`):\n")
    add("\n".join(f"- `{p.name}`: {p.description}." for p in PRESETS.values()) + "\n")
    add("This run" + (" beside the other run(s) given with `--compare-with`" if compare else "") + ":\n")
    add(runs_table(runs))
    if not compare:
        add("*(Run the other preset and pass its folder with `--compare-with` to see both side by side, also in "
            "the metrics table below.)*\n")

    add("## 5. Training and loss\n")
    add("`DiffusionModel.train_step` is Algorithm 1 (t ~ U{0..T-1}, eps ~ N(0, I), gradient of "
        "||eps - eps_theta(x_t, t)||², eq. 14); `keras_ddpm.training.loop.train` runs `model.fit` with "
        "`BackupAndRestore`, `TerminateOnNaN`, `CSVLogger`, `PeriodicCheckpoint`, `LossPlotter`, `SamplePlotter`, "
        "`TimestepLoss` (validation loss per bin of t, fixed t and noise) and `keras.callbacks.TensorBoard` "
        f"(`tensorboard --logdir {s.get('tensorboard_dir', 'OUT/tensorboard')}`).\n")
    if c.get("small_t_fraction"):
        add(f"Training timesteps: {_timesteps_drawn(c)} (`DiffusionModel(timestep_distribution=SmallTimestepMixture(fraction, steps))`: "
            "the eq. 14 loss weighted towards the last reverse steps, where the finest details are decided). Small t have "
            "the largest noise-prediction error, so this run's training loss is higher than a uniform-t loss; the "
            "validation loss below uses uniform t, fixed noise and timesteps, and compares across runs.\n")
    add(f"Batch {c['batch_size']}, Adam {c['learning_rate']:g} ({c['lr_decay']} learning rate), EMA {c['ema_momentum']:g}, "
        f"{s.get('epochs_trained', c['epochs'])} epochs in {s['times']['train_s']:.0f} s"
        + (f" (time limit {s['time_limit_minutes']:g} min)" if s.get("time_limit_minutes") else "") + f". Final training loss {_fmt('{:.4f}', s.get('final_loss'))}, "
        f"validation loss {_fmt('{:.4f}', s.get('final_val_loss'))}.\n")
    add(_figure(s, "loss.png", "loss curves"))

    add("## 6. Sampling and its animation\n")
    add(f"`keras_ddpm.samplers.DDPMSampler` is Algorithm 2 (sigma_t² = {s.get('variance', 'beta')}), one compiled "
        f"`tf.while_loop`; {s.get('num_samples', 0):,} samples in {s['times'].get('sample_s', float('nan')):.0f} s "
        "(with the GIF). Metrics against the held-out points (`keras_ddpm.evaluation.points.evaluate`), each next to "
        "its floor: the same metric for as many real training points against the same held-out set.\n")
    add(metrics_table(runs))
    add(_figure(s, "samples_vs_data.png", "samples beside the data"))
    add(_figure(s, "reverse_process.gif", "the reverse process"))

    add("## 7. Checkpoint comparison: is the quality drop proportional to the loss difference?\n")
    add("`keras_ddpm.apps.bicycle.study.run_study` (also `python -m keras_ddpm.apps.bicycle.study OUT`): every checkpoint's losses and the "
        f"metrics of {study.get('num_samples', 0):,} samples from the same seed.\n")
    add(study_table(study))
    add("\n**Answer.** " + study.get("answer", "*(no study in this run)*") + "\n")
    for name, alt in (("study/study.png", "loss and metrics per checkpoint"),
                      ("study/study_samples.png", "samples per checkpoint"),
                      ("study/study_timestep_loss.png", "validation loss per timestep bin")):
        add(_figure(s, name, alt))

    add("## 8. Partial diffusion (SDEdit)\n")
    add("`keras_ddpm.apps.bicycle.figures.partial_diffusion`: held-out points are diffused to the paper's x_t0 with "
        "`q_sample` and denoised from there with `DDPMSampler.denoise_from`. Mean distance moved per t0: "
        + ", ".join(f"t0 = {k}: {v:.3f}" for k, v in partial.items())
        + ". The further t0, the more the result departs from the original: small t0 only sharpens, large t0 "
        "keeps little more than which part of the bicycle a point came from.\n")
    add(_figure(s, "partial_diffusion.png", "partial diffusion"))

    t = s["times"]
    add("## Timing\n")
    add(", ".join(f"{k.replace('_s', '')} {v:.0f} s" for k, v in t.items()) + ".\n")
    return "\n".join(out)


def write_report(out_dir, summary=None, compare=()) -> str:
    """Write ``OUT/REPORT.md`` from ``summary`` (default: ``OUT/summary.json``) and other runs' summaries."""
    summary = summary if summary is not None else load_summary(out_dir)
    return write_text(os.path.join(os.fspath(out_dir), REPORT_FILE), render(summary, compare))


def main(argv=None):
    from keras_ddpm.utils.cli import ArgumentParser

    p = ArgumentParser(prog="python -m keras_ddpm.apps.bicycle.report", description="Write REPORT.md for a train_bicycle.py run.")
    p.add_argument("out", help="the run's output folder (holds summary.json)")
    p.add_argument("--compare-with", nargs="*", default=[], metavar="DIR",
                   help="other runs (e.g. the other preset) to set side by side")
    args = p.parse_args(argv)
    compare = [load_summary(other) for other in args.compare_with]
    print(f"wrote {write_report(args.out, compare=compare)}")
    return 0


if __name__ == "__main__":
    from keras_ddpm.utils.cli import run_cli

    sys.exit(run_cli(main, prog="python -m keras_ddpm.apps.bicycle.report"))
