#!/usr/bin/env python
"""Train a DDPM on the 2D bicycle point cloud and write every figure of the assignment and REPORT.md.

    python train_bicycle.py                          # the default preset (see --preset)
    python train_bicycle.py --preset assignment      # exactly the assignment's specification

The same as ``keras-ddpm train bicycle``; the flags are in `keras_ddpm.cli.train_bicycle`.
"""

import os
import sys

import keras_ddpm_env

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras_ddpm_env.tune_cpu()  # before TensorFlow is imported

from keras_ddpm.cli.train_bicycle import PROG, main, parse_args, resolve  # noqa: E402,F401
from keras_ddpm.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main, prog=PROG))
