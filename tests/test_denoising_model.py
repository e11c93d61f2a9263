"""`DenoisingModel`: the one training step that `DiffusionModel` and `DenoisingScoreMatching` share."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ddpm import (
    DenoisingMLP,
    DenoisingScoreMatching,
    DiffusionModel,
    NoiseConditionalScoreNetwork,
)
from keras_ddpm.training import DenoisingModel


class Doubler(DenoisingModel):
    """A toy subclass: the network learns y = 2x from a loss stated in `batch_loss` alone."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.net = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")

    @property
    def denoiser(self):
        return self.net

    def batch_loss(self, data, training):
        return ops.mean(ops.square(self.net(data) - 2.0 * data))


class DenoisingModelTest(tf.test.TestCase):
    def test_a_subclass_states_only_its_loss_and_trains(self):
        model = Doubler()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        x = np.random.default_rng(0).normal(size=(256, 1)).astype(np.float32)
        history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(32), epochs=5, verbose=0)
        self.assertAllClose(model.net.kernel.numpy(), [[2.0]], atol=1e-3)
        self.assertLess(history.history["loss"][-1], 1e-4)
        self.assertAllClose(model.evaluate(x, batch_size=64, verbose=0), 0.0, atol=1e-5)

    def test_both_models_share_the_step_and_the_default_optimizer(self):
        diffusion = DiffusionModel(DenoisingMLP(hidden_units=(8,), embedding_units=8))
        dsm = DenoisingScoreMatching(NoiseConditionalScoreNetwork(hidden_units=(8,)), sigmas=[1.0, 0.5])
        for model in (diffusion, dsm):
            self.assertIsInstance(model, DenoisingModel)
            model.compile()
            self.assertIsInstance(model.optimizer, keras.optimizers.Adam)
            self.assertAllClose(float(model.optimizer.learning_rate), 1e-4)
        self.assertIs(DenoisingScoreMatching.train_step, DenoisingModel.train_step)
        self.assertIs(DiffusionModel.test_step, DenoisingModel.test_step)
        self.assertIs(diffusion.denoiser, diffusion.network)
        self.assertIs(dsm.denoiser, dsm.score_network)
