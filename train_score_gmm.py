#!/usr/bin/env python
"""Score-based models on a 2D Gaussian mixture: analytic scores, DSM, (annealed) Langevin.

    python train_score_gmm.py --out outputs/score_gmm --seed 0

The same as ``keras-ddpm train gmm``; the flags and outputs are in `keras_ddpm.cli.train_score_gmm`.
"""

import os
import sys

import keras_ddpm_env

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras_ddpm_env.tune_cpu()  # before TensorFlow is imported

from keras_ddpm.cli.train_score_gmm import PROG, build_parser, main, parse_args  # noqa: E402,F401
from keras_ddpm.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main, prog=PROG))
