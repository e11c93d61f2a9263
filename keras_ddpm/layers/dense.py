"""Dense blocks conditioned on a time embedding: the assignment's `ConditionalDense` and the
pre-norm `ResidualBlock`.

All layers are registered serializable (``package="keras_ddpm"``) and implement `get_config`.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_ddpm.utils import checks


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
        if project:  # the block's dtype policy: under mixed precision the block has it by now
            self.projection = layers.Dense(self.units, use_bias=False, name="projection", dtype=self.dtype_policy)
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
@keras.saving.register_keras_serializable(package="keras_ddpm")
class ResidualBlock(layers.Layer):
    """A pre-norm residual MLP block conditioned on a time embedding ``e``:

    ``h + Dense(act(Dense(norm(h)) + W_e e))`` (the structure of the DDPM UNet's ResBlock, with
    dense layers instead of convolutions). ``e`` may have batch size 1 and then broadcasts (one
    timestep for the whole batch, as in sampling). Call with ``[h, e]``.
    """

    def __init__(self, units: int, activation="silu", normalization: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = checks.positive_int("ResidualBlock units", units)
        self.activation = keras.activations.get(activation)
        self.normalization = bool(normalization)
        self.norm = layers.LayerNormalization(name="norm") if self.normalization else None
        self.dense_in = layers.Dense(self.units, name="dense_in")
        self.time_projection = layers.Dense(self.units, use_bias=False, name="time_projection")
        self.dense_out = layers.Dense(self.units, name="dense_out")

    def build(self, input_shape):
        h_shape, emb_shape = input_shape
        if int(h_shape[-1]) != self.units:
            raise ValueError(f"ResidualBlock of width {self.units} got an input of width {h_shape[-1]}")
        if self.norm is not None:
            self.norm.build(h_shape)
        self.dense_in.build(h_shape)
        self.time_projection.build(emb_shape)
        self.dense_out.build(tuple(h_shape[:-1]) + (self.units,))
        self.built = True

    def call(self, inputs):
        h, emb = inputs
        y = self.norm(h) if self.norm is not None else h
        y = self.activation(self.dense_in(y) + self.time_projection(emb))
        return h + self.dense_out(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "normalization": self.normalization}
