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

    The batch may be ``x_0`` alone or a tuple ``(x_0, labels, ...)``. Labels are used only when
    the network is class-conditional (it has an integer ``num_classes`` attribute and is called as
    ``network([x_t, t, labels])``); they are integer class ids in ``0..num_classes-1`` (one-hot
    rows are accepted and turned into ids). For classifier-free guidance (Ho & Salimans 2022),
    ``class_dropout`` replaces each label by the "no class" id ``num_classes`` with that
    probability, so one network learns both eps(x_t, t, y) and eps(x_t, t).

    ``model([x_t, t])`` calls the network, so the model can be used like the network itself.

    Under a `tf.distribute` strategy each replica's loss is divided by the number of replicas
    before the gradient (Keras' optimizer sums the replicas' gradients), so the update equals the
    single-device update on the same global batch.

    Args:
        network: a Keras model mapping ``[x_t, t]`` to a tensor shaped like ``x_t``.
        schedule: the `NoiseSchedule` (default: linear, T=1000).
        seed: seed of the random stream for ``t`` and ``eps`` in training.
        class_dropout: probability of training a class-conditional network on the "no class"
            label (classifier-free guidance); 0 for unconditional networks.

    Compile it like any model; `compile()` with no optimizer uses the assignment's Adam(1e-4).
    For an exponential moving average of the weights use Keras' own option,
    ``keras.optimizers.Adam(1e-4, use_ema=True, ema_momentum=0.999)``: Keras swaps the averaged
    weights in at the end of `fit`.
    """

    def __init__(self, network: keras.Model, schedule: NoiseSchedule | None = None, seed=None,
                 class_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= class_dropout < 1.0:
            raise ValueError(f"class_dropout must be in [0, 1), got {class_dropout!r}")
        self.network = network
        self.schedule = schedule if schedule is not None else NoiseSchedule()
        self.seed = seed
        self.num_classes = getattr(network, "num_classes", None)
        if class_dropout and not self.num_classes:
            raise ValueError("class_dropout needs a class-conditional network (one with num_classes)")
        self.class_dropout = float(class_dropout)
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
            inputs = [shape, (shape[0],)] + ([(shape[0],)] if self.num_classes else [])
            self.network.build(inputs)
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    # -- Algorithm 1 ----------------------------------------------------------------------------
    def per_example_loss(self, x0, t, noise, labels=None, training: bool = False):
        """``|| eps - eps_theta(x_t, t) ||^2`` averaged over the data dimensions, one value per example.

        ``t`` holds one 0-based timestep per example; ``x_t = q_sample(x0, t, noise)`` (eq. 4).
        Exposed so that callers can bin the loss by ``t`` (the average over t hides where the
        model is still bad).
        """
        x0 = ops.convert_to_tensor(x0, dtype=self.compute_dtype)
        x_t = q_sample(self.schedule, x0, t, noise)
        if labels is None and self._embeds_through_table(x0):
            # Same function, less work: embed each of the T timesteps once and pick rows, instead
            # of embedding every example's t (the batch holds more examples than there are t).
            table = self.network.embed_time(ops.arange(self.schedule.timesteps, dtype="int32"))
            eps_pred = self.network.denoise(x_t, ops.take(table, t, axis=0))
        else:
            inputs = [x_t, t] if labels is None else [x_t, t, labels]
            eps_pred = self.network(inputs, training=training)
        axes = tuple(range(1, len(x0.shape)))
        return ops.mean(ops.square(noise - eps_pred), axis=axes)

    def _embeds_through_table(self, x0) -> bool:
        batch = x0.shape[0]
        return (hasattr(self.network, "embed_time") and hasattr(self.network, "denoise")
                and batch is not None and batch > self.schedule.timesteps)

    def class_ids(self, labels):
        """Integer class ids from ids or one-hot rows; None for an unconditional network."""
        if not self.num_classes or labels is None:
            return None
        labels = ops.convert_to_tensor(labels)
        if len(labels.shape) == 2:
            labels = ops.argmax(labels, axis=-1)
        return ops.cast(labels, "int32")

    def diffusion_loss(self, x0, training: bool, labels=None):
        """The eq. 14 loss on a batch ``x0``: fresh ``t`` and ``eps`` per example, MSE on eps."""
        x0 = ops.convert_to_tensor(x0, dtype=self.compute_dtype)
        batch = ops.shape(x0)[0]
        t = keras.random.randint(
            (batch,), 0, self.schedule.timesteps, dtype="int32", seed=self.noise_seed
        )
        noise = keras.random.normal(ops.shape(x0), dtype=x0.dtype, seed=self.noise_seed)
        if labels is not None and training and self.class_dropout > 0:
            drop = keras.random.uniform((batch,), seed=self.noise_seed) < self.class_dropout
            labels = ops.where(drop, ops.full_like(labels, self.num_classes), labels)
        return ops.mean(self.per_example_loss(x0, t, noise, labels, training=training))

    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            x0 = data[0]
            labels = data[1] if len(data) > 1 else None
        else:
            x0, labels = data, None
        labels = self.class_ids(labels)
        if self.num_classes and labels is None:
            raise ValueError("a class-conditional network needs (x0, labels) batches")
        return x0, labels

    def train_step(self, data):
        x0, labels = self._unpack(data)
        with tf.GradientTape() as tape:
            loss = self.diffusion_loss(x0, training=True, labels=labels)
            # The optimizer sums gradients over replicas: scale so the update is the global mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.network.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x0, labels = self._unpack(data)
        loss = self.diffusion_loss(x0, training=False, labels=labels)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    # -- serialization --------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": self.schedule.get_config(),
            "seed": self.seed,
            "class_dropout": self.class_dropout,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"), custom_objects=custom_objects)
        schedule = NoiseSchedule.from_config(config.pop("schedule"))
        return cls(network=network, schedule=schedule, **config)
