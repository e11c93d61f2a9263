"""`NoiseConditionalScoreNetwork`: ``s_theta(x, sigma)`` for vector data (Song & Ermon 2019).

A single network for every noise level: conditioning on ``sigma`` lets one model serve all the
levels annealed Langevin dynamics visits. Train it with `keras_ddpm.training.score_matching`.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_ddpm.utils import checks


@keras.saving.register_keras_serializable(package="keras_ddpm")
class NoiseConditionalScoreNetwork(keras.Model):
    """``s_theta(x, sigma)``: an MLP score model for vector data, conditioned on the noise level.

    Preconditioned so that every level is an O(1) regression (the output scaling ``1/sigma`` of
    Song & Ermon 2020, "Improved techniques", section 3.3; the input scaling of Karras et al. 2022):

        s_theta(x, sigma) = F([x / sqrt(sigma^2 + data_std^2), log sigma]) / sigma,

    where ``F`` is a dense network (``hidden_units``, ``activation``) with a linear ``data_dim``
    output. At the DSM optimum ``F = sigma grad log p_sigma``, bounded for all ``sigma``.
    Trained with a single ``sigma`` it is a plain DSM score model ``s_theta(x)`` for that level.

    Call with ``[x, sigma]``: ``x`` ``(batch, data_dim)``, ``sigma`` ``(batch,)`` (> 0).
    """

    def __init__(
        self,
        data_dim: int = 2,
        hidden_units=(128, 128, 128),
        data_std: float = 1.0,
        activation: str = "silu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dim = checks.positive_int("data_dim", data_dim)
        self.hidden_units = tuple(checks.positive_int("hidden_units", u) for u in hidden_units)
        self.data_std = checks.positive_float("data_std", data_std)
        self.activation = activation
        self.hidden = [
            layers.Dense(units, activation=activation, name=f"hidden_{i}")
            for i, units in enumerate(self.hidden_units)
        ]
        self.out = layers.Dense(self.data_dim, name="out")
        self.build()

    def build(self, input_shape=None):
        width = self.data_dim + 1
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        self.out.build((None, width))
        self.built = True

    def call(self, inputs):
        x, sigma = inputs
        x = ops.cast(x, self.compute_dtype)
        sigma = ops.reshape(ops.cast(sigma, self.compute_dtype), (-1, 1))
        c_in = ops.rsqrt(ops.square(sigma) + self.data_std**2)
        h = ops.concatenate([x * c_in, ops.log(sigma) * ops.ones_like(x[:, :1])], axis=-1)
        for layer in self.hidden:
            h = layer(h)
        return self.out(h) / sigma

    def score(self, x, sigma):
        """``s_theta(x, sigma)`` with ``sigma`` a scalar or ``(batch,)``; graph-safe (for the samplers)."""
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        sigma = ops.broadcast_to(ops.cast(sigma, self.compute_dtype), ops.shape(x)[:1])
        return self([x, sigma], training=False)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.data_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "data_dim": self.data_dim,
            "hidden_units": list(self.hidden_units),
            "data_std": self.data_std,
            "activation": self.activation,
        }
