"""`ResidualMLP`: the `improved` bicycle network, random Fourier features of x_t + residual blocks.

Why these pieces (the runs that chose them: docs/design-notes.md#the-improved-bicycle-preset):

- A ReLU MLP on raw 2D coordinates is biased towards smooth functions (the "spectral bias" of
  Tancik et al. 2020): it learns the wheels as filled discs and never the spokes. Mapping the
  coordinates through ``[sin(2 pi B x), cos(2 pi B x)]`` with a fixed Gaussian ``B`` (random
  Fourier features, Tancik et al. 2020) lets it represent sharp, thin structures.
- Pre-norm residual blocks (He et al. 2016; LayerNorm, Ba et al. 2016) keep a deeper/wider MLP
  trainable at a larger learning rate.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_ddpm.layers import (
    LearnableSinusoidalEmbedding,
    RandomFourierFeatures,
    ResidualBlock,
)
from keras_ddpm.networks.split import TimeSplitNetwork
from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class ResidualMLP(TimeSplitNetwork, keras.Model):
    """eps_theta(x_t, t) for vector data: Fourier features of x_t, residual blocks, a time embedding.

    ``x_t -> RandomFourierFeatures -> Dense(width) -> num_blocks x ResidualBlock(width, e_t)
    -> norm -> Dense(data_dim)``, with ``e_t`` the assignment's `LearnableSinusoidalEmbedding`
    (sinusoidal ``embedding_dim`` -> ``embedding_units`` -> ``embedding_units``).
    ``fourier_frequencies=0`` feeds the raw coordinates instead (for ablations).

    Call with ``[x_t, t]``: ``x_t`` ``(batch, data_dim)`` float, ``t`` ``(batch,)`` 0-based int.
    Like `DenoisingMLP` it exposes ``embed_time(t)`` and ``denoise(x_t, embedding)`` so samplers
    compute the time embedding of all T steps once.
    """

    def __init__(self, data_dim: int = 2, width: int = 128, num_blocks: int = 3,
                 fourier_frequencies: int = 64, fourier_scale: float = 2.0, normalization: bool = True,
                 activation: str = "silu", embedding_dim: int = 50, embedding_units: int = 128,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        for name, value, minimum in (("data_dim", data_dim, 1), ("width", width, 1),
                                     ("num_blocks", num_blocks, 0), ("fourier_frequencies", fourier_frequencies, 0)):
            checks.integer_at_least(name, value, minimum)
        self.data_dim = int(data_dim)
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.fourier_frequencies = int(fourier_frequencies)
        self.fourier_scale = float(fourier_scale)
        self.normalization = bool(normalization)
        self.activation_name = activation
        self.embedding_dim = int(embedding_dim)
        self.embedding_units = int(embedding_units)
        self.seed = int(seed)
        self.time_embedding = LearnableSinusoidalEmbedding(self.embedding_dim, self.embedding_units,
                                                           name="time_embedding")
        self.features = (RandomFourierFeatures(self.fourier_frequencies, self.fourier_scale, seed=self.seed,
                                               name="fourier_features")
                         if self.fourier_frequencies else None)
        self.stem = layers.Dense(self.width, name="stem")
        self.blocks = [ResidualBlock(self.width, activation, self.normalization, name=f"block_{i}")
                       for i in range(self.num_blocks)]
        self.out_norm = layers.LayerNormalization(name="out_norm") if self.normalization else None
        self.head = layers.Dense(self.data_dim, name="head")

    def build(self, input_shape=None):
        self.time_embedding.build((None,))
        width = self.data_dim
        if self.features is not None:
            self.features.build((None, self.data_dim))
            width = self.features.compute_output_shape((None, self.data_dim))[-1]
        self.stem.build((None, width))
        for block in self.blocks:
            block.build(((None, self.width), (None, self.embedding_units)))
        if self.out_norm is not None:
            self.out_norm.build((None, self.width))
        self.head.build((None, self.width))
        self.built = True

    def embed_time(self, t):
        """The time embedding ``(batch, embedding_units)`` of 0-based timesteps ``t``."""
        return self.time_embedding(t)

    def denoise(self, x_t, embedding):
        """Everything but the time embedding; ``embedding`` may have batch size 1."""
        h = self.features(x_t) if self.features is not None else x_t
        h = self.stem(h)
        for block in self.blocks:
            h = block([h, embedding])
        if self.out_norm is not None:
            h = self.out_norm(h)
        return self.head(keras.activations.get(self.activation_name)(h))

    def get_config(self):
        return {**super().get_config(), "data_dim": self.data_dim, "width": self.width,
                "num_blocks": self.num_blocks, "fourier_frequencies": self.fourier_frequencies,
                "fourier_scale": self.fourier_scale, "normalization": self.normalization,
                "activation": self.activation_name, "embedding_dim": self.embedding_dim,
                "embedding_units": self.embedding_units, "seed": self.seed}
