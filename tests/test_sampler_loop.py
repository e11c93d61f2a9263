"""The shared step loop `run_steps`: its contract, that every sampler family runs on it, and that
the Langevin corrector step on it is Song & Ermon's eq. 4 with the documented noise."""

import numpy as np
import tensorflow as tf
from helpers import GaussianEpsOracle

from keras_ddpm.apps.gmm import GaussianMixture
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.samplers import DDIMSampler, DDPMSampler, langevin, loop, run_steps
from keras_ddpm.samplers import base as sampler_base


class RunStepsTest(tf.test.TestCase):
    def test_applies_exactly_the_steps_in_order(self):
        # A state that records the step indices in order: x <- 10 x + (i + 1), i = 3 .. 6.
        step = lambda i, x: 10 * x + tf.cast(i + 1, tf.int64)  # noqa: E731
        for compiled in (False, True):
            fn = tf.function(lambda a, b: run_steps(step, tf.constant(0, tf.int64), a, b), jit_compile=compiled)
            self.assertEqual(int(fn(tf.constant(3), tf.constant(7))), 4567)
            self.assertEqual(int(fn(tf.constant(5), tf.constant(5))), 0)  # no steps
            self.assertEqual(int(fn(tf.constant(6), tf.constant(2))), 0)
        self.assertEqual(int(run_steps(step, tf.constant(0, tf.int64), 0, 3)), 123)  # eagerly too

    def test_each_index_once_in_one_graph(self):
        seen = []

        def step(i, x):
            seen.append(None)  # traced once: the loop is one graph, not one Python call per step
            return x + tf.one_hot(i, 8)

        x = tf.function(lambda: run_steps(step, tf.zeros(8), 2, 7))()
        self.assertAllEqual(x, [0, 0, 1, 1, 1, 1, 1, 0])
        self.assertLen(seen, 1)

    def test_records_the_trajectory(self):
        step = lambda i, x: x + tf.cast(i, tf.float32)  # noqa: E731
        x, trajectory = tf.function(lambda: run_steps(step, tf.fill([2, 3], 1.0), 2, 5, record=True))()
        self.assertAllEqual(x, np.full((2, 3), 10.0))
        self.assertAllEqual(trajectory[:, 0, 0], [1.0, 3.0, 6.0, 10.0])  # the start, then each step
        _, empty = run_steps(step, tf.zeros(2), 4, 4, record=True)
        self.assertAllEqual(empty, [[0.0, 0.0]])


class SpyLoop:
    """Wraps `run_steps`, counting the loops built and the steps traced through it."""

    def __init__(self, module):
        self.module, self.original = module, module.run_steps
        self.loops = self.steps = 0

    def __enter__(self):
        def spy(step, x, i_start, i_stop, record=False):
            self.loops += 1

            def counted(i, x):
                self.steps += 1
                return step(i, x)

            return self.original(counted, x, i_start, i_stop, record=record)

        self.module.run_steps = spy
        return self

    def __exit__(self, *exc):
        self.module.run_steps = self.original


class BothFamiliesUseTheLoopTest(tf.test.TestCase):
    def test_the_samplers_import_the_one_loop(self):
        self.assertIs(sampler_base.run_steps, loop.run_steps)
        self.assertIs(langevin.run_steps, loop.run_steps)

    def test_diffusion_samplers_run_on_it(self):
        schedule = NoiseSchedule("linear", 20)
        network = GaussianEpsOracle(schedule, [0.5, -1.0], 0.7)
        for sampler in (DDPMSampler(schedule), DDIMSampler(schedule, num_steps=5, eta=0.5)):
            with SpyLoop(sampler_base) as spy:
                x = sampler.sample(network, (8, 2), seed=1)
            self.assertEqual((spy.loops, spy.steps), (1, 1), type(sampler).__name__)
            self.assertEqual(x.shape, (8, 2))

    def test_langevin_samplers_run_on_it(self):
        mixture = GaussianMixture.default()
        x = np.zeros((4, 2), np.float32)
        calls = [
            lambda score: langevin.score_ascent(score, x, 0.1, 3),
            lambda score: langevin.langevin_dynamics(score, x, 0.1, 3, seed=2),
            lambda score: langevin.annealed_langevin_dynamics(score, x, [2.0, 1.0], 0.1, 2, return_trajectory=True),
        ]
        for call in calls:
            # A fresh score function per call, so no compiled chain is reused from the cache.
            score = lambda y, sigma=0.0: mixture.score_tf(y, sigma)  # noqa: E731
            with SpyLoop(langevin) as spy:
                call(score)
            self.assertEqual((spy.loops, spy.steps), (1, 1))


