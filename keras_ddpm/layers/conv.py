"""Convolutional building blocks of the image UNet: a residual block conditioned on an embedding,
and 2x down/up-sampling.

All layers are registered serializable (``package="keras_ddpm"``) and implement `get_config`.
Images are channels-last, ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_ddpm.utils import checks


def _group_count(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is <= ``groups`` (GroupNormalization needs one)."""
    groups = max(1, min(int(groups), int(channels)))
    while channels % groups:
        groups -= 1
    return groups


@keras.saving.register_keras_serializable(package="keras_ddpm")
class ResidualConvBlock(layers.Layer):
    """A residual block with an embedding added between its two convolutions (DDPM's UNet block).

    As in Ho et al. 2020 (appendix B, the PixelCNN++/Wide-ResNet block of their UNet)::

        h = conv3x3(swish(GroupNorm(x)))
        h = h + Dense(swish(emb))[:, None, None, :]      # time (+ class) embedding, every block
        h = conv3x3(dropout(swish(GroupNorm(h))))
        out = h + skip(x)                                # skip: 1x1 conv when the width changes

    Call with ``[x, emb]``: ``x`` ``(batch, H, W, C)``, ``emb`` ``(batch, E)`` (batch may be 1 and
    then broadcasts). Returns ``(batch, H, W, filters)``.

    Args:
        filters: output channels.
        groups: groups of the GroupNormalization layers (reduced to a divisor of the channels).
        dropout: dropout rate before the second convolution (training only).
    """

    def __init__(self, filters: int, groups: int = 8, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        filters = checks.positive_int("ResidualConvBlock filters", filters)
        groups = checks.positive_int("groups", groups)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.filters = int(filters)
        self.groups = int(groups)
        self.dropout_rate = float(dropout)
        self.conv1 = layers.Conv2D(self.filters, 3, padding="same", name="conv1")
        self.conv2 = layers.Conv2D(self.filters, 3, padding="same", name="conv2")
        self.emb_projection = layers.Dense(self.filters, name="emb_projection")
        self.dropout = layers.Dropout(self.dropout_rate) if self.dropout_rate else None
        self.norm1 = self.norm2 = self.skip = None

    def build(self, input_shape):
        x_shape, emb_shape = input_shape
        channels = int(x_shape[-1])
        # Layers made here take the block's dtype policy: under mixed precision the block has it by now.
        self.norm1 = layers.GroupNormalization(_group_count(channels, self.groups), name="norm1",
                                              dtype=self.dtype_policy)
        self.norm2 = layers.GroupNormalization(_group_count(self.filters, self.groups), name="norm2",
                                              dtype=self.dtype_policy)
        self.norm1.build(x_shape)
        self.conv1.build(x_shape)
        out_shape = tuple(x_shape[:-1]) + (self.filters,)
        self.norm2.build(out_shape)
        self.conv2.build(out_shape)
        self.emb_projection.build(emb_shape)
        if channels != self.filters:
            self.skip = layers.Conv2D(self.filters, 1, name="skip", dtype=self.dtype_policy)
            self.skip.build(x_shape)
        self.built = True

    def call(self, inputs, training=False):
        x, emb = inputs
        h = self.conv1(ops.silu(self.norm1(x)))
        h = h + self.emb_projection(ops.silu(emb))[:, None, None, :]
        h = ops.silu(self.norm2(h))
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        h = self.conv2(h)
        return h + (self.skip(x) if self.skip is not None else x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "dropout": self.dropout_rate}


@keras.saving.register_keras_serializable(package="keras_ddpm")
class Downsample(layers.Layer):
    """Halve the height and width with a strided 3x3 convolution (as in the DDPM UNet)."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv = layers.Conv2D(self.filters, 3, strides=2, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.built = True

    def call(self, x):
        return self.conv(x)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else (h + 1) // 2, None if w is None else (w + 1) // 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="keras_ddpm")
class Upsample(layers.Layer):
    """Double the height and width: nearest-neighbour upsampling then a 3x3 convolution (DDPM UNet)."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.upsample = layers.UpSampling2D(2, interpolation="nearest", name="upsample")
        self.conv = layers.Conv2D(self.filters, 3, padding="same", name="conv")

    def build(self, input_shape):
        b, h, w, c = input_shape
        self.conv.build((b, None if h is None else 2 * h, None if w is None else 2 * w, c))
        self.built = True

    def call(self, x):
        return self.conv(self.upsample(x))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
