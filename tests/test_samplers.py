import numpy as np
import tensorflow as tf
from helpers import GaussianEpsOracle

from keras_ddpm.networks import DenoisingMLP
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.samplers import DDPMSampler, base
from keras_ddpm.samplers.base import in_row_blocks, initial_noise, step_noise


def reference_ddpm(network, schedule, shape, seed, variance="beta", jit_noise=False):
    """Algorithm 2 written step by step, one eager network call per step.

    XLA draws different normals than the CPU kernels for the same key, so the noise comes from
    `step_noise` compiled the same way as the sampler under test.
    """
    s = schedule
    noise = tf.function(step_noise, jit_compile=jit_noise)
    x = initial_noise(shape, seed).numpy()
    sigma2 = s.betas if variance == "beta" else s.posterior_variance
    for t in range(s.timesteps - 1, -1, -1):
        eps = np.asarray(network([x, np.full(shape[0], t)]))
        mean = (x - s.betas[t] / np.sqrt(1 - s.alphas_cumprod[t]) * eps) / np.sqrt(s.alphas[t])
        z = noise(shape, tf.constant(seed, tf.int64), tf.constant(t)).numpy() if t > 0 else 0.0
        x = (mean + np.sqrt(sigma2[t]) * z).astype(np.float32)
    return x


