"""Point-cloud metrics: known answers on the real bicycle data and on constructed sets."""

import numpy as np
import tensorflow as tf
from helpers import BICYCLE
from scipy.spatial.distance import cdist

from keras_ddpm.data import load_points
from keras_ddpm.evaluation import points as metrics

_DATA = {}


def bicycle_halves(n=3000, seed=0):
    if "points" not in _DATA:
        _DATA["points"] = load_points(BICYCLE)
    data = _DATA["points"]
    order = np.random.default_rng(seed).permutation(len(data))
    return data[order[:n]], data[order[n: 2 * n]]


class SlicedWassersteinTest(tf.test.TestCase):
    def test_identical_sets_give_zero_and_halves_a_small_floor(self):
        a, b = bicycle_halves()
        self.assertAllClose(metrics.sliced_wasserstein(a, a), 0.0, atol=1e-12)
        floor = metrics.sliced_wasserstein(a, b)
        self.assertGreater(floor, 0.0)
        self.assertLess(floor, 0.03)

    def test_a_shifted_set_gives_the_shift(self):
        # Projections of x + s are those of x moved by <theta, s>; the mean of |cos| over the circle is 2/pi.
        a, _ = bicycle_halves(2000)
        shift = np.array([0.3, 0.4])
        w1 = metrics.sliced_wasserstein(a, a + shift, num_projections=4000)
        self.assertAllClose(w1, 2 / np.pi * 0.5, rtol=0.02)
        # Exact in 1D: every direction is +-1.
        x = np.random.default_rng(1).standard_normal((500, 1))
        self.assertAllClose(metrics.sliced_wasserstein(x, x + 0.7), 0.7, rtol=1e-9)

    def test_unequal_sizes_use_the_quantile_functions(self):
        x = np.arange(4, dtype=float)[:, None]  # 0, 1, 2, 3
        y = np.repeat(x, 2, axis=0)  # the same distribution with every point twice
        self.assertAllClose(metrics.sliced_wasserstein(x, y), 0.0, atol=1e-12)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, "shape"):
            metrics.sliced_wasserstein(np.zeros(5), np.zeros((5, 2)))
        with self.assertRaisesRegex(ValueError, "same number of dimensions"):
            metrics.sliced_wasserstein(np.zeros((5, 2)), np.zeros((5, 3)))
        with self.assertRaisesRegex(ValueError, "NaN"):
            metrics.sliced_wasserstein(np.full((5, 2), np.nan), np.zeros((5, 2)))


class MMDTest(tf.test.TestCase):
    def test_same_distribution_near_zero_and_grows_with_a_shift(self):
        a, b = bicycle_halves(1500)
        floor = metrics.mmd(a, b)
        self.assertLess(abs(floor), 2e-3)
        small, large = metrics.mmd(a, b + 0.02), metrics.mmd(a, b + 0.2)
        self.assertGreater(small, floor + 5 * abs(floor))
        self.assertGreater(large, small)

    def test_matches_a_direct_computation(self):
        rng = np.random.default_rng(2)
        x, y = rng.standard_normal((40, 2)), rng.standard_normal((30, 2)) + 0.5
        bandwidths = (0.5, 1.0)

        def k(a, b):
            d2 = cdist(a, b, "sqeuclidean")
            return sum(np.exp(-d2 / (2 * s * s)) for s in bandwidths)

        kxx, kyy = k(x, x), k(y, y)
        expected = ((kxx.sum() - np.trace(kxx)) / (40 * 39) + (kyy.sum() - np.trace(kyy)) / (30 * 29)
                    - 2 * k(x, y).mean())
        self.assertAllClose(metrics.mmd(x, y, bandwidths=bandwidths), expected, rtol=1e-9)


class PrecisionRecallTest(tf.test.TestCase):
    def test_coverage_is_exact(self):
        rng = np.random.default_rng(3)
        points = rng.uniform(-1, 1, (300, 2))
        radii = rng.exponential(0.05, 300)
        radii[:3] = 0.8  # a few huge balls force the fallback beyond the nearest candidates
        queries = rng.uniform(-1.5, 1.5, (400, 2))
        expected = np.mean(np.any(cdist(queries, points) <= radii[None, :], axis=1))
        self.assertAllClose(metrics.coverage_fraction(queries, points, radii, candidates=4), expected)

    def test_two_halves_of_the_data_are_near_one(self):
        a, b = bicycle_halves()
        precision, recall = metrics.precision_recall(a, b)
        self.assertGreater(precision, 0.9)
        self.assertGreater(recall, 0.9)

    def test_a_set_collapsed_onto_one_mode_has_low_recall(self):
        a, b = bicycle_halves()
        wheel = a[a[:, 0] < -0.3]  # the left part of the bicycle only
        precision, recall = metrics.precision_recall(wheel, b)
        self.assertGreater(precision, 0.9)
        self.assertLess(recall, 0.6)
        noise = np.random.default_rng(4).uniform(-1, 1, a.shape)
        precision, _ = metrics.precision_recall(noise, b)
        self.assertLess(precision, 0.5)

    def test_bad_k(self):
        with self.assertRaisesRegex(ValueError, "k must be"):
            metrics.precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3)


class EvaluateTest(tf.test.TestCase):
    def test_floor_uses_as_many_real_points_as_samples(self):
        a, b = bicycle_halves(2000)
        samples = a[:500] + 0.05
        result = metrics.evaluate(samples, b, a)
        self.assertEqual(set(result), {m for name in metrics.METRICS for m in (name, name + "_floor")})
        self.assertAllClose(result["sliced_w1_floor"], metrics.sliced_wasserstein(a[:500], b))
        self.assertGreater(result["sliced_w1"], result["sliced_w1_floor"])
        self.assertFalse(metrics.meets_targets(result))
        self.assertTrue(metrics.meets_targets(metrics.evaluate(a[500:1000], b, a)))
