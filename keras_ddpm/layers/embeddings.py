"""Embeddings: of integer timesteps (sinusoidal, fixed or learnable) and of coordinates (random
Fourier features).

All layers are registered serializable (``package="keras_ddpm"``) and implement `get_config`,
so models built from them round-trip through ``.keras`` files.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class SinusoidalEmbedding(layers.Layer):
    """Fixed sinusoidal embedding of integer timesteps (Vaswani et al. 2017, section 3.5; DDPM appendix B).

    ``emb(t) = [sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]`` with
    ``w_i = max_period^(-i / h)`` and ``h = dim // 2``; an odd ``dim`` gets one zero column.
    Input ``(batch,)`` integers (0-based timesteps), output ``(batch, dim)`` float32.
    """

    #: computes in float32 under a mixed policy (`keras_ddpm.layers.precision`): ``t * w_i`` is up to ~T radians
    keep_float32 = True

    def __init__(self, dim: int = 50, max_period: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        checks.integer_at_least("SinusoidalEmbedding dim", dim, 2)
        if not max_period > 1:
            raise ValueError(f"max_period must be > 1, got {max_period!r}")
        self.dim = int(dim)
        self.max_period = float(max_period)
        half = self.dim // 2
        self._frequencies = [math.exp(-math.log(self.max_period) * i / half) for i in range(half)]

    def call(self, t):
        t = ops.cast(ops.reshape(t, (-1, 1)), self.compute_dtype)
        args = t * ops.convert_to_tensor([self._frequencies], dtype=self.compute_dtype)
        emb = ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)
        if self.dim % 2:
            emb = ops.pad(emb, [[0, 0], [0, 1]])
        return emb

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


@keras.saving.register_keras_serializable(package="keras_ddpm")
class LearnableSinusoidalEmbedding(layers.Layer):
    """Sinusoidal embedding followed by a learned MLP: sinusoidal(dim) -> Dense(units, ReLU) -> Dense(units).

    The assignment's time input (defaults 50 -> 128 -> 128); the same design as the DDPM
    reference code (sinusoid then two dense layers). Input ``(batch,)`` ints, output ``(batch, units)``.
    """

    def __init__(self, dim: int = 50, units: int = 128, max_period: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.units = int(units)
        self.max_period = float(max_period)
        self.sinusoidal = SinusoidalEmbedding(self.dim, self.max_period, name="sinusoidal")
        self.hidden = layers.Dense(self.units, activation="relu", name="hidden")
        self.out = layers.Dense(self.units, name="out")

    def build(self, input_shape):
        self.sinusoidal.build(input_shape)
        self.hidden.build((None, self.dim))
        self.out.build((None, self.units))
        self.built = True

    def call(self, t):
        return self.out(self.hidden(self.sinusoidal(t)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "units": self.units,
            "max_period": self.max_period,
        }


@keras.saving.register_keras_serializable(package="keras_ddpm")
class RandomFourierFeatures(layers.Layer):
    """``gamma(x) = [sin(2 pi x B), cos(2 pi x B)]`` (Tancik et al. 2020, eq. 5), optionally with ``x``.

    ``B`` is a fixed ``(input_dim, num_frequencies)`` matrix drawn from ``N(0, scale^2)`` with
    ``seed`` (not trained; saved with the model, so a reloaded model computes the same features).
    Input ``(batch, input_dim)``, output ``(batch, 2 num_frequencies [+ input_dim])``.
    """

    #: computes in float32 under a mixed policy (`keras_ddpm.layers.precision`): the angles are large
    keep_float32 = True

    def __init__(self, num_frequencies: int = 64, scale: float = 4.0, include_input: bool = True,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        num_frequencies = checks.positive_int("num_frequencies", num_frequencies)
        if not scale > 0:
            raise ValueError(f"Fourier feature scale must be > 0, got {scale!r}")
        self.num_frequencies = int(num_frequencies)
        self.scale = float(scale)
        self.include_input = bool(include_input)
        self.seed = int(seed)

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        matrix = np.random.default_rng(self.seed).normal(0.0, self.scale, (input_dim, self.num_frequencies))
        self.frequencies = self.add_weight(
            name="frequencies", shape=(input_dim, self.num_frequencies),
            initializer=keras.initializers.Constant(2.0 * math.pi * matrix.astype(np.float32)),
            trainable=False,
        )
        self.built = True

    def call(self, x):
        proj = ops.matmul(x, ops.cast(self.frequencies, x.dtype))
        parts = [ops.sin(proj), ops.cos(proj)] + ([x] if self.include_input else [])
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        extra = int(input_shape[-1]) if self.include_input else 0
        return tuple(input_shape[:-1]) + (2 * self.num_frequencies + extra,)

    def get_config(self):
        return {**super().get_config(), "num_frequencies": self.num_frequencies, "scale": self.scale,
                "include_input": self.include_input, "seed": self.seed}
