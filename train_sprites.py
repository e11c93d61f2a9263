#!/usr/bin/env python
"""Train a UNet DDPM on 16x16 sprites, then sample with DDPM and DDIM (and per class).

    python train_sprites.py --preset cpu --evaluate  # about 20 minutes of training on 2 CPU cores

The same as ``keras-ddpm train sprites``; the flags are in `keras_ddpm.cli.train_sprites`.
"""

import os
import sys

import keras_ddpm_env

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras_ddpm_env.tune_cpu(onednn=True)  # before TensorFlow is imported: oneDNN for the convolutions

from keras_ddpm.cli.train_sprites import PROG, main, parse_args  # noqa: E402,F401
from keras_ddpm.utils.cli import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main, prog=PROG))
