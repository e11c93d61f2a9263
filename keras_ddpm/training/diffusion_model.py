"""`DiffusionModel`: a `keras.Model` that trains a noise-prediction network with DDPM's Algorithm 1."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_ddpm.process import rng
from keras_ddpm.process.forward import q_sample
from keras_ddpm.process.parameterization import check_prediction, loss_weights, training_target
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.process.timesteps import (
    TimestepDistribution,
    UniformTimesteps,
    timestep_distribution,
)
from keras_ddpm.samplers import DDIMSampler, DDPMSampler, Sampler
from keras_ddpm.training.denoising_model import DenoisingModel
from keras_ddpm.utils import checks

#: The samplers `DiffusionModel.generate` knows by name, made from the model's schedule and
#: prediction: DDPM with sigma_t^2 = beta_t, deterministic DDIM in 50 steps (all T when T < 50).
SAMPLERS = {
    "ddpm": lambda schedule, prediction: DDPMSampler(schedule, prediction=prediction),
    "ddim": lambda schedule, prediction: DDIMSampler(schedule, num_steps=min(50, schedule.timesteps),
                                                     prediction=prediction),
}


def _replica_share(draw, batch):
    """``draw(batch)`` on one device; under a `tf.distribute` strategy with N replicas, this
    replica's rows of ``draw(N * batch)``.

    Every replica holds the same seed generator state, so drawing ``batch`` rows on each would
    give all replicas the same t and eps for their different examples. Drawing the global batch
    and keeping the rows of this replica's slice (replica r trains on rows ``r*batch..`` of each
    global batch) gives each example the t and eps it gets on one device, so N replicas take the
    same updates as one device on the same global batch, up to floating-point rounding. That
    needs equal per-replica batches, as datasets with ``drop_remainder=True`` give (the default of
    `keras_ddpm.data.make_dataset`); with unequal ones (a short last batch) a few rows of two
    replicas can share their draws.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    context = tf.distribute.get_replica_context()
    if replicas == 1 or context is None:
        return draw(batch)
    start = tf.cast(context.replica_id_in_sync_group, tf.int32) * batch
    return draw(batch * replicas)[start:start + batch]


