#!/usr/bin/env python
"""Draw samples from an exported keras-ddpm SavedModel.

    python sample.py saved_models/bicycle --num-samples 20000 --seed 0 --out samples/bicycle.npy

The same as ``keras-ddpm sample``; the flags are in `keras_ddpm.cli.sample`.
"""

import os
import sys

import keras_ddpm_env

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras_ddpm_env.tune_cpu()  # before TensorFlow is imported

from keras_ddpm.cli.sample import PROG, main, parse_args, run_cli  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(run_cli(prog=PROG))