class DDPMSamplerTest(tf.test.TestCase):
    def setUp(self):
        self.schedule = NoiseSchedule("linear", 60)
        self.network = DenoisingMLP()
        self.network([np.zeros((1, 2), np.float32), np.zeros(1, np.int32)])

    def test_shape_and_seed_determinism(self):
        sampler = DDPMSampler(self.schedule)
        a = sampler.sample(self.network, (300, 2), seed=7)
        b = sampler.sample(self.network, (300, 2), seed=7)
        c = sampler.sample(self.network, (300, 2), seed=8)
        self.assertEqual(a.shape, (300, 2))
        self.assertAllEqual(a, b)
        self.assertGreater(np.abs(a - c).mean(), 0.1)

    def test_compiled_loop_matches_reference_loop(self):
        for variance in ("beta", "posterior"):
            for jit in (False, True):
                sampler = DDPMSampler(self.schedule, variance=variance, jit_compile=jit)
                compiled = sampler.sample(self.network, (50, 2), seed=3)
                expected = reference_ddpm(self.network, self.schedule, (50, 2), 3, variance, jit_noise=jit)
                self.assertAllClose(compiled, expected, atol=2e-4, msg=f"{variance}, jit={jit}")

    def test_clipped_x0_posterior_mean(self):
        """Without effective clipping the posterior-mean form is Algorithm 2; with it, every state's
        mean is the eq. 7 posterior mean around the clipped prediction."""
        wide = DDPMSampler(self.schedule, clip_x0=(-1e6, 1e6)).sample(self.network, (50, 2), seed=3)
        self.assertAllClose(wide, DDPMSampler(self.schedule).sample(self.network, (50, 2), seed=3), atol=2e-4)
        s = self.schedule
        sampler = DDPMSampler(s, clip_x0=(-0.5, 0.5))
        x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32) * 3
        eps = np.random.default_rng(1).normal(size=(40, 2)).astype(np.float32)
        t = 7
        seq = sampler.sequence({})
        i = int(np.flatnonzero(seq.numpy() == t)[0])
        mean_plus_noise = sampler.update(tf.constant(x), tf.constant(eps), tf.constant(i), seq, tf.constant(0, tf.int64), {})
        z = step_noise((40, 2), tf.constant(0, tf.int64), tf.constant(t)).numpy()
        x0 = np.clip((x - np.sqrt(1 - s.alphas_cumprod[t]) * eps) / np.sqrt(s.alphas_cumprod[t]), -0.5, 0.5)
        expected = s.posterior_mean_coef1[t] * x0 + s.posterior_mean_coef2[t] * x + np.sqrt(s.betas[t]) * z
        self.assertAllClose(mean_plus_noise, expected, atol=1e-5)
        with self.assertRaisesRegex(ValueError, "low < high"):
            DDPMSampler(s, clip_x0=(1, -1))

    def test_row_blocks_do_not_change_samples(self):
        x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
        emb = self.network.embed_time(tf.constant([5]))
        whole = self.network.denoise(x, emb)
        for block in (3, 5, 9, 10, None):
            self.assertAllClose(in_row_blocks(self.network.denoise, tf.constant(x), emb, block), whole, atol=1e-6)
        one_piece = DDPMSampler(self.schedule, jit_compile=True).sample(self.network, (50, 2), seed=3)
        saved = base.ROW_BLOCK
        base.ROW_BLOCK = 16  # 50 points: 4 blocks of 13 or 12 rows in every step
        try:
            blocked = DDPMSampler(self.schedule, jit_compile=True).sample(self.network, (50, 2), seed=3)
        finally:
            base.ROW_BLOCK = saved
        self.assertAllClose(blocked, one_piece, atol=1e-5)

    def test_chunking_and_trajectory_do_not_change_samples(self):
        plain = DDPMSampler(self.schedule).sample(self.network, (40, 2), seed=1)
        chunked = DDPMSampler(self.schedule, chunk_size=7)
        x0, trajectory = chunked.sample(self.network, (40, 2), seed=1, trajectory_steps=[59, 30, 0], progress=2)
        self.assertAllClose(x0, plain, atol=1e-6)
        self.assertEqual(sorted(trajectory), [0, 30, 59])
        self.assertAllClose(trajectory[59], initial_noise((40, 2), 1))  # x_T is the state entering t = T-1
        # Continuing from the recorded state at t = 30 gives the same result.
        resumed = chunked.denoise_from(self.network, trajectory[30], 30, seed=1)
        self.assertAllClose(resumed, plain, atol=1e-5)

    def test_reproduces_a_gaussian_with_the_exact_noise_predictor(self):
        """Data N(mean, 0.5^2 I): the samples' mean within 0.02 and std within 3% (30,000 points:
        standard errors 0.003 and 0.4%; the rest is discretisation error of T=1000 steps)."""
        schedule = NoiseSchedule("linear", 1000)
        mean, std = np.array([0.5, -0.3], np.float32), 0.5
        oracle = GaussianEpsOracle(schedule, mean, std)
        for variance in ("beta", "posterior"):
            samples = DDPMSampler(schedule, variance=variance, jit_compile=True).sample(oracle, (30_000, 2), seed=0)
            self.assertAllClose(samples.mean(axis=0), mean, atol=0.02, msg=variance)
            self.assertAllClose(samples.std(axis=0), [std, std], rtol=0.03, msg=variance)
            self.assertAllClose(np.corrcoef(samples.T)[0, 1], 0.0, atol=0.03)

    def test_partial_diffusion_stays_closer_to_the_start_for_small_t(self):
        schedule = NoiseSchedule("linear", 1000)
        oracle = GaussianEpsOracle(schedule, [0.0, 0.0], 1.0)
        sampler = DDPMSampler(schedule)
        x = np.full((500, 2), 0.8, np.float32)
        near = sampler.denoise_from(oracle, x, 5, seed=0)
        far = sampler.denoise_from(oracle, x, 900, seed=0)
        self.assertLess(np.abs(near - 0.8).mean(), 0.1)
        self.assertGreater(np.abs(far - 0.8).mean(), 0.5)

    def test_bad_arguments(self):
        sampler = DDPMSampler(self.schedule)
        with self.assertRaisesRegex(ValueError, "unknown variance 'fixed'"):
            DDPMSampler(self.schedule, variance="fixed")
        with self.assertRaisesRegex(ValueError, r"t_start must be an integer in 0..59"):
            sampler.denoise_from(self.network, np.zeros((2, 2), np.float32), 60)
        with self.assertRaisesRegex(ValueError, "shape must be"):
            sampler.sample(self.network, (0, 2))
        with self.assertRaisesRegex(ValueError, "seed must be an integer"):
            sampler.sample(self.network, (2, 2), seed=1.5)
        with self.assertRaisesRegex(ValueError, "trajectory steps must be timesteps of the sequence"):
            sampler.sample(self.network, (2, 2), trajectory_steps=[60])
