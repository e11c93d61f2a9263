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
- ``compile()`` without an optimizer uses `default_optimizer` (the assignment's Adam(1e-4)).
- ``model(inputs)`` calls the network, so the model can be used like the network itself.
- one ``loss`` metric, the mean over the epoch's batches.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class DenoisingModel(keras.Model):
    """Trains ``self.denoiser`` (set by the subclass) on `batch_loss`; see the module docstring."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    # -- what a subclass defines --------------------------------------------------------------------
    @property
    def denoiser(self) -> keras.Model:
        """The network this model trains."""
        raise NotImplementedError

    def batch_loss(self, data, training: bool):
        """The scalar loss of one batch as `fit` passes it (fresh noise drawn on every call)."""
        raise NotImplementedError

    @staticmethod
    def default_optimizer() -> keras.optimizers.Optimizer:
        return keras.optimizers.Adam(learning_rate=1e-4)

    # -- Keras plumbing -----------------------------------------------------------------------------
    def compile(self, optimizer=None, **kwargs):
        super().compile(optimizer=optimizer if optimizer is not None else self.default_optimizer(), **kwargs)

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
        variables = self.denoiser.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return loss

    def train_step(self, data):
        loss = self.apply_update(lambda: self.batch_loss(data, training=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self.batch_loss(data, training=False))
        return {"loss": self.loss_tracker.result()}
