"""Mixed precision for a network: a Keras dtype policy on its layers, float32 where it matters.

`apply_precision(network, "mixed_bfloat16")` sets the policy on the network and on every layer
inside it (Keras' mixed precision: variables stay float32, each layer computes in float16 or
bfloat16 and casts its floating inputs to that type;
https://keras.io/api/mixed_precision/policy/), without touching the global policy, so nothing
else in the process changes. Layers whose class sets ``keep_float32 = True`` keep ``float32``:
the sinusoidal time embedding (``t * w_i`` reaches ~1000 radians, and bfloat16's 8-bit mantissa
would round t itself to steps of 4 or 8 there) and the random Fourier features of the
coordinates (the same: large angles). Their outputs feed the next layer, which casts them.

Layers that a network creates in its ``build`` get the policy when it is applied again after the
build: `keras_ddpm.training.DenoisingModel.build` does that (`reapply_precision`). The network's
own policy is part of its config, so a saved model records it; `reapply_precision`
puts it back on the inner layers after loading, since the network's constructor creates them
again in float32.

Everything outside the network stays float32: the schedule tables, the noise, the forward
process, the loss (the network's output is cast to float32 first) and the samplers' updates.
"""

from __future__ import annotations

import keras

#: ``--mixed-precision`` values: "none" (float32), or a Keras mixed policy.
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")


def _flat_layers(layer):
    return layer._flatten_layers(include_self=True, recursive=True)


def apply_precision(network: keras.Layer, precision: str = "none") -> keras.Layer:
    """Set the dtype policy ``precision`` (one of `PRECISIONS`) on ``network`` and its layers;
    ``"none"`` leaves the network as it is (float32). Returns the network.

    Raises:
        ValueError: an unknown ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown mixed precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "none":
        return network
    policy = keras.dtype_policies.get(precision)
    for layer in _flat_layers(network):
        layer.dtype_policy = "float32" if getattr(layer, "keep_float32", False) else policy
    return network


def reapply_precision(network: keras.Layer) -> keras.Layer:
    """Spread ``network``'s own mixed policy (from its constructor or config) over its inner layers
    again; nothing when the network computes in float32."""
    name = network.dtype_policy.name
    if name in PRECISIONS and name != "none":
        apply_precision(network, name)
    return network


def precision_of(network: keras.Layer) -> str:
    """The `PRECISIONS` name of ``network``'s policy ("none" for float32 or any other policy)."""
    name = network.dtype_policy.name
    return name if name in PRECISIONS else "none"
