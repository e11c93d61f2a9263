"""Presets and the improved network: shapes, the assignment's exact size, save/load round trips."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm import DiffusionModel, NoiseSchedule
from keras_ddpm.apps.bicycle.presets import PRESETS, get_preset
from keras_ddpm.networks.mlp import DenoisingMLP
from keras_ddpm.networks.residual_mlp import (
    RandomFourierFeatures,
    ResidualBlock,
    ResidualMLP,
)


def inputs(batch=16, T=1000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 2)).astype(np.float32), rng.integers(0, T, batch).astype(np.int32)


class PresetTest(tf.test.TestCase):
    def test_assignment_is_exactly_the_specification(self):
        preset = get_preset("assignment")
        network = preset.build_network(2)
        self.assertIsInstance(network, DenoisingMLP)
        network(list(inputs()))
        self.assertEqual(network.count_params(), 56_962)
        self.assertEqual(network.hidden_units, (128, 128, 128))
        self.assertEqual((network.embedding_dim, network.embedding_units), (50, 128))
        self.assertEqual((preset.batch_size, preset.learning_rate, preset.schedule), (64, 1e-4, "linear"))

    def test_every_preset_builds_a_network_shaped_like_its_input(self):
        for name, preset in PRESETS.items():
            network = preset.build_network(2, seed=1)
            x, t = inputs()
            self.assertEqual(tuple(network([x, t]).shape), (16, 2), name)
            self.assertIn("network", preset.training_summary())

    def test_unknown_preset(self):
        with self.assertRaisesRegex(ValueError, "unknown preset 'fancy'; expected one of assignment, improved"):
            get_preset("fancy")


class ResidualMLPTest(tf.test.TestCase):
    def test_round_trip_through_a_keras_file(self):
        schedule = NoiseSchedule("linear", 1000)
        model = DiffusionModel(ResidualMLP(width=32, num_blocks=2, fourier_frequencies=8, seed=5), schedule, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.build((None, 2))
        x, t = inputs()
        expected = model([x, t])
        path = os.path.join(tempfile.mkdtemp(), "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded.network, ResidualMLP)
        self.assertAllClose(loaded([x, t]), expected, atol=1e-6)
        self.assertEqual(loaded.network.get_config()["fourier_scale"], 2.0)

    def test_halves_match_the_call_and_broadcast_one_embedding(self):
        network = ResidualMLP(width=32, num_blocks=2, fourier_frequencies=8)
        x, _ = inputs()
        t = np.full(16, 123, np.int32)
        full = network([x, t])
        split = network.denoise(x, network.embed_time(np.array([123], np.int32)))
        self.assertAllClose(split, full, atol=1e-6)

    def test_fourier_features_are_fixed_by_the_seed_and_not_trained(self):
        x, _ = inputs()
        a, b, c = (RandomFourierFeatures(8, 4.0, seed=s) for s in (1, 1, 2))
        self.assertAllClose(a(x), b(x))
        self.assertNotAllClose(a(x), c(x))
        self.assertEqual(a(x).shape, (16, 18))  # sin, cos of 8 frequencies + the 2 coordinates
        self.assertEmpty(a.trainable_weights)
        self.assertAllClose(a(x)[:, 16:], x)

    def test_ablations_and_bad_arguments(self):
        x, t = inputs()
        plain = ResidualMLP(width=16, num_blocks=1, fourier_frequencies=0, normalization=False)
        self.assertEqual(tuple(plain([x, t]).shape), (16, 2))
        with self.assertRaisesRegex(ValueError, "width must be an integer >= 1"):
            ResidualMLP(width=0)
        with self.assertRaisesRegex(ValueError, "scale must be > 0"):
            RandomFourierFeatures(4, scale=0.0)
        with self.assertRaisesRegex(ValueError, "width 8 got an input of width 4"):
            ResidualBlock(8).build(((None, 4), (None, 8)))