class LangevinCorrectorTest(tf.test.TestCase):
    def test_langevin_is_eq_4_with_the_seed_step_noise(self):
        """x_t = x_{t-1} + (eps / 2) s(x_{t-1}) + sqrt(eps) z_t, z_t from the key (seed, t)."""
        mixture = GaussianMixture.default()
        x0 = np.random.default_rng(3).normal(size=(16, 2)).astype(np.float32)
        step_size, seed, steps = 0.05, 11, 4
        x, trajectory = langevin.langevin_dynamics(mixture.score_tf, x0, step_size, steps, seed=seed,
                                                   return_trajectory=True)
        expected = [x0]
        for t in range(steps):
            z = tf.random.stateless_normal(x0.shape, tf.constant([seed, t], tf.int64), dtype=tf.float32)
            previous = expected[-1]
            score = mixture.score_tf(tf.constant(previous)).numpy()
            expected.append(previous + 0.5 * np.float32(step_size) * score + np.sqrt(np.float32(step_size)) * z.numpy())
        self.assertAllClose(trajectory, np.stack(expected), atol=1e-5)
        self.assertAllClose(x, expected[-1], atol=1e-5)

    def test_annealed_langevin_is_eq_4_per_level(self):
        mixture = GaussianMixture.default()
        x0 = np.random.default_rng(4).normal(size=(8, 2)).astype(np.float32)
        sigmas, step_size, per_level, seed = [2.0, 0.5], 0.02, 2, 5
        alphas = langevin.annealed_step_sizes(sigmas, step_size)
        x = langevin.annealed_langevin_dynamics(mixture.score_tf, x0, sigmas, step_size, per_level, seed=seed)
        expected, t = x0, 0
        for sigma, alpha in zip(sigmas, alphas):
            for _ in range(per_level):
                z = tf.random.stateless_normal(x0.shape, tf.constant([seed, t], tf.int64)).numpy()
                score = mixture.score_tf(tf.constant(expected), np.full(len(x0), sigma, np.float32)).numpy()
                expected = expected + 0.5 * np.float32(alpha) * score + np.sqrt(np.float32(alpha)) * z
                t += 1
        self.assertAllClose(x, expected, atol=1e-5)

    def test_the_step_runs_on_the_loop_directly(self):
        mixture = GaussianMixture.default()
        x0 = tf.constant(np.random.default_rng(5).normal(size=(6, 2)), tf.float32)
        sizes = tf.fill([3], 0.1)
        step = langevin.langevin_step(mixture.score_tf, sizes, tf.constant(9, tf.int64))
        self.assertAllClose(run_steps(step, x0, 0, 3),
                            langevin.langevin_dynamics(mixture.score_tf, x0.numpy(), 0.1, 3, seed=9), atol=1e-6)
        ascent = langevin.langevin_step(mixture.score_tf, sizes, tf.constant(9, tf.int64), add_noise=False)
        self.assertAllClose(run_steps(ascent, x0, 0, 3), langevin.score_ascent(mixture.score_tf, x0.numpy(), 0.1, 3),
                            atol=1e-6)


if __name__ == "__main__":
    tf.test.main()
