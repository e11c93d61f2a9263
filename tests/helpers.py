"""Shared test utilities: a network with a known exact answer, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

from keras_ddpm.process.forward import extract

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BICYCLE = os.environ.get("KERAS_DDPM_BICYCLE", os.path.join(ROOT, "..", "shared", "data", "bicycle.txt"))


class GaussianEpsOracle(keras.Model):
    """The exact noise predictor E[eps | x_t] for data x_0 ~ N(mean, std^2 I).

    With x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps, x_t is Gaussian with variance
    abar std^2 + 1 - abar, and E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mean) / that variance.
    A sampler fed this predictor must reproduce N(mean, std^2 I).
    """

    def __init__(self, schedule, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.schedule = schedule
        self.mean = np.asarray(mean, np.float32)
        self.std = float(std)

    def call(self, inputs):
        x_t, t = inputs
        ndim = len(x_t.shape)
        abar = extract(self.schedule.tensor("alphas_cumprod"), t, ndim)
        variance = abar * self.std**2 + 1.0 - abar
        return ops.sqrt(1.0 - abar) * (x_t - ops.sqrt(abar) * self.mean) / variance


def run_script(*args, timeout=300):
    """Run a top-level script in a subprocess; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_DDPM_DEBUG", None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
