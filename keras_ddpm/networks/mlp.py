"""`DenoisingMLP`: the assignment's noise-prediction network for 2D points."""

from __future__ import annotations

import keras

from keras_ddpm.layers import ConditionalDense, LearnableSinusoidalEmbedding
from keras_ddpm.networks.split import TimeSplitNetwork
from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class DenoisingMLP(TimeSplitNetwork, keras.Model):
    """eps_theta(x_t, t) for vector data: conditional dense blocks on a learnable time embedding.

    With the defaults this is exactly the assignment: a `LearnableSinusoidalEmbedding`
    (sinusoidal 50 -> Dense 128 ReLU -> Dense 128) feeding four `ConditionalDense` blocks of widths
    128, 128, 128 and ``data_dim``, ReLU after each block but the last (~57k parameters).

    Call with ``[x_t, t]``: ``x_t`` ``(batch, data_dim)`` float, ``t`` ``(batch,)`` 0-based int.
    Returns the predicted noise, ``(batch, data_dim)``.
    """

    def __init__(
        self,
        data_dim: int = 2,
        hidden_units=(128, 128, 128),
        embedding_dim: int = 50,
        embedding_units: int = 128,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dim = checks.positive_int("data_dim", data_dim)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.embedding_dim = int(embedding_dim)
        self.embedding_units = int(embedding_units)
        self.time_embedding = LearnableSinusoidalEmbedding(
            self.embedding_dim, self.embedding_units, name="time_embedding"
        )
        widths = self.hidden_units + (self.data_dim,)
        self.blocks = [
            ConditionalDense(
                units,
                activation="relu" if i < len(widths) - 1 else None,
                name=f"block_{i}",
            )
            for i, units in enumerate(widths)
        ]

    def build(self, input_shape=None):
        self.time_embedding.build((None,))
        width = self.data_dim
        for block in self.blocks:
            block.build(((None, width), (None, self.embedding_units)))
            width = block.units
        self.built = True

    def embed_time(self, t):
        """The time embedding ``(batch, embedding_units)`` of 0-based timesteps ``t``."""
        return self.time_embedding(t)

    def denoise(self, x_t, embedding):
        """The blocks applied to ``x_t`` given a precomputed time ``embedding`` (batch may be 1)."""
        h = x_t
        for block in self.blocks:
            h = block([h, embedding])
        return h

    def get_config(self):
        return {
            **super().get_config(),
            "data_dim": self.data_dim,
            "hidden_units": list(self.hidden_units),
            "embedding_dim": self.embedding_dim,
            "embedding_units": self.embedding_units,
        }
