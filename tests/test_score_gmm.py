"""Analytic parts of `keras_ddpm.apps.gmm`: the Gaussian mixture, the DSM loss and the samplers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from scipy.stats import multivariate_normal  # noqa: E402

from keras_ddpm.apps.gmm import (  # noqa: E402
    GaussianMixture,
    annealed_langevin_dynamics,
    annealed_step_sizes,
    dsm_loss,
    geometric_sigmas,
    langevin_dynamics,
    score_ascent,
)


def three_component_mixture():
    return GaussianMixture(
        weights=[0.5, 0.3, 0.2],
        means=[[0.0, 1.0], [3.0, -2.0], [-4.0, 0.5]],
        covariances=[[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 2.0]], [[2.0, -1.2], [-1.2, 1.0]]],
    )


def single_gaussian():
    return GaussianMixture(weights=[1.0], means=[[1.0, -2.0]], covariances=[[[2.0, 0.6], [0.6, 1.0]]])


def finite_difference_score(mixture, x, sigma=0.0, h=1e-5):
    """Central differences of the float64 log-density, one coordinate at a time."""
    columns = []
    for e in np.eye(mixture.dim):
        columns.append((mixture.log_prob(x + h * e, sigma) - mixture.log_prob(x - h * e, sigma)) / (2 * h))
    return np.stack(columns, axis=1)


class GaussianMixtureTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        # Near the modes, between them, and far out (where every component density underflows).
        self.points = np.concatenate([rng.normal(0.0, 5.0, size=(40, 2)), [[30.0, -40.0], [-200.0, 150.0]]])

    def test_score_matches_finite_difference_of_log_prob(self):
        for mixture in (GaussianMixture.default(), three_component_mixture()):
            for sigma in (0.0, 2.5):
                analytic = mixture.score(self.points, sigma)
                numeric = finite_difference_score(mixture, self.points, sigma)
                # Finite differences lose relative accuracy where |score| is large; scale the tolerance.
                self.assertAllClose(analytic, numeric, rtol=1e-5, atol=1e-5)

    def test_log_prob_matches_scipy_and_stays_finite_far_away(self):
        mixture = three_component_mixture()
        component_log_pdfs = np.stack(
            [
                multivariate_normal(mean, cov).logpdf(self.points)
                for mean, cov in zip(mixture.means, mixture.covariances)
            ],
            axis=1,
        )
        expected = logsumexp(component_log_pdfs + np.log(mixture.weights), axis=1)
        self.assertAllClose(mixture.log_prob(self.points), expected, rtol=1e-10, atol=1e-10)
        far = mixture.score(np.array([[1e4, -1e4]]))
        self.assertTrue(np.all(np.isfinite(far)))
        # So far out one component dominates the posterior: the score is its Gaussian score.
        labels = mixture.assign(np.array([[1e4, -1e4]]))
        k = int(labels[0])
        expected_far = -np.linalg.solve(mixture.covariances[k], np.array([1e4, -1e4]) - mixture.means[k])
        self.assertAllClose(far[0], expected_far, rtol=1e-9)

    def test_noised_mixture_adds_sigma_squared_to_covariances(self):
        mixture = three_component_mixture()
        noised = mixture.noised(3.0)
        self.assertAllClose(noised.covariances, mixture.covariances + 9.0 * np.eye(2))
        self.assertAllClose(noised.score(self.points), mixture.score(self.points, 3.0), rtol=1e-12)
        self.assertAllClose(noised.log_prob(self.points), mixture.log_prob(self.points, 3.0), rtol=1e-12)

    def test_tensorflow_float32_score_matches_float64_and_accepts_per_example_sigma(self):
        mixture = GaussianMixture.default()
        sigma = np.linspace(0.5, 20.0, len(self.points))
        expected = np.stack([mixture.score(p[None], s)[0] for p, s in zip(self.points, sigma)])
        got = mixture.score_tf(tf.constant(self.points, tf.float32), tf.constant(sigma, tf.float32))
        self.assertEqual(got.dtype, tf.float32)
        self.assertAllClose(got, expected, rtol=1e-4, atol=1e-5)

    def test_sample_is_seeded_and_has_the_mixture_statistics(self):
        mixture = three_component_mixture()
        x, labels = mixture.sample(30000, seed=3, return_components=True)
        self.assertAllEqual(x, mixture.sample(30000, seed=3))
        self.assertNotAllClose(x[:10], mixture.sample(10, seed=4))
        self.assertAllClose(np.bincount(labels) / len(labels), mixture.weights, atol=0.01)
        for k in range(3):
            self.assertAllClose(x[labels == k].mean(0), mixture.means[k], atol=0.06)
            self.assertAllClose(np.cov(x[labels == k], rowvar=False), mixture.covariances[k], atol=0.1)

    def test_recovered_statistics_of_true_samples(self):
        mixture = GaussianMixture.default()
        stats = mixture.recovered_statistics(mixture.sample(20000, seed=1))
        self.assertLess(stats["max_weight_error"], 0.01)
        self.assertLess(stats["max_mean_error"], 0.05)
        self.assertLess(stats["max_covariance_error"], 0.1)
        self.assertEqual(sum(stats["counts"]), 20000)
        # Against the sigma = 1 noised covariances the same samples are off by about sqrt(2) * 1.
        noised_stats = mixture.recovered_statistics(mixture.sample(20000, seed=1), noise_sigma=1.0)
        self.assertGreater(noised_stats["max_covariance_error"], 1.3)

    def test_bad_parameters_raise_clear_errors(self):
        eye = [np.eye(2), np.eye(2)]
        means = [[0.0, 0.0], [1.0, 1.0]]
        with self.assertRaisesRegex(ValueError, r"weights must sum to 1, got \[0.5, 0.6\]"):
            GaussianMixture([0.5, 0.6], means, eye)
        with self.assertRaisesRegex(ValueError, "weights must be finite and > 0"):
            GaussianMixture([1.2, -0.2], means, eye)
        with self.assertRaisesRegex(ValueError, "covariance 1 must be positive definite.*eigenvalues"):
            GaussianMixture([0.5, 0.5], means, [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])
        with self.assertRaisesRegex(ValueError, "covariance 0 must be symmetric"):
            GaussianMixture([0.5, 0.5], means, [[[1.0, 0.5], [0.0, 1.0]], np.eye(2)])
        with self.assertRaisesRegex(ValueError, r"covariances must have shape \(K, D, D\)"):
            GaussianMixture([0.5, 0.5], means, [np.eye(3), np.eye(3)])
        with self.assertRaisesRegex(ValueError, r"means must have shape \(K, D\) with K = 2"):
            GaussianMixture([0.5, 0.5], [[0.0, 0.0]], eye)
        mixture = GaussianMixture.default()
        for sigma in (0.0, -1.0, float("nan")):
            with self.assertRaisesRegex(ValueError, "sigma must be a finite number > 0"):
                mixture.noised(sigma)
        with self.assertRaisesRegex(ValueError, "sigma must be a finite number >= 0, got -2.0"):
            mixture.score(np.zeros((1, 2)), -2.0)
        with self.assertRaisesRegex(ValueError, r"x must have 2 columns"):
            mixture.score(np.zeros((4, 3)))
        with self.assertRaisesRegex(ValueError, "n must be an integer >= 1, got 0"):
            mixture.sample(0)


class DenoisingScoreMatchingLossTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.mixture = GaussianMixture.default()
        rng = np.random.default_rng(7)
        self.x = self.mixture.sample(40000, seed=2)
        self.unit_noise = rng.standard_normal(self.x.shape)

    def _loss(self, score_fn, sigma, weighting):
        noise = self.unit_noise * np.reshape(sigma, (-1, 1))
        return float(dsm_loss(score_fn(self.x + noise), noise, sigma, weighting))

    def test_analytic_noised_score_has_lower_loss_than_perturbed_scores(self):
        mixed_levels = np.resize([1.0, 3.0, 7.0], len(self.x))  # one level per example
        for sigma, weighting in ((3.0, "none"), (1.0, "none"), (mixed_levels, "sigma2")):
            def analytic(x, sigma=sigma):
                return self.mixture.score(x, sigma)

            best = self._loss(analytic, sigma, weighting)
            scale = np.mean(np.reshape(sigma, -1)) ** -1  # typical score magnitude ~ 1 / sigma
            shift = 0.1 * scale * np.array([1.0, -1.0])
            for name, perturbed in {
                "x1.2": lambda x: 1.2 * analytic(x),
                "x0.8": lambda x: 0.8 * analytic(x),
                "shift": lambda x: analytic(x) + shift,
                "clean score": lambda x: self.mixture.score(x),
            }.items():
                with self.subTest(sigma=np.mean(sigma), weighting=weighting, perturbation=name):
                    self.assertLess(best, self._loss(perturbed, sigma, weighting))

    def test_loss_gap_of_a_constant_shift_is_half_its_squared_norm(self):
        # E||s* + d + eps/sigma^2||^2 / 2 = E||s* + eps/sigma^2||^2 / 2 + ||d||^2 / 2: the cross term
        # vanishes because E[eps/sigma^2 | x~] = -grad log p_sigma(x~) (Vincent 2011).
        sigma, shift = 3.0, np.array([0.2, -0.1])
        best = self._loss(lambda x: self.mixture.score(x, sigma), sigma, "none")
        shifted = self._loss(lambda x: self.mixture.score(x, sigma) + shift, sigma, "none")
        self.assertAllClose(shifted - best, 0.5 * shift @ shift, rtol=0.1)

    def test_loss_formula_and_weighting(self):
        score = np.array([[1.0, 0.0], [0.0, 2.0]])
        noise = np.array([[4.0, 0.0], [0.0, -2.0]])
        sigma = np.array([2.0, 1.0])
        # residuals: [1 + 1, 0] and [0, 2 - 2] -> 0.5 * mean(4, 0) = 1.0
        self.assertAllClose(dsm_loss(score, noise, sigma), 1.0)
        # sigma^2 weighting: 0.5 * mean(2^2 * 4, 1^2 * 0) = 4.0
        self.assertAllClose(dsm_loss(score, noise, sigma, "sigma2"), 4.0)
        with self.assertRaisesRegex(ValueError, "weighting must be one of"):
            dsm_loss(score, noise, sigma, "lambda")


class SamplerTest(tf.test.TestCase):
    def test_langevin_reproduces_a_single_gaussian(self):
        gaussian = single_gaussian()
        x_init = np.random.default_rng(0).uniform(-3, 3, size=(4000, 2))
        samples = langevin_dynamics(gaussian.score_tf, x_init, step_size=0.02, num_steps=1500, seed=11)
        samples = samples.numpy()
        # Sampling errors with n = 4000: ~0.02 on the mean, ~0.045 on the largest variance.
        self.assertAllClose(samples.mean(0), gaussian.means[0], atol=0.08)
        self.assertAllClose(np.cov(samples, rowvar=False), gaussian.covariances[0], atol=0.15)

    def test_samplers_are_seeded(self):
        gaussian = single_gaussian()
        x_init = np.zeros((64, 2))
        first = langevin_dynamics(gaussian.score_tf, x_init, 0.1, 20, seed=5)
        self.assertAllEqual(first, langevin_dynamics(gaussian.score_tf, x_init, 0.1, 20, seed=5))
        self.assertNotAllClose(first, langevin_dynamics(gaussian.score_tf, x_init, 0.1, 20, seed=6))
        sigmas = [4.0, 2.0, 1.0]
        annealed = annealed_langevin_dynamics(gaussian.score_tf, x_init, sigmas, 0.1, 5, seed=5)
        again = annealed_langevin_dynamics(gaussian.score_tf, x_init, sigmas, 0.1, 5, seed=5)
        self.assertAllEqual(annealed, again)

    def test_score_ascent_converges_to_the_mode_and_records_its_trajectory(self):
        gaussian = single_gaussian()
        x_init = np.array([[5.0, 5.0], [-3.0, 0.0]])
        final, trajectory = score_ascent(gaussian.score_tf, x_init, 0.2, 800, return_trajectory=True)
        self.assertEqual(trajectory.shape, (801, 2, 2))
        self.assertAllClose(trajectory[0], x_init)
        self.assertAllClose(trajectory[-1], final)
        self.assertAllClose(final, np.tile(gaussian.means, (2, 1)), atol=1e-3)

    def test_plain_langevin_keeps_the_start_proportions_not_the_weights(self):
        mixture = GaussianMixture.default()
        x_init = np.random.default_rng(1).uniform(-8, 8, size=(2000, 2))
        samples = langevin_dynamics(mixture.score_tf, x_init, 0.1, 500, seed=1).numpy()
        # The classic failure: the chains stay in the basin they start in (about half each).
        self.assertGreater(mixture.recovered_statistics(samples)["max_weight_error"], 0.15)

    def test_annealed_langevin_with_analytic_noised_scores_recovers_the_mixture(self):
        mixture = GaussianMixture.default()
        x_init = np.random.default_rng(1).uniform(-8, 8, size=(4000, 2))
        sigmas = geometric_sigmas(20.0, 1.0, 10)
        samples, trajectory = annealed_langevin_dynamics(
            mixture.score_tf, x_init, sigmas, step_size=0.1, steps_per_level=100, seed=3, return_trajectory=True
        )
        self.assertEqual(trajectory.shape, (1001, 4000, 2))
        stats = mixture.recovered_statistics(samples.numpy(), noise_sigma=1.0)
        self.assertLess(stats["max_weight_error"], 0.03)  # sampling std of a weight: ~0.006
        self.assertLess(stats["max_mean_error"], 0.2)
        self.assertLess(stats["max_covariance_error"], 0.4)

    def test_annealed_step_sizes_follow_algorithm_1(self):
        self.assertAllClose(annealed_step_sizes([4.0, 2.0, 1.0], 0.1), [1.6, 0.4, 0.1])
        sigmas = geometric_sigmas(20.0, 1.0, 5)
        self.assertAllClose(sigmas[[0, -1]], [20.0, 1.0])
        self.assertAllClose(sigmas[:-1] / sigmas[1:], np.full(4, 20.0**0.25))

    def test_bad_sampler_arguments_raise_clear_errors(self):
        score = single_gaussian().score_tf
        x = np.zeros((3, 2))
        with self.assertRaisesRegex(ValueError, "num_steps must be an integer >= 1, got 0"):
            langevin_dynamics(score, x, 0.1, 0)
        with self.assertRaisesRegex(ValueError, "num_steps must be an integer >= 1, got 2.5"):
            score_ascent(score, x, 0.1, 2.5)
        for step_size in (0.0, -0.1, float("inf")):
            with self.assertRaisesRegex(ValueError, "step_size must be a finite number > 0"):
                langevin_dynamics(score, x, step_size, 10)
        with self.assertRaisesRegex(ValueError, "steps_per_level must be an integer >= 1, got 0"):
            annealed_langevin_dynamics(score, x, [2.0, 1.0], 0.1, 0)
        with self.assertRaisesRegex(ValueError, r"sigmas must be finite and > 0, got \[2.0, 0.0\]"):
            annealed_langevin_dynamics(score, x, [2.0, 0.0], 0.1, 10)
        with self.assertRaisesRegex(ValueError, "sigmas must be strictly decreasing"):
            annealed_langevin_dynamics(score, x, [1.0, 2.0], 0.1, 10)
        with self.assertRaisesRegex(ValueError, r"x_init must have shape \(n, dim\)"):
            langevin_dynamics(score, np.zeros(2), 0.1, 10)
        with self.assertRaisesRegex(ValueError, "seed must be an integer"):
            langevin_dynamics(score, x, 0.1, 10, seed=1.5)
        with self.assertRaisesRegex(ValueError, "sigma_min must be <= sigma_max"):
            geometric_sigmas(1.0, 20.0, 10)
        with self.assertRaisesRegex(ValueError, "sigma_max must be a finite number > 0, got -1.0"):
            geometric_sigmas(-1.0, 1.0, 10)


if __name__ == "__main__":
    tf.test.main()
