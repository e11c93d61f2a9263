#!/usr/bin/env python
"""Score-based models on a 2D Gaussian mixture: analytic scores, DSM, (annealed) Langevin.

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

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

from keras_ddpm.apps.flags import add_flags  # noqa: E402
from keras_ddpm.utils.cli import ArgumentParser, positive_float, positive_int, run_cli  # noqa: E402


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="train_score_gmm.py",
        description="Score matching and (annealed) Langevin dynamics on a 2D Gaussian mixture "
        "(weights 0.8/0.2, means (-5,-5) and (5,5)). Writes figures and metrics.json into --out.",
    )
    add_flags(p, "out", "seed", "batch_size", "lr", "epochs", "num_samples",
              out="outputs/score_gmm", batch_size=1024, lr=2e-3, epochs=10, num_samples=4000,
              help_seed="seed of data, weights, noise and samplers",
              help_lr="peak Adam learning rate, cosine-decayed to 2%% of it",
              help_epochs="epochs each model's steps are split into, for the loss log",
              help_num_samples="chains (starting points) per sampler")
    add = p.add_argument
    add("--train-size", type=positive_int, default=200_000,
        help="number of mixture samples to train on (default: %(default)s)")
    add("--hidden-units", type=positive_int, nargs="+", default=[128, 128, 128],
        help="widths of the score MLP's hidden layers (default: %(default)s)")
    add("--dsm-sigmas", type=positive_float, nargs="+", default=[1.0, 3.0, 7.0],
        help="noise levels of the single-level DSM models (loss 1/2 E||s + eps/sigma^2||^2); "
        "the smallest drives score ascent and plain Langevin (default: %(default)s)")
    add("--dsm-steps", type=positive_int, default=3000,
        help="training steps of each single-level DSM model (default: %(default)s)")
    add("--sigma-max", type=positive_float, default=20.0,
        help="largest noise level of the noise-conditional network (default: %(default)s)")
    add("--sigma-min", type=positive_float, default=1.0,
        help="smallest noise level of the noise-conditional network (default: %(default)s)")
    add("--num-levels", type=positive_int, default=10,
        help="geometric noise levels from --sigma-max to --sigma-min (default: %(default)s)")
    add("--ncsn-steps", type=positive_int, default=6000,
        help="training steps of the noise-conditional network (default: %(default)s)")
    add("--init-range", type=positive_float, default=8.0,
        help="chains start uniform on [-R, R]^2 (default: %(default)s)")
    add("--langevin-step-size", type=positive_float, default=0.1,
        help="epsilon of score ascent and plain Langevin (default: %(default)s)")
    add("--langevin-steps", type=positive_int, default=1000,
        help="steps of score ascent and plain Langevin (default: %(default)s)")
    add("--annealed-step-size", type=positive_float, default=0.1,
        help="epsilon of annealed Langevin: level i steps epsilon * sigma_i^2 / sigma_min^2 "
        "(default: %(default)s)")
    add("--steps-per-level", type=positive_int, default=100,
        help="annealed Langevin steps per noise level (default: %(default)s)")
    add("--num-trajectories", type=positive_int, default=6,
        help="starting points whose trajectories are drawn (default: %(default)s)")
    add("--eval-points", type=positive_int, default=4000,
        help="noised samples on which the relative score error is measured (default: %(default)s)")
    return p


def main(argv=None) -> int:
    from keras_ddpm.apps.gmm import pipeline

    return pipeline.run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(run_cli(main))
