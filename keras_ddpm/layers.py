"""Custom Keras layers: timestep embeddings and the conditional dense block.

All layers are registered serializable (``package="keras_ddpm"``) and implement `get_config`,
so models built from them round-trip through ``.keras`` files.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from keras_ddpm import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class SinusoidalEmbedding(layers.Layer):
    """Fixed sinusoidal embedding of integer timesteps (Vaswani et al. 2017, section 3.5; DDPM appendix B).

    ``emb(t) = [sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]`` with
    ``w_i = max_period^(-i / h)`` and ``h = dim // 2``; an odd ``dim`` gets one zero column.
    Input ``(batch,)`` integers (0-based timesteps), output ``(batch, dim)`` float32.
    """

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
class ConditionalDense(layers.Layer):
    """A dense block conditioned on a time embedding: ``activation(Dense(x) + e)``.

    ``e`` is the embedding itself when its width equals ``units``; otherwise (e.g. the last block,
    whose width is the data dimension) a bias-free linear projection of it to ``units``. Set
    ``project_embedding=True`` to always project. Call with ``[x, embedding]``; the embedding may
    have batch size 1 (one timestep for the whole batch, as in sampling) and then broadcasts.
    """

    def __init__(self, units: int, activation="relu", project_embedding: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = checks.positive_int("ConditionalDense units", units)
        self.activation = keras.activations.get(activation)
        self.project_embedding = project_embedding
        self.dense = layers.Dense(self.units, name="dense")
        self.projection = None

    def build(self, input_shape):
        x_shape, emb_shape = input_shape
        self.dense.build(x_shape)
        emb_units = emb_shape[-1]
        project = self.project_embedding
        if project is None:
            project = emb_units != self.units
        if project:
            self.projection = layers.Dense(self.units, use_bias=False, name="projection")
            self.projection.build(emb_shape)
        self.built = True

    def call(self, inputs):
        x, emb = inputs
        if self.projection is not None:
            emb = self.projection(emb)
        return self.activation(self.dense(x) + emb)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "project_embedding": self.project_embedding,
        }