@keras.saving.register_keras_serializable(package="keras_ddpm")
class DiffusionModel(DenoisingModel):
    """Owns a denoising network eps_theta and a `NoiseSchedule`; `fit` runs Algorithm 1.

    Training step (Ho et al. 2020, Algorithm 1), for every example of the batch independently:
    ``x_0`` from the data, ``t ~ Uniform{0..T-1}`` (0-based, paper step t+1),
    ``eps ~ N(0, I)``, ``x_t = q_sample(x_0, t, eps)`` (eq. 4), and a gradient step on
    ``|| eps - eps_theta(x_t, t) ||^2`` (eq. 14, the "simple" loss, averaged over the batch and
    the data dimensions).

    ``prediction="v"`` trains the network to predict ``v = sqrt(alpha-bar_t) eps -
    sqrt(1 - alpha-bar_t) x_0`` instead (Salimans & Ho 2022), and ``min_snr_gamma`` weights each
    example's loss by the min-SNR-gamma weight of its t (Hang et al. 2023); both are explained in
    `keras_ddpm.process.parameterization`. The samplers must be told the same ``prediction``
    (`generate` does that itself).

    The batch may be ``x_0`` alone or a tuple ``(x_0, labels, ...)``. Labels are used only when
    the network is class-conditional (it has an integer ``num_classes`` attribute and is called as
    ``network([x_t, t, labels])``); they are integer class ids in ``0..num_classes-1`` (one-hot
    rows are accepted and turned into ids). For classifier-free guidance (Ho & Salimans 2022),
    ``class_dropout`` replaces each label by the "no class" id ``num_classes`` with that
    probability, so one network learns both eps(x_t, t, y) and eps(x_t, t).

    ``model([x_t, t])`` calls the network, so the model can be used like the network itself.

    **Fused steps.** With ``fused_steps=K > 1`` every batch that `fit` passes to `train_step` is a
    stack of k consecutive minibatches, shape ``(k, B, ...)`` (labels ``(k, B[, num_classes])``),
    normally k = K as `keras_ddpm.data.fuse_steps` makes them. `train_step` then runs the k
    Algorithm-1 updates one after the other in one graph loop
    (``tf.while_loop``; one XLA cluster with ``compile(jit_compile=True)``): the same updates, in
    the same order, as k calls with ``fused_steps=1``, without the per-step cost of Keras' own
    multi-step loop (``steps_per_execution``), which dominates for a small network at batch 64.
    The loss reported for such a batch is the mean of its k minibatch losses; ``optimizer.iterations``
    still counts updates. `test_step` treats a stack as one batch of ``k * B`` examples. Only
    with the default (single-device) strategy: under a `tf.distribute` strategy the stack would
    be split along its step axis.

    **Training timesteps.** ``timestep_distribution`` draws each example's ``t``: Algorithm 1's
    ``Uniform{0..T-1}`` by default (`UniformTimesteps`), or another `TimestepDistribution` such
    as `SmallTimestepMixture`, which favours the smallest timesteps (see
    `keras_ddpm.process.timesteps`: drawing from ``p(t)`` weights the eq. 14 loss by ``T p(t)``).

    The gradient step, the default optimizer and the replica scaling under a `tf.distribute`
    strategy come from `DenoisingModel`, shared with `DenoisingScoreMatching`.

    Args:
        network: a Keras model mapping ``[x_t, t]`` to a tensor shaped like ``x_t``.
        schedule: the `NoiseSchedule` (default: linear, T=1000).
        seed: seed of the `keras.random.SeedGenerator` that draws ``t`` and ``eps`` in training
            (through `keras_ddpm.process.rng`: Philox keyed by the generator's state without TensorFlow's
            seed hash, which XLA recomputed for every number drawn).
        class_dropout: probability of training a class-conditional network on the "no class"
            label (classifier-free guidance); 0 for unconditional networks.
        fused_steps: the number of minibatches stacked in each batch (see above); 1 for plain
            batches.
        timestep_distribution: the `TimestepDistribution` of the training ``t`` (default:
            `UniformTimesteps`, Algorithm 1).
        prediction: what the network predicts, ``"epsilon"`` (Algorithm 1) or ``"v"``.
        min_snr_gamma: gamma of the min-SNR loss weighting (Hang et al. use 5); None for the
            unweighted eq. 14 loss.

    Compile it like any model (an optimizer only: there is no ``loss`` to pass); `compile()` with
    no optimizer uses the assignment's Adam(1e-4). `fit` builds the model from the data, so saving,
    reloading and Keras' callbacks need no manual `build`. `generate` draws samples through the
    compiled DDPM or DDIM sampler.
    For an exponential moving average of the weights use Keras' own option,
    ``keras.optimizers.Adam(1e-4, use_ema=True, ema_momentum=0.999)``: Keras swaps the averaged
    weights in at the end of `fit`.
    """

    def __init__(self, network: keras.Model, schedule: NoiseSchedule | None = None, seed=None,
                 class_dropout: float = 0.0, fused_steps: int = 1,
                 timestep_distribution: TimestepDistribution | None = None, prediction: str = "epsilon",
                 min_snr_gamma: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.prediction = check_prediction(prediction)
        self.min_snr_gamma = (None if min_snr_gamma is None
                              else checks.positive_float("min_snr_gamma", min_snr_gamma))
        if not 0.0 <= class_dropout < 1.0:
            raise ValueError(f"class_dropout must be in [0, 1), got {class_dropout!r}")
        self.fused_steps = checks.positive_int("fused_steps", fused_steps)
        self.network = network
        self.schedule = schedule if schedule is not None else NoiseSchedule()
        if timestep_distribution is None:
            timestep_distribution = UniformTimesteps()
        if not isinstance(timestep_distribution, TimestepDistribution):
            raise ValueError("timestep_distribution must be a TimestepDistribution (e.g. UniformTimesteps()), "
                             f"got {timestep_distribution!r}")
        self.timestep_distribution = timestep_distribution.check(self.schedule.timesteps)
        self.seed = seed
        self.num_classes = getattr(network, "num_classes", None)
        if class_dropout and not self.num_classes:
            raise ValueError("class_dropout needs a class-conditional network (one with num_classes)")
        self.class_dropout = float(class_dropout)
        self.noise_seed = keras.random.SeedGenerator(seed, name="noise_seed")
        self._samplers = {}

    # -- Keras plumbing -------------------------------------------------------------------------
    predict_hint = ("draw samples with model.generate(num_samples), or get the noise prediction "
                    "eps_theta(x_t, t) from model.network.predict([x_t, t])")

    @property
    def denoiser(self):
        return self.network

    def denoiser_input_shapes(self, batch_shape):
        batch = (batch_shape[0],)
        return [batch_shape, batch] + ([batch] if self.num_classes else [])

    def example_shape(self, batch_shape):
        # A fused batch is a stack (steps, batch, ...) of minibatches.
        return tuple(batch_shape[1 + (self.fused_steps > 1):])

    # -- sampling --------------------------------------------------------------------------------
    def generate(self, num_samples: int, sampler="ddpm", seed: int = 0, labels=None, guidance_scale: float = 1.0,
                 progress=False):
        """Draw ``num_samples`` samples from the trained network with a compiled sampler.

        Args:
            num_samples: how many samples.
            sampler: ``"ddpm"`` (Algorithm 2, `DDPMSampler`), ``"ddim"`` (eq. 12, `DDIMSampler`
                with 50 deterministic steps, or T when T < 50), or any `keras_ddpm.samplers.Sampler` instance, e.g.
                ``DDIMSampler(model.schedule, num_steps=20, eta=0.5)``.
            seed: the same seed gives the same samples.
            labels: class ids, one per sample, for a class-conditional network (None: unconditional).
            guidance_scale: classifier-free guidance weight w (see `keras_ddpm.samplers.base`).
            progress: 1/True: a Keras progress bar; 2: one line when done; 0/False: silent.

        Returns:
            a NumPy array ``(num_samples, *data_shape)``.
        """
        num_samples = checks.positive_int("num_samples", num_samples)
        shape = self.data_shape
        if shape is None and hasattr(self.network, "data_dim"):
            shape = (self.network.data_dim,)
        if shape is None:
            raise ValueError("generate needs the shape of the data: fit the model first, or build it with the "
                             "shape of a batch, e.g. model.build((None, 16, 16, 3))")
        return self._sampler(sampler).sample(self.network, (num_samples,) + tuple(shape), seed=seed, labels=labels,
                                             guidance_scale=guidance_scale, progress=progress)

    def _sampler(self, sampler):
        if isinstance(sampler, Sampler):
            return sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} or a Sampler instance, got {sampler!r}")
        if sampler not in self._samplers:  # kept, so that its compiled loop is traced once
            self._samplers[sampler] = SAMPLERS[sampler](self.schedule, self.prediction)
        return self._samplers[sampler]

    # -- Algorithm 1 ----------------------------------------------------------------------------
    def per_example_loss(self, x0, t, noise, labels=None, training: bool = False):
        """``|| eps - eps_theta(x_t, t) ||^2`` averaged over the data dimensions, one value per example
        (with ``prediction="v"``, the same error on v; never min-SNR weighted).

        ``t`` holds one 0-based timestep per example; ``x_t = q_sample(x0, t, noise)`` (eq. 4).
        Exposed so that callers can bin the loss by ``t`` (the average over t hides where the
        model is still bad).
        """
        # The forward process and the loss in float32 whatever the network computes in (mixed precision).
        x0 = ops.convert_to_tensor(x0, dtype="float32")
        noise = ops.cast(noise, "float32")
        x_t = q_sample(self.schedule, x0, t, noise)
        if labels is None and self._embeds_through_table(x0):
            # Same function, less work: embed each of the T timesteps once and pick rows, instead
            # of embedding every example's t (the batch holds more examples than there are t).
            table = self.network.embed_time(ops.arange(self.schedule.timesteps, dtype="int32"))
            output = self.network.denoise(x_t, ops.take(table, t, axis=0))
        else:
            inputs = [x_t, t] if labels is None else [x_t, t, labels]
            output = self.network(inputs, training=training)
        target = training_target(self.schedule, self.prediction, x0, t, noise)
        axes = tuple(range(1, len(x0.shape)))
        return ops.mean(ops.square(target - ops.cast(output, "float32")), axis=axes)

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

    def sample_timesteps(self, batch):
        """One 0-based ``t`` per example, from ``timestep_distribution`` (Algorithm 1: uniform)."""
        return self.timestep_distribution.sample(batch, self.schedule.timesteps, self.noise_seed)

    def diffusion_loss(self, x0, training: bool, labels=None):
        """The eq. 14 loss on a batch ``x0``: fresh ``t`` (`sample_timesteps`) and ``eps`` per
        example, MSE on eps (or v), each example weighted by its t's min-SNR weight when
        ``min_snr_gamma`` is set."""
        x0 = ops.convert_to_tensor(x0, dtype="float32")
        batch = ops.shape(x0)[0]
        t = _replica_share(self.sample_timesteps, batch)
        noise = _replica_share(lambda n: rng.normal((n,) + tuple(ops.shape(x0)[1:]), self.noise_seed,
                                                    dtype=x0.dtype), batch)
        if labels is not None and training and self.class_dropout > 0:
            drop = _replica_share(lambda n: rng.uniform((n,), self.noise_seed), batch) < self.class_dropout
            labels = ops.where(drop, ops.full_like(labels, self.num_classes), labels)
        losses = self.per_example_loss(x0, t, noise, labels, training=training)
        if self.min_snr_gamma is not None:
            losses = losses * ops.take(loss_weights(self.schedule, self.prediction, self.min_snr_gamma), t)
        return ops.mean(losses)

    def _unpack(self, data):
        """``(x0, labels)`` from a batch; labels as given (None when the batch has none)."""
        if isinstance(data, (tuple, list)):
            x0 = data[0]
            labels = data[1] if len(data) > 1 else None
        else:
            x0, labels = data, None
        if self.num_classes and labels is None:
            raise ValueError("a class-conditional network needs (x0, labels) batches")
        if not self.num_classes:
            labels = None
        return x0, labels

    def _check_stacked(self, x0):
        rank = len(self.data_shape) if self.data_shape is not None else (
            1 if hasattr(self.network, "data_dim") else None)
        if rank is not None and len(x0.shape) != rank + 2:
            raise ValueError(
                f"fused_steps={self.fused_steps} expects each batch to be a stack of minibatches, shape "
                f"(steps, batch, ...) with {rank} data axes (keras_ddpm.data.fuse_steps); got shape "
                f"{tuple(x0.shape)}"
            )

    def batch_loss(self, data, training: bool):
        """The eq. 14 loss of a batch; a stack of fused minibatches counts as one batch of all its
        examples (as `test_step` sees it)."""
        x0, labels = self._unpack(data)
        if self.fused_steps > 1:
            self._check_stacked(x0)
            x0 = ops.reshape(x0, (-1,) + tuple(x0.shape[2:]))
            if labels is not None:
                labels = ops.reshape(labels, (-1,) + tuple(labels.shape[2:]))
        return self.diffusion_loss(x0, training=training, labels=self.class_ids(labels))

    def _update(self, x0, labels):
        """One Algorithm-1 update on the minibatch ``x0``; returns its loss."""
        return self.apply_update(lambda: self.diffusion_loss(x0, training=True, labels=self.class_ids(labels)))

    def train_step(self, data):
        if self.fused_steps == 1:
            return super().train_step(data)  # one Algorithm-1 update on the batch
        x0, labels = self._unpack(data)
        self._check_stacked(x0)
        # A static trip count when the stack's shape is known (faster under XLA:
        # docs/design-notes.md#fused-training-steps).
        steps = x0.shape[0] if x0.shape[0] is not None else tf.shape(x0)[0]

        def body(k, total):
            return k + 1, total + self._update(x0[k], None if labels is None else labels[k])

        _, total = tf.while_loop(lambda k, _: k < steps, body, (tf.constant(0), tf.constant(0.0, tf.float32)))
        # Weighted by the number of updates, so the epoch's loss is the mean over all minibatches.
        self.loss_tracker.update_state(total / ops.cast(steps, total.dtype), sample_weight=steps)
        return self.step_logs()

    # -- serialization --------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "schedule": self.schedule.get_config(),
            "seed": self.seed,
            "class_dropout": self.class_dropout,
            "fused_steps": self.fused_steps,
            "timestep_distribution": keras.saving.serialize_keras_object(self.timestep_distribution),
            "prediction": self.prediction,
            "min_snr_gamma": self.min_snr_gamma,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"), custom_objects=custom_objects)
        schedule = NoiseSchedule.from_config(config.pop("schedule"))
        fraction, steps = config.pop("small_t_fraction", 0.0), config.pop("small_t_steps", 0)  # older files
        distribution = config.pop("timestep_distribution", None)
        distribution = (keras.saving.deserialize_keras_object(distribution, custom_objects=custom_objects)
                        if distribution is not None else timestep_distribution(fraction, steps))
        return cls(network=network, schedule=schedule, timestep_distribution=distribution, **config)
