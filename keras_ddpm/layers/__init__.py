"""Layer 2a, custom Keras layers: one home for every building block of the networks.

- `embeddings`: `SinusoidalEmbedding`, `LearnableSinusoidalEmbedding` (timesteps),
  `RandomFourierFeatures` (coordinates).
- `dense`: `ConditionalDense` (the assignment's block), `ResidualBlock`.
- `conv`: `ResidualConvBlock`, `Downsample`, `Upsample` (the image UNet's blocks).
"""

from keras_ddpm.layers.conv import Downsample, ResidualConvBlock, Upsample
from keras_ddpm.layers.dense import ConditionalDense, ResidualBlock
from keras_ddpm.layers.embeddings import (
    LearnableSinusoidalEmbedding,
    RandomFourierFeatures,
    SinusoidalEmbedding,
)

__all__ = [
    "ConditionalDense",
    "Downsample",
    "LearnableSinusoidalEmbedding",
    "RandomFourierFeatures",
    "ResidualBlock",
    "ResidualConvBlock",
    "SinusoidalEmbedding",
    "Upsample",
]
