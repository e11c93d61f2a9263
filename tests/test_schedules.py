import numpy as np
import tensorflow as tf

from keras_ddpm.process.schedules import MAX_BETA, NoiseSchedule


class NoiseScheduleTest(tf.test.TestCase):
    def test_linear_endpoints_and_length(self):
        s = NoiseSchedule("linear", 1000)
        self.assertLen(s.betas, 1000)
        self.assertAllClose([s.betas[0], s.betas[-1]], [1e-4, 0.02], atol=1e-12)
        self.assertAllClose(np.diff(s.betas), np.full(999, (0.02 - 1e-4) / 999), atol=1e-12)

    def test_alphas_cumprod_monotone_from_one_to_zero(self):
        for kind in ("linear", "sigmoid", "cosine"):
            s = NoiseSchedule(kind, 1000)
            self.assertTrue(np.all(np.diff(s.alphas_cumprod) < 0), kind)
            self.assertGreater(s.alphas_cumprod[0], 0.99, kind)
            self.assertLess(s.alphas_cumprod[-1], 0.01, kind)

    def test_betas_in_range(self):
        for kind in ("linear", "sigmoid", "cosine"):
            for T in (2, 10, 1000, 4000):
                betas = NoiseSchedule(kind, T).betas
                self.assertTrue(np.all(betas > 0) and np.all(betas <= MAX_BETA), (kind, T))

    def test_sigmoid_is_one_half_at_the_middle(self):
        for T in (10, 1000, 2000):
            s = NoiseSchedule("sigmoid", T)
            self.assertAllClose(s.alphas_cumprod[T // 2], 0.5, atol=1e-6)
            self.assertGreater(s.alphas_cumprod[T // 2 - 1], 0.5)
            self.assertLess(s.alphas_cumprod[T // 2 + 1], 0.5)

    def test_derived_quantities_agree(self):
        for kind in ("linear", "sigmoid", "cosine"):
            s = NoiseSchedule(kind, 500)
            self.assertAllClose(s.alphas, 1.0 - s.betas)
            self.assertAllClose(s.alphas_cumprod, np.cumprod(1.0 - s.betas))
            self.assertAllClose(s.alphas_cumprod_prev[1:], s.alphas_cumprod[:-1])
            self.assertEqual(s.alphas_cumprod_prev[0], 1.0)
            self.assertAllClose(s.sqrt_alphas_cumprod**2 + s.sqrt_one_minus_alphas_cumprod**2, np.ones(500))
            # beta-tilde of eq. 7; zero at the first step, below beta elsewhere.
            self.assertEqual(s.posterior_variance[0], 0.0)
            self.assertTrue(np.all(s.posterior_variance[1:] < s.betas[1:]))
            self.assertAllClose(
                s.posterior_variance, (1 - s.alphas_cumprod_prev) / (1 - s.alphas_cumprod) * s.betas
            )
            # Tower property: E[x_{t-1} | x_0] = sqrt(abar_{t-1}) x_0 = coef1 x_0 + coef2 E[x_t | x_0].
            self.assertAllClose(
                s.posterior_mean_coef1 + s.posterior_mean_coef2 * s.sqrt_alphas_cumprod,
                np.sqrt(s.alphas_cumprod_prev),
            )
            # Algorithm 2's mean (eps form) is the posterior mean (eq. 7) at x_0 = (x_t - sqrt(1-abar) eps) / sqrt(abar).
            rng = np.random.default_rng(0)
            x_t, eps = rng.standard_normal((2, 500))
            x0_hat = (x_t - s.sqrt_one_minus_alphas_cumprod * eps) / s.sqrt_alphas_cumprod
            self.assertAllClose(
                s.sqrt_recip_alphas * (x_t - s.eps_coef * eps),
                s.posterior_mean_coef1 * x0_hat + s.posterior_mean_coef2 * x_t,
            )

    def test_float32_tensors_match_float64(self):
        s = NoiseSchedule("sigmoid", 100)
        tensor = s.tensor("alphas_cumprod")
        self.assertEqual(tensor.dtype, tf.float32)
        self.assertAllClose(tensor, s.alphas_cumprod, atol=1e-7)

    def test_config_round_trip(self):
        s = NoiseSchedule("cosine", 321)
        s2 = NoiseSchedule.from_config(s.get_config())
        self.assertAllEqual(s.betas, s2.betas)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "unknown schedule 'quadratic'"):
            NoiseSchedule("quadratic")
        for T in (1, 0, -5, 2.5, True):
            with self.assertRaisesRegex(ValueError, "timesteps must be an integer >= 2"):
                NoiseSchedule("linear", T)
        with self.assertRaisesRegex(ValueError, "beta_start"):
            NoiseSchedule("linear", 10, beta_start=0.1, beta_end=0.01)
