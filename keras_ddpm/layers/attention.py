"""`SpatialSelfAttention`: self-attention over the pixels of a feature map (the DDPM UNet's
attention block).

Registered serializable (``package="keras_ddpm"``) with `get_config`; channels-last images.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_ddpm.layers.conv import _group_count
from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class SpatialSelfAttention(layers.Layer):
    """A residual self-attention block over the ``H * W`` positions of a feature map.

    As in Ho et al. 2020 (appendix B, the attention block of their UNet, after Wang et al. 2018's
    non-local block), split into heads::

        h = GroupNorm(x)                                   # (batch, H*W, C): the pixels as tokens
        q, k, v = Dense(3C)(h)                             # per head: C / num_heads dimensions
        h = softmax(q k^T / sqrt(C / num_heads)) v         # keras.ops.dot_product_attention
        out = x + Dense(C)(h)

    The output projection starts at zero (as the reference code's ``proj_out``), so a freshly
    built block is the identity and adding it does not disturb a UNet's start.

    Call with ``x`` ``(batch, H, W, C)``; returns the same shape.

    Args:
        num_heads: attention heads; ``C`` must be divisible by it (each head has ``C / num_heads``
            dimensions).
        groups: groups of the GroupNormalization (reduced to a divisor of the channels).
    """

    def __init__(self, num_heads: int = 1, groups: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = checks.positive_int("SpatialSelfAttention num_heads", num_heads)
        self.groups = checks.positive_int("groups", groups)
        self.norm = self.qkv = self.projection = None

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.num_heads:
            raise ValueError(f"SpatialSelfAttention: {channels} channels do not split into {self.num_heads} heads")
        self.norm = layers.GroupNormalization(_group_count(channels, self.groups), name="norm",
                                              dtype=self.dtype_policy)
        self.qkv = layers.Dense(3 * channels, name="qkv", dtype=self.dtype_policy)
        self.projection = layers.Dense(channels, kernel_initializer="zeros", name="projection",
                                       dtype=self.dtype_policy)
        self.norm.build(input_shape)
        self.qkv.build((None, channels))
        self.projection.build((None, channels))
        self.built = True

    def call(self, x):
        shape = ops.shape(x)
        channels = x.shape[-1]
        tokens = ops.reshape(self.norm(x), (shape[0], shape[1] * shape[2], channels))
        heads = ops.reshape(self.qkv(tokens), (shape[0], -1, 3, self.num_heads, channels // self.num_heads))
        q, k, v = heads[:, :, 0], heads[:, :, 1], heads[:, :, 2]  # (batch, H*W, num_heads, C / num_heads)
        h = ops.dot_product_attention(q, k, v)
        h = self.projection(ops.reshape(h, (shape[0], -1, channels)))
        return x + ops.reshape(h, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "groups": self.groups}
