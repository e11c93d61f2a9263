"""``train_score_gmm.py`` / ``keras-ddpm train gmm``: score-based models on a 2D Gaussian mixture:
analytic scores, DSM, (annealed) Langevin.

Trains denoising score matching models at a few fixed noise levels and a noise-conditional score
network on geometric levels, samples with score ascent, Langevin and annealed Langevin dynamics,
and writes into ``--out``:

    score_field.png   the mixture's density and analytic score
    dsm_fields.png    analytic vs learned noised score, one row per --dsm-sigmas level
    ncsn_fields.png   analytic vs learned noise-conditional score at several levels
    trajectories.png  score ascent / Langevin / annealed Langevin paths from a few starts
    samples.png       true samples vs every sampler (recovered weights in each panel)
    losses.png        DSM training losses
    ncsn.keras        the trained noise-conditional score network
    metrics.json      recovered weights/means/covariances per sampler, relative score errors

Example: ``python train_score_gmm.py --out outputs/score_gmm --seed 0``
"""

from __future__ import annotations

from keras_ddpm.apps.flags import add_flags, apply_preset
from keras_ddpm.apps.gmm.presets import PRESET_FIELDS, PRESETS
from keras_ddpm.utils.cli import ArgumentParser, positive_float, positive_int

PROG = "train_score_gmm.py"


def build_parser(prog: str = PROG) -> ArgumentParser:
    p = ArgumentParser(
        prog=prog,
        description="Score matching and (annealed) Langevin dynamics on a 2D Gaussian mixture "
        "(weights 0.8/0.2, means (-5,-5) and (5,5)). Writes figures and metrics.json into --out.",
    )
    default = PRESETS["default"]

    def preset(field, text):
        return f"{text} (default: from the preset, {getattr(default, field)})"

    add_flags(p, "preset", "out", "seed", "batch_size", "lr", "epochs", "num_samples",
              preset="default", choices_preset=sorted(PRESETS), out="outputs/score_gmm",
              help_preset="; ".join(f"{name}: {pr.description}" for name, pr in PRESETS.items())
                          + ". The flags below override single values",
              help_seed="seed of data, weights, noise and samplers",
              help_batch_size=preset("batch_size", "training batch size"),
              help_lr=preset("lr", "peak Adam learning rate, cosine-decayed to 2%% of it"),
              help_epochs=preset("epochs", "epochs each model's steps are split into, for the loss log"),
              help_num_samples=preset("num_samples", "chains (starting points) per sampler"))
    add = p.add_argument
    add("--train-size", type=positive_int, help=preset("train_size", "number of mixture samples to train on"))
    add("--hidden-units", type=positive_int, nargs="+", help=preset("hidden_units", "widths of the score MLP's hidden layers"))
    add("--dsm-sigmas", type=positive_float, nargs="+",
        help=preset("dsm_sigmas", "noise levels of the single-level DSM models (loss 1/2 E||s + eps/sigma^2||^2); "
                                  "the smallest drives score ascent and plain Langevin"))
    add("--dsm-steps", type=positive_int, help=preset("dsm_steps", "training steps of each single-level DSM model"))
    add("--sigma-max", type=positive_float, help=preset("sigma_max", "largest noise level of the noise-conditional network"))
    add("--sigma-min", type=positive_float, help=preset("sigma_min", "smallest noise level of the noise-conditional network"))
    add("--num-levels", type=positive_int, help=preset("num_levels", "geometric noise levels from --sigma-max to --sigma-min"))
    add("--ncsn-steps", type=positive_int, help=preset("ncsn_steps", "training steps of the noise-conditional network"))
    add("--init-range", type=positive_float, help=preset("init_range", "chains start uniform on [-R, R]^2"))
    add("--langevin-step-size", type=positive_float, help=preset("langevin_step_size", "epsilon of score ascent and plain Langevin"))
    add("--langevin-steps", type=positive_int, help=preset("langevin_steps", "steps of score ascent and plain Langevin"))
    add("--annealed-step-size", type=positive_float,
        help=preset("annealed_step_size", "epsilon of annealed Langevin: level i steps epsilon * sigma_i^2 / sigma_min^2"))
    add("--steps-per-level", type=positive_int, help=preset("steps_per_level", "annealed Langevin steps per noise level"))
    add("--num-trajectories", type=positive_int, help=preset("num_trajectories", "starting points whose trajectories are drawn"))
    add("--eval-points", type=positive_int,
        help=preset("eval_points", "noised samples on which the relative score error is measured"))
    return p


def parse_args(argv=None, prog: str = PROG):
    args = build_parser(prog).parse_args(argv)
    apply_preset(args, PRESETS[args.preset], dict(zip(PRESET_FIELDS, PRESET_FIELDS)))
    args.hidden_units, args.dsm_sigmas = list(args.hidden_units), list(args.dsm_sigmas)
    return args


def main(argv=None, prog: str = PROG) -> int:
    from keras_ddpm.apps.gmm import pipeline

    return pipeline.run(parse_args(argv, prog))
