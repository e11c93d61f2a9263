import numpy as np
import tensorflow as tf

from keras_ddpm.process.forward import q_sample, q_step
from keras_ddpm.process.schedules import NoiseSchedule


class ForwardProcessTest(tf.test.TestCase):
    def setUp(self):
        self.schedule = NoiseSchedule("linear", 1000)

    def test_q_sample_scales_by_sqrt_alphas_cumprod(self):
        s = self.schedule
        rng = np.random.default_rng(0)
        x0 = rng.standard_normal((6, 2)).astype(np.float32)
        noise = rng.standard_normal((6, 2)).astype(np.float32)
        t = np.array([0, 1, 10, 500, 998, 999])  # one timestep per example
        self.assertAllClose(q_sample(s, x0, t, 0 * noise), s.sqrt_alphas_cumprod[t, None] * x0, atol=1e-6)
        self.assertAllClose(
            q_sample(s, 0 * x0, t, noise), s.sqrt_one_minus_alphas_cumprod[t, None] * noise, atol=1e-6
        )

    def test_q_sample_broadcasts_over_image_dims(self):
        x0 = np.ones((3, 4, 4, 3), np.float32)
        out = q_sample(self.schedule, x0, np.array([0, 10, 999]), np.zeros_like(x0))
        self.assertEqual(tuple(out.shape), (3, 4, 4, 3))
        self.assertAllClose(out[:, 0, 0, 0], self.schedule.sqrt_alphas_cumprod[[0, 10, 999]], atol=1e-6)

    def test_closed_form_matches_iterated_markov_steps(self):
        """T Markov steps (eq. 2) and the closed form (eq. 4) agree in mean and variance.

        40,000 copies of each of 3 starting points: the standard error of a mean is <= 0.005 and
        of a variance <= 0.007, so the 0.03 tolerance is > 4 standard errors.
        """
        s = self.schedule
        n = 40_000
        x0 = np.repeat(np.array([[1.0, -1.0], [0.3, 0.8], [-0.5, 0.0]], np.float32), n, axis=0)
        rng = np.random.default_rng(1)
        x = x0
        checkpoints = {9: None, 99: None, 499: None, 999: None}
        for t in range(s.timesteps):
            noise = rng.standard_normal(x.shape).astype(np.float32)
            x = np.asarray(q_step(s, x, np.full(len(x), t), noise))
            if t in checkpoints:
                checkpoints[t] = x.reshape(3, n, 2)
        for t, iterated in checkpoints.items():
            closed = np.asarray(
                q_sample(s, x0, np.full(len(x0), t), rng.standard_normal(x0.shape).astype(np.float32))
            ).reshape(3, n, 2)
            expected_mean = s.sqrt_alphas_cumprod[t] * x0.reshape(3, n, 2)[:, 0]
            expected_var = 1.0 - s.alphas_cumprod[t]
            for sample in (iterated, closed):
                self.assertAllClose(sample.mean(axis=1), expected_mean, atol=0.03, msg=f"t={t}")
                self.assertAllClose(sample.var(axis=1), np.full((3, 2), expected_var), atol=0.03, msg=f"t={t}")
