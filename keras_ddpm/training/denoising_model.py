"""`DenoisingModel`: the base of the `keras.Model`s that train a network with a denoising loss.

DDPM's Algorithm 1 (`DiffusionModel`) and denoising score matching (`DenoisingScoreMatching`)
share one training step: draw noise, corrupt a batch of clean data, regress the network onto a
function of that noise, take one gradient step. This class holds what they share, so each
subclass states only its loss (`batch_loss`):

- ``train_step``: the gradient of `batch_loss` with respect to the network's weights, applied by
  the compiled optimizer (`apply_update`); ``test_step``: the same loss without the update.
  Under a `tf.distribute` strategy each replica's loss is divided by the number of replicas
  before the gradient (Keras' optimizer sums the replicas' gradients), so an update equals the
  single-device update on the same global batch.
- ``compile()`` without an optimizer uses `default_optimizer` (the assignment's Adam(1e-4)); a
  ``loss`` or ``metrics`` argument is refused, since the model trains on its own loss.
- ``fit``/``evaluate`` build the model and its optimizer from the data's shape before the first
  batch (a `tf.data.Dataset`'s ``element_spec``, an array's shape, a `keras.utils.PyDataset`'s
  first batch), so every standard callback (``BackupAndRestore``, ``ModelCheckpoint``) and
  ``save``/``load_model`` work without a manual ``build``; the data shape is saved with the model.
- ``model(inputs)`` calls the network, so the model can be used like the network itself;
  ``predict`` on data is refused with a pointer to what to call instead.
- one ``loss`` metric, the mean over the epoch's batches.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_ddpm.layers.precision import precision_of, reapply_precision


#: The `compile` arguments this model has no use for (it computes its own loss).
IGNORED_COMPILE_ARGS = ("loss", "metrics", "weighted_metrics", "loss_weights")


def _given(value) -> bool:
    return value is not None and not (isinstance(value, (list, tuple, dict)) and len(value) == 0)


class DenoisingModel(keras.Model):
    """Trains ``self.denoiser`` (set by the subclass) on `batch_loss`; see the module docstring."""

    #: What to call instead of ``predict`` (set by the subclass).
    predict_hint = "call the network itself"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._data_shape = None

    # -- what a subclass defines --------------------------------------------------------------------
    @property
    def denoiser(self) -> keras.Model:
        """The network this model trains."""
        raise NotImplementedError

    def batch_loss(self, data, training: bool):
        """The scalar loss of one batch as `fit` passes it (fresh noise drawn on every call)."""
        raise NotImplementedError

    def denoiser_input_shapes(self, batch_shape):
        """The input shapes of ``self.denoiser`` for data batches of ``batch_shape`` (by default the
        batch itself; the models whose network also takes a timestep or noise level add it)."""
        return batch_shape

    @staticmethod
    def default_optimizer() -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(learning_rate=1e-4)

    def example_shape(self, batch_shape):
        """The shape of one example in a data batch of ``batch_shape`` as `fit` passes it."""
        return tuple(batch_shape[1:])

    # -- building -----------------------------------------------------------------------------------
    @property
    def data_shape(self):
        """The shape of one example, known once the model is built (None before)."""
        return self._data_shape

    def build(self, input_shape=None):
        """Build the network for data batches of ``input_shape``, e.g. ``(None, 2)`` for points.

        ``input_shape`` is the shape of one batch of ``x0`` (without fused steps' stacking axis).
        `fit` and `evaluate` call this from the data; Keras saves the shape and calls it again
        when the model is loaded.
        """
        if input_shape is not None:
            self._data_shape = tuple(input_shape)[1:]
        if not self.denoiser.built:
            if input_shape is None:
                raise ValueError(f"build {type(self).__name__} with the shape of a data batch, e.g. (None, 2)")
            self.denoiser.build(self.denoiser_input_shapes(tuple(input_shape)))
        # The network's mixed policy on every inner layer: also on those its build made, and
        # again on a loaded network, whose constructor made its inner layers float32.
        reapply_precision(self.denoiser)
        self.built = True

    def build_from_data(self, x):
        """Build the model (unless built) and the compiled optimizer for the data ``x`` given to `fit`.

        Reads only shapes: a `tf.data.Dataset`'s ``element_spec``, an array's ``shape``, or the first
        batch of a `keras.utils.PyDataset`. A Python generator is left alone (it cannot be peeked at
        without losing a batch): build such a model yourself with `build`.
        """
        if not self.built:
            batch_shape = _batch_shape(x)
            if batch_shape is not None:
                shape = self.example_shape(batch_shape)
                if shape and None not in shape:
                    with self.distribute_strategy.scope():
                        self.build((None,) + shape)
        optimizer = getattr(self, "optimizer", None)
        if self.built and optimizer is not None and not optimizer.built:
            # Built now, not at the first step, so that a resumed run's optimizer state
            # (BackupAndRestore, load_weights) has variables to load into.
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)

    def fit(self, x=None, *args, **kwargs):
        self.build_from_data(x)
        return super().fit(x, *args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras' TensorFlow trainer (3.15) pulls a batch from a fresh iterator of the data under any
        # tf.distribute strategy, to build a model that `build_from_data` has built already. That
        # starts a pass over the dataset which training never sees, and a dataset reshuffled on
        # every pass (keras_ddpm.data.make_dataset) then trains epoch k on the order of epoch k+1:
        # not the order one device sees for the same seed. Built, nothing needs the batch.
        if iterator is not None and self.built and all(layer.built for layer in self._flatten_layers()):
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def evaluate(self, x=None, *args, **kwargs):
        self.build_from_data(x)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} has nothing to predict from data: {self.predict_hint}")

    def predict_on_batch(self, *args, **kwargs):
        return self.predict(*args, **kwargs)

    # -- Keras plumbing -----------------------------------------------------------------------------
    def compile(self, optimizer=None, loss=None, loss_weights=None, metrics=None, weighted_metrics=None, **kwargs):
        given = dict(zip(IGNORED_COMPILE_ARGS, (loss, metrics, weighted_metrics, loss_weights)))
        ignored = [name for name, value in given.items() if _given(value)]
        if ignored:
            raise ValueError(
                f"{type(self).__name__}.compile() takes no {' or '.join(ignored)}: the model trains on its own "
                "loss (see its train_step) and reports it as 'loss'; pass an optimizer and Keras' run options only"
            )
        optimizer = optimizer if optimizer is not None else self.default_optimizer()
        if isinstance(optimizer, str):
            optimizer = keras.optimizers.get(optimizer)
        if (precision_of(self.denoiser) == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            # What Keras' compile does for a model whose own policy is mixed_float16 (here the
            # network's is): dynamic loss scaling, so that float16 gradients do not underflow.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # `compile` is overridden (for the default optimizer), so Keras asks us to restore it here.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=False):
        return self.denoiser(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    # -- the shared step ----------------------------------------------------------------------------
    def apply_update(self, loss_fn):
        """One optimizer step on the gradient of ``loss_fn()`` with respect to the network's trainable
        weights; returns the loss."""
        with tf.GradientTape() as tape:
            loss = loss_fn()
            # The optimizer sums gradients over replicas: scale so the update is the global mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
            # Times the loss scale under mixed_float16 (a LossScaleOptimizer divides the gradients
            # by it again and skips a step whose gradients overflowed), as Keras' own train_step;
            # unchanged otherwise.
            scaled = self.optimizer.scale_loss(scaled)
        variables = self.denoiser.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return loss

    def train_step(self, data):
        loss = self.apply_update(lambda: self.batch_loss(data, training=True))
        self.loss_tracker.update_state(loss)
        return self.step_logs()

    def test_step(self, data):
        self.loss_tracker.update_state(self.batch_loss(data, training=False))
        return self.step_logs()

    def step_logs(self) -> dict:
        """What a step returns to `fit`: ``{"loss": the running mean}``.

        With several workers (`tf.distribute.MultiWorkerMirroredStrategy` in multi-worker mode),
        Keras 3's ``reduce_per_replica`` reduces each log with ``strategy.reduce("MEAN", v,
        axis=0)``, which fails on a scalar ("Invalid reduction dimension 0 for input with 0
        dimensions", tensorflow/tensorflow#72388); a shape-(1,) value reduces over the replicas
        and that axis to the same scalar mean.
        """
        loss = self.loss_tracker.result()
        if _multi_worker(tf.distribute.get_strategy()):
            loss = tf.reshape(loss, (1,))
        return {"loss": loss}


def _multi_worker(strategy) -> bool:
    """Keras' own test for the multi-worker reduction (``_collective_all_reduce_multi_worker``)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return bool(in_mode()) if in_mode is not None else False


def _batch_shape(x):
    """The shape of one batch of ``x0`` in the data ``x`` given to `fit`, or None when unknown."""
    if isinstance(x, (tuple, list)):
        return _batch_shape(x[0]) if x else None
    spec = getattr(x, "element_spec", None)  # tf.data.Dataset (and distributed datasets)
    if spec is not None:
        if isinstance(spec, (tuple, list)):
            spec = spec[0]
        shape = getattr(spec, "shape", None)
        return tuple(shape) if shape is not None and shape.rank is not None else None
    if isinstance(x, keras.utils.PyDataset):
        return _batch_shape(x[0])
    shape = getattr(x, "shape", None)  # arrays and tensors: fit batches along the first axis
    return (None,) + tuple(shape[1:]) if shape is not None and len(shape) > 1 else None
