"""Partial diffusion (SDEdit): t0 = 0 is the identity, larger t0 moves points further."""

import os
import tempfile

import numpy as np
import tensorflow as tf
from helpers import GaussianEpsOracle

from keras_ddpm import DDPMSampler, NoiseSchedule
from keras_ddpm.apps.bicycle.figures import partial_diffusion, write_partial_diffusion


class PartialDiffusionTest(tf.test.TestCase):
    def setUp(self):
        self.schedule = NoiseSchedule("linear", 200)
        self.sampler = DDPMSampler(self.schedule)
        # Data N(0, 0.5^2): the oracle is the exact noise predictor, so results are samples of it.
        self.network = GaussianEpsOracle(self.schedule, mean=[0.0, 0.0], std=0.5)
        self.x0 = np.random.default_rng(0).normal(0.0, 0.5, (2000, 2)).astype(np.float32)

    def test_t0_zero_returns_the_inputs(self):
        self.assertAllEqual(partial_diffusion(self.network, self.sampler, self.x0, 0), self.x0)

    def test_larger_t0_moves_the_points_further(self):
        moves = []
        for t0 in (5, 25, 100, 200):
            result = partial_diffusion(self.network, self.sampler, self.x0, t0, seed=1)
            self.assertEqual(result.shape, self.x0.shape)
            moves.append(np.mean(np.linalg.norm(result - self.x0, axis=1)))
        self.assertAllGreater(np.diff(moves), 0.0)
        self.assertLess(moves[0], 0.2)
        # From t0 = T the result no longer depends on the original: an independent N(0, 0.5^2)
        # sample, so the mean move is near E|a - b| for a, b independent, sqrt(2) * 0.5 * sqrt(pi / 2).
        self.assertAllClose(moves[-1], np.sqrt(2) * 0.5 * np.sqrt(np.pi / 2), rtol=0.1)

    def test_same_seed_same_result(self):
        a = partial_diffusion(self.network, self.sampler, self.x0[:100], 50, seed=3)
        b = partial_diffusion(self.network, self.sampler, self.x0[:100], 50, seed=3)
        self.assertAllEqual(a, b)

    def test_bad_t0(self):
        for t0 in (-1, 201, 2.5, True):
            with self.assertRaisesRegex(ValueError, "t0 must be an integer in 0..200"):
                partial_diffusion(self.network, self.sampler, self.x0, t0)

    def test_figure(self):
        out = tempfile.mkdtemp()
        moves = write_partial_diffusion(self.network, self.sampler, self.x0, out, t0s=(10, 100, 500), num_points=300)
        self.assertEqual(list(moves), [10, 100])  # t0 beyond T is left out
        self.assertGreater(moves[100], moves[10])
        self.assertTrue(os.path.getsize(os.path.join(out, "partial_diffusion.png")) > 0)
