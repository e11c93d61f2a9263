"""Layer 2a, custom Keras layers: one home for every building block of the networks.

- `embeddings`: `SinusoidalEmbedding`, `LearnableSinusoidalEmbedding` (timesteps),
  `RandomFourierFeatures` (coordinates).
- `dense`: `ConditionalDense` (the assignment's block), `ResidualBlock`.
- `conv`: `ResidualConvBlock`, `Downsample`, `Upsample` (the image UNet's blocks).
- `attention`: `SpatialSelfAttention` (the UNet's optional self-attention over pixels).
- `precision`: `apply_precision` (mixed float16/bfloat16 policies on a network's layers).
"""

from keras_ddpm.layers.attention import SpatialSelfAttention
from keras_ddpm.layers.conv import Downsample, ResidualConvBlock, Upsample
from keras_ddpm.layers.dense import ConditionalDense, ResidualBlock
from keras_ddpm.layers.embeddings import (
    LearnableSinusoidalEmbedding,
    RandomFourierFeatures,
    SinusoidalEmbedding,
)
from keras_ddpm.layers.precision import PRECISIONS, apply_precision, precision_of, reapply_precision

__all__ = [
    "PRECISIONS",
    "apply_precision",
    "precision_of",
    "reapply_precision",
    "ConditionalDense",
    "Downsample",
    "LearnableSinusoidalEmbedding",
    "RandomFourierFeatures",
    "ResidualBlock",
    "ResidualConvBlock",
    "SinusoidalEmbedding",
    "SpatialSelfAttention",
    "Upsample",
]
