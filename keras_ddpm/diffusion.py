"""`DiffusionModel`: a `keras.Model` that trains a noise-prediction network with DDPM's Algorithm 1."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_ddpm.forward import q_sample
from keras_ddpm.schedules import NoiseSchedule


@keras.saving.register_keras_serializable(package="keras_ddpm")
class DiffusionModel(keras.Model):
    """Owns a denoising network eps_theta and a `NoiseSchedule`; `fit` runs Algorithm 1.

    Training step (Ho et al. 2020, Algorithm 1), for every example of the batch independently:
    ``x_0`` from the data, ``t ~ Uniform{0..T-1}`` (0-based, paper step t+1),
    ``eps ~ N(0, I)``, ``x_t = q_sample(x_0, t, eps)`` (eq. 4), and a gradient step on
    ``|| eps - eps_theta(x_t, t) ||^2`` (eq. 14, the "simple" loss, averaged over the batch and
    the data dimensions).

    The batch may be ``x_0`` alone or a tuple whose first element is ``x_0`` (labels ignored).
    ``model([x_t, t])`` calls the network, so the model can be used like the network itself.

    Args:
        network: a Keras model mapping ``[x_t, t]`` to a tensor shaped like ``x_t``.
        schedule: the `NoiseSchedule` (default: linear, T=1000).
        seed: seed of the random stream for ``t`` and ``eps`` in training.

    Compile it like any model; `compile()` with no optimizer uses the assignment's Adam(1e-4).
    For an exponential moving average of the weights use Keras' own option,
    ``keras.optimizers.Adam(1e-4, use_ema=True, ema_momentum=0.999)``: Keras swaps the averaged
    weights in at the end of `fit`.
    """

    def __init__(self, network: keras.Model, schedule: NoiseSchedule | None = None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.schedule = schedule if schedule is not None else NoiseSchedule()
        self.seed = seed
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    # -- Keras plumbing -------------------------------------------------------------------------
    def compile(self, optimizer=None, **kwargs):
        if optimizer is None:
            optimizer = keras.optimizers.Adam(learning_rate=1e-4)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # `compile` is overridden (for the default optimizer), so Keras asks us to restore it here.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def build(self, input_shape=None):
        if not self.network.built:
            if input_shape is None:
                raise ValueError("build DiffusionModel with the data shape, e.g. (None, 2)")
            shape = tuple(input_shape)
            self.network.build([shape, (shape[0],)])
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    # -- Algorithm 1 ----------------------------------------------------------------------------
    def diffusion_loss(self, x0, training: bool):
        """The eq. 14 loss on a batch ``x0``: fresh ``t`` and ``eps`` per example, MSE on eps."""
        x0 = ops.convert_to_tensor(x0, dtype=self.compute_dtype)
        batch = ops.shape(x0)[0]
        t = keras.random.randint(
            (batch,), 0, self.schedule.timesteps, dtype="int32", seed=self.noise_seed
        )
        noise = keras.random.normal(ops.shape(x0), dtype=x0.dtype, seed=self.noise_seed)
        x_t = q_sample(self.schedule, x0, t, noise)
        eps_pred = self.network([x_t, t], training=training)
        return ops.mean(ops.square(noise - eps_pred))

    @staticmethod
    def _x0(data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def train_step(self, data):
        x0 = self._x0(data)
        with tf.GradientTape() as tape:
            loss = self.diffusion_loss(x0, training=True)
        variables = self.network.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply(gradients, variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        loss = self.diffusion_loss(self._x0(data), training=False)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    # -- serialization --------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": self.schedule.get_config(),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"), custom_objects=custom_objects)
        schedule = NoiseSchedule.from_config(config.pop("schedule"))
        return cls(network=network, schedule=schedule, **config)
