"""`UNet`: the noise-prediction network eps_theta(x_t, t[, class]) for small images (e.g. 16x16 sprites)."""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_ddpm.layers import LearnableSinusoidalEmbedding, SpatialSelfAttention
from keras_ddpm.layers.conv import Downsample, ResidualConvBlock, Upsample, _group_count
from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class UNet(keras.Model):
    """A small DDPM-style UNet (Ho et al. 2020, appendix B; Ronneberger et al. 2015).

    Layout, for ``channel_multipliers=(1, 2)`` and 16x16 inputs (the defaults)::

        conv3x3 -> 16x16 x F
        down 0:  ResidualConvBlock(F)   -> skip 0, Downsample -> 8x8
        down 1:  ResidualConvBlock(2F)  -> skip 1, Downsample -> 4x4
        middle:  ResidualConvBlock(2F)
        up 1:    Upsample -> 8x8,   concat skip 1, ResidualConvBlock(2F)
        up 0:    Upsample -> 16x16, concat skip 0, ResidualConvBlock(F)
        GroupNorm, swish, conv3x3 -> 16x16 x channels (the predicted noise)

    ``attention_levels`` adds a `SpatialSelfAttention` block after every residual block of the
    levels listed: 0 .. L-1 are the down/up levels (level 0 at full resolution), L =
    ``len(channel_multipliers)`` is the middle (4x4 above); the DDPM UNet attends at 16x16 of its
    32x32 images and in the middle.

    ``F = base_features`` (the DeepLearning.AI course uses 64). The time embedding (sinusoidal
    then two dense layers, `LearnableSinusoidalEmbedding`, width ``4F``) is added in every
    residual block, as the DDPM paper does. With ``num_classes`` set the network is
    class-conditional: a learned class embedding (``num_classes + 1`` rows; id ``num_classes``
    is "no class", used for classifier-free guidance) is added to the time embedding.

    Any height and width divisible by ``2 ** len(channel_multipliers)`` work (by 4 with the defaults).

    Call with ``[x_t, t]`` or, when class-conditional, ``[x_t, t, labels]``: ``x_t``
    ``(batch, H, W, channels)`` float, ``t`` ``(batch,)`` 0-based integer timesteps (index t is
    the paper's step t+1), ``labels`` ``(batch,)`` integer class ids in ``0..num_classes`` (one-hot
    rows are also accepted). Returns the predicted noise, shaped like ``x_t``.

    Args:
        channels: image channels (3 for RGB).
        base_features: F, the width of the first level.
        channel_multipliers: width of each level as a multiple of F; one down/up level each.
        blocks_per_level: residual blocks per level on the way down (and up).
        num_classes: number of classes for a class-conditional network; None for unconditional.
        groups: GroupNormalization groups.
        dropout: dropout rate inside the residual blocks.
        attention_levels: the levels (0 .. L, L the middle) with self-attention; none by default.
        attention_heads: heads of each attention block.
    """

    def __init__(self, channels: int = 3, base_features: int = 64, channel_multipliers=(1, 2),
                 blocks_per_level: int = 1, num_classes: int | None = None, groups: int = 8,
                 dropout: float = 0.0, attention_levels=(), attention_heads: int = 1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("channels", channels), ("base_features", base_features),
                            ("blocks_per_level", blocks_per_level), ("groups", groups)):
            checks.positive_int(f"UNet {name}", value)
        multipliers = tuple(channel_multipliers)
        if not multipliers:
            raise ValueError(f"channel_multipliers must hold at least one level, got {channel_multipliers!r}")
        for m in multipliers:
            checks.positive_int("each of channel_multipliers", m)
        if num_classes is not None:
            checks.positive_int("num_classes (or None)", num_classes)
        checks.positive_int("UNet attention_heads", attention_heads)
        levels = sorted({int(level) for level in attention_levels})
        if any(not 0 <= level <= len(multipliers) for level in levels):
            raise ValueError(f"attention_levels must be in 0..{len(multipliers)} (the last is the middle), "
                             f"got {attention_levels!r}")
        self.channels = int(channels)
        self.base_features = int(base_features)
        self.channel_multipliers = tuple(int(m) for m in multipliers)
        self.blocks_per_level = int(blocks_per_level)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.groups = int(groups)
        self.dropout = float(dropout)
        self.attention_levels = tuple(levels)
        self.attention_heads = int(attention_heads)

        F = self.base_features
        widths = [F * m for m in self.channel_multipliers]
        self.embedding_units = 4 * F
        self.time_embedding = LearnableSinusoidalEmbedding(F, self.embedding_units, name="time_embedding")
        self.class_embedding = (
            layers.Embedding(self.num_classes + 1, self.embedding_units, name="class_embedding")
            if self.num_classes else None
        )
        self.init_conv = layers.Conv2D(F, 3, padding="same", name="init_conv")

        def block(width, name):
            return ResidualConvBlock(width, groups=self.groups, dropout=self.dropout, name=name)

        def attention(level, name):  # None where the level has no attention
            if level not in self.attention_levels:
                return None
            return SpatialSelfAttention(self.attention_heads, groups=self.groups, name=name)

        self.down_blocks = [[block(w, f"down{l}_block{b}") for b in range(self.blocks_per_level)]
                            for l, w in enumerate(widths)]
        self.down_attention = [[attention(l, f"down{l}_attention{b}") for b in range(self.blocks_per_level)]
                               for l in range(len(widths))]
        self.downsamples = [Downsample(w, name=f"down{l}_downsample") for l, w in enumerate(widths)]
        self.middle = block(widths[-1], "middle_block")
        self.middle_attention = attention(len(widths), "middle_attention")
        self.upsamples = [Upsample(w, name=f"up{l}_upsample") for l, w in enumerate(widths)]
        self.up_blocks = [[block(w, f"up{l}_block{b}") for b in range(self.blocks_per_level)]
                          for l, w in enumerate(widths)]
        self.up_attention = [[attention(l, f"up{l}_attention{b}") for b in range(self.blocks_per_level)]
                             for l in range(len(widths))]
        self.out_norm = layers.GroupNormalization(_group_count(F, self.groups), name="out_norm")
        # Zero-initialised, as in the DDPM reference code: the untrained network predicts eps = 0.
        self.out_conv = layers.Conv2D(self.channels, 3, padding="same", kernel_initializer="zeros",
                                      name="out_conv")

    @property
    def factor(self) -> int:
        """Height and width must be divisible by this (2 per level)."""
        return 2 ** len(self.channel_multipliers)

    def _check_image_shape(self, shape):
        if len(shape) != 4:
            raise ValueError(f"UNet expects images (batch, height, width, channels), got shape {tuple(shape)}")
        _, h, w, c = shape
        if c is not None and int(c) != self.channels:
            raise ValueError(f"UNet was built for {self.channels} channels, got images with {c}")
        for size in (h, w):
            if size is not None and int(size) % self.factor:
                raise ValueError(
                    f"UNet image height and width must be divisible by {self.factor}, got {h}x{w}"
                )

    def build(self, input_shape=None):
        x_shape = tuple(input_shape[0]) if input_shape is not None else (None, 16, 16, self.channels)
        self._check_image_shape(x_shape)
        size = tuple(8 if d is None else int(d) for d in x_shape[1:3])
        x = ops.zeros((1,) + size + (self.channels,))
        t = ops.zeros((1,), "int32")
        inputs = [x, t] + ([ops.zeros((1,), "int32")] if self.num_classes else [])
        self._forward(inputs)  # builds every sub-layer with its real input shapes
        self.built = True

    def embed(self, t, labels=None):
        """The conditioning vector ``(batch, 4F)``: time embedding plus class embedding."""
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            if labels is None:
                labels = ops.full(ops.shape(t)[:1], self.num_classes, "int32")
            labels = ops.convert_to_tensor(labels)
            if len(labels.shape) == 2:  # one-hot rows
                labels = ops.argmax(labels, axis=-1)
            emb = emb + self.class_embedding(ops.cast(labels, "int32"))
        return emb

    def _forward(self, inputs, training=False):
        if self.num_classes:
            if len(inputs) != 3:
                raise ValueError("a class-conditional UNet is called with [x_t, t, labels]")
            x, t, labels = inputs
        else:
            if len(inputs) != 2:
                raise ValueError("an unconditional UNet is called with [x_t, t]")
            (x, t), labels = inputs, None
        self._check_image_shape(tuple(x.shape))
        emb = self.embed(t, labels)
        h = self.init_conv(x)
        skips = []
        for blocks, attentions, downsample in zip(self.down_blocks, self.down_attention, self.downsamples):
            for block, attention in zip(blocks, attentions):
                h = _attend(attention, block([h, emb], training=training))
            skips.append(h)
            h = downsample(h)
        h = _attend(self.middle_attention, self.middle([h, emb], training=training))
        for level in reversed(range(len(self.up_blocks))):
            h = self.upsamples[level](h)
            h = ops.concatenate([h, skips[level]], axis=-1)
            for block, attention in zip(self.up_blocks[level], self.up_attention[level]):
                h = _attend(attention, block([h, emb], training=training))
        return self.out_conv(ops.silu(self.out_norm(h)))

    def call(self, inputs, training=False):
        return self._forward(list(inputs), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "base_features": self.base_features,
            "channel_multipliers": list(self.channel_multipliers),
            "blocks_per_level": self.blocks_per_level,
            "num_classes": self.num_classes,
            "groups": self.groups,
            "dropout": self.dropout,
            "attention_levels": list(self.attention_levels),
            "attention_heads": self.attention_heads,
        }


def _attend(attention, h):
    """``attention(h)``, or ``h`` where the level has no attention block."""
    return h if attention is None else attention(h)
