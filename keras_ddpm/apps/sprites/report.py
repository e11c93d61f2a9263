"""``REPORT.md``: the sprite run written up as the assignment's answer sheet.

``train_sprites.py`` saves a run summary (``summary.json``: settings, data, model, training time,
and with ``--evaluate`` the evaluation's ``results.json``) and calls `write_report`. The report
shows the data, the schedule and forward process, the model, the loss, the DDPM and DDIM grids,
the timing and FID/KID tables with their floors, class fidelity, memorisation, the guided rows
per class, and answers "when is DDIM the same as DDPM, and what does it buy here" with the
run's own numbers. Regenerate it from a finished run with::

    python -m keras_ddpm.apps.sprites.report outputs/sprites_cpu
"""

from __future__ import annotations

import json
import os
import sys

from keras_ddpm.utils.io import write_text

SUMMARY_FILE = "summary.json"
REPORT_FILE = "REPORT.md"


def load_summary(out_dir) -> dict:
    path = os.path.join(os.fspath(out_dir), SUMMARY_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no run summary at {path}: run train_sprites.py with --out {out_dir} first")
    try:
        with open(path) as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is damaged ({error}); re-run train_sprites.py to write it again") from None


def _figure(summary, name, alt) -> str:
    return f"![{alt}]({name})\n" if name in summary.get("files", []) else f"*({name} was not written in this run)*\n"


def _row(result, sampler, mode="conditional"):
    return next((r for r in result["rows"] if r["sampler"] == sampler and r["mode"] == mode), None)


def ddim_answer(result) -> str:
    """"When is DDIM the same as DDPM, and what does it buy here", from an evaluation's results."""
    T = result["timesteps"]
    lines = [f"**When is DDIM the same as DDPM?** DDIM's update (Song et al. 2021, eq. 12) with eta = 1 and all "
             f"T = {T} steps is DDPM's ancestral step with the posterior variance beta-tilde_t (eq. 7 of Ho et al. "
             "2020): both draw the same x_(t-1) from the same x_t."]
    check = result.get("ddim_equals_ddpm")
    if check:
        lines.append(f"Measured: from the same x_T and seed, the two give samples whose largest pixel difference "
                     f"is {check['max_abs_difference']:.1e} ({check['samples']} samples; pixels span [-1, 1]).")
    for mode in ("conditional", "unconditional"):
        ddpm = _row(result, "DDPM (beta)", mode)
        fewer = [r for r in result["rows"] if r["mode"] == mode and r["sampler"].startswith("DDIM-")
                 and r["sampler"].endswith(" eta 0") and r["steps"] < T]
        if ddpm is None or not fewer:
            continue
        parts = [f"DDIM-{r['steps']} (eta 0) scores FID {r['fid']:.2f}, {r['fid'] / ddpm['fid']:.2f}x DDPM's "
                 f"{ddpm['fid']:.2f}, in {r['seconds']:.1f} s instead of {ddpm['seconds']:.1f} s "
                 f"({ddpm['seconds'] / r['seconds']:.0f}x faster)" for r in fewer]
        lines.append(f"**What it buys here ({mode} sampling):** " + "; ".join(parts) + ".")
    return "\n\n".join(lines) + "\n"


def _target(training) -> str:
    """What the loss compares, for the report (older summaries have no prediction: eps)."""
    if training.get("prediction", "epsilon") == "v":
        text = "v-prediction, Salimans & Ho 2022: the MSE on v = sqrt(alpha-bar) eps - sqrt(1 - alpha-bar) x0"
    else:
        text = "eps-prediction, eq. 14"
    gamma = training.get("min_snr_gamma")
    return text + (f", min-SNR-{gamma:g} weighted (Hang et al. 2023)" if gamma else "")


def render(summary) -> str:
    s = summary
    data, model, training = s["data"], s["model"], s["training"]
    lines = [f"# Sprites: a class-conditional UNet DDPM ({s['preset']} preset)", "",
             f"Command: `{s['command']}`", "",
             "## The data", "",
             f"{data['count']} sprites of {data['shape'][0]}x{data['shape'][1]} pixels in {len(data['classes'])} classes "
             f"({', '.join(f'{c}: {n}' for c, n in zip(data['classes'], data['class_counts']))}), from "
             f"`{data['folder']}`; pixels scaled to [-1, 1]"
             + (f"; {data['held_out']} held out for the validation loss" if data.get("held_out") else "") + ".", "",
             _figure(s, "data.png", "training sprites, 10 per class"),
             "## The forward process", "",
             f"Schedule: {s['schedule']['kind']}, T = {s['schedule']['timesteps']} (0-based t = 0 .. "
             f"{s['schedule']['timesteps'] - 1}). At the last step alpha-bar = {s['schedule']['last_alphas_cumprod']:.2g}: "
             f"the training input x_(T-1) keeps sqrt(alpha-bar) = {s['schedule']['last_alphas_cumprod'] ** 0.5:.2g} of the "
             "image, while sampling starts from pure noise.", "",
             _figure(s, "schedules.png", "alpha-bar of the schedules"),
             _figure(s, "forward_process.png", "the forward process on a few sprites"),
             "## The model and its training", "",
             f"`UNet` (keras_ddpm/networks/unet.py): {model['parameters']:,} parameters, base features "
             f"{model['base_features']}, {model['conditioning']}; `DiffusionModel` trains it with Algorithm 1 "
             f"({_target(training)}). {training['epochs']} epochs of {training['steps_per_epoch']} steps at batch "
             f"{training['batch_size']} (lr {training['lr']:g}, {training['lr_decay']} decay, EMA "
             f"{training['ema_momentum']:g}, augmentation {training['augment']}): {training['seconds'] / 60:.1f} min "
             f"of training ({training['images_per_second']:.0f} images/s), final loss {training['final_loss']:.4f}.", "",
             _figure(s, "loss.png", "training loss per epoch"),
             "## Samples", "",
             f"Unconditional grids (the \"no class\" label): DDPM, {s['schedule']['timesteps']} steps, and DDIM, "
             f"{s['grids']['ddim_steps']} steps (eta {s['grids']['eta']:g}); then one row per class with classifier-free "
             f"guidance (scale {s['grids']['guidance_scale']:g}).", "",
             _figure(s, "samples_ddpm.png", "DDPM samples"),
             _figure(s, "samples_ddim.png", "DDIM samples"),
             _figure(s, "samples_per_class.png", "guided samples, one row per class")]
    result = s.get("evaluation")
    if result is None:
        lines += ["## Evaluation", "", "Not run: add `--evaluate` for the FID/KID, timing, class-fidelity and "
                  "memorisation tables and the DDPM-vs-DDIM answer.", ""]
    else:
        from keras_ddpm.apps.sprites.evaluation import markdown_tables

        lines += ["## DDPM against DDIM: time, FID/KID, class fidelity, memorisation", "",
                  "Protocol: `keras_ddpm/apps/sprites/evaluation.py` (real halves A and B; every sampler draws |A| "
                  "samples from one x_T; conditional rows use the labels of half A, unconditional rows the "
                  "\"no class\" label).", "",
                  markdown_tables(result),
                  _figure(s, "eval/per_class.png", "guided samples per class (evaluation)"),
                  "## When is DDIM the same as DDPM, and what does it buy here?", "",
                  ddim_answer(result)]
    return "\n".join(lines)


def write_report(out_dir, summary=None) -> str:
    """Write ``OUT/REPORT.md`` from ``summary`` (default: ``OUT/summary.json``); returns its path."""
    summary = load_summary(out_dir) if summary is None else summary
    path = os.path.join(os.fspath(out_dir), REPORT_FILE)
    write_text(path, render(summary))
    return path


def main(argv=None):
    from keras_ddpm.utils.cli import ArgumentParser

    p = ArgumentParser(prog="python -m keras_ddpm.apps.sprites.report",
                       description="Write REPORT.md for a finished train_sprites.py run.")
    p.add_argument("out", help="the run's output folder (holding summary.json)")
    args = p.parse_args(argv)
    print(write_report(args.out))
    return 0


if __name__ == "__main__":
    from keras_ddpm.utils.cli import run_cli

    sys.exit(run_cli(main, prog="python -m keras_ddpm.apps.sprites.report"))
