"""FID/KID maths (known answers), the feature extractors and the evaluation tables."""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_ddpm import NoiseSchedule
from keras_ddpm.evaluation.features import (
    ClassifierFeatures,
    InceptionFeatures,
    build_sprite_classifier,
    load_or_train_classifier,
)
from keras_ddpm.evaluation.memorization import memorization_report, nearest_distances
from keras_ddpm.evaluation.images import (
    feature_statistics,
    fid,
    frechet_distance,
    kid,
    mmd2_unbiased,
    polynomial_kernel,
    split_halves,
)
from keras_ddpm.networks.unet import UNet


class FrechetDistanceTest(tf.test.TestCase):
    def test_known_answers_for_gaussians(self):
        d = 6
        eye = np.eye(d)
        shift = np.arange(d, dtype=float)
        self.assertAllClose(frechet_distance(np.zeros(d), eye, shift, eye), shift @ shift)
        # N(0, a^2 I) vs N(0, b^2 I): d (a - b)^2.
        self.assertAllClose(frechet_distance(np.zeros(d), 4 * eye, np.zeros(d), 9 * eye), d * 1.0)
        with self.assertRaisesRegex(ValueError, "mismatched statistics"):
            frechet_distance(np.zeros(3), eye, np.zeros(d), eye)

    def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(self):
        rng = np.random.default_rng(0)
        features = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
        self.assertLess(fid(features, features), 1e-6)
        scores = [fid(features, features + rng.normal(scale=s, size=features.shape)) for s in (0.1, 0.5, 2.0)]
        self.assertEqual(scores, sorted(scores))
        self.assertGreater(scores[0], 1e-3)

    def test_fewer_samples_than_dimensions_still_gives_a_number(self):
        rng = np.random.default_rng(1)
        value = fid(rng.normal(size=(10, 32)), rng.normal(size=(12, 32)))
        self.assertTrue(np.isfinite(value) and value > 0)

    def test_statistics_and_bad_input(self):
        x = np.random.default_rng(2).normal(size=(50, 3))
        mu, sigma = feature_statistics(x)
        self.assertAllClose(mu, x.mean(0))
        self.assertAllClose(sigma, np.cov(x.T))
        with self.assertRaisesRegex(ValueError, r"\(N, D\)"):
            fid(np.zeros(5), np.zeros((5, 2)))
        with self.assertRaisesRegex(ValueError, "NaN"):
            fid(np.full((4, 2), np.nan), np.zeros((4, 2)))


class KernelDistanceTest(tf.test.TestCase):
    def test_unbiased_mmd_matches_a_direct_sum(self):
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(7, 4)), rng.normal(loc=0.3, size=(9, 4))
        k = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731
        xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
        yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
        xy = sum(k(a, b) for a in x for b in y) / (7 * 9)
        self.assertAllClose(mmd2_unbiased(x, y), xx + yy - 2 * xy)
        self.assertAllClose(polynomial_kernel(x, y)[2, 3], k(x[2], y[3]))

    def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift(self):
        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
        same, same_std = kid(a, b, num_subsets=20, subset_size=200)
        shifted, _ = kid(a, b + 1.0, num_subsets=20, subset_size=200)
        self.assertLess(abs(same), 3 * same_std + 1e-3)
        self.assertGreater(shifted, 10 * abs(same) + 0.01)
        self.assertEqual(kid(a, b, num_subsets=5, seed=3), kid(a, b, num_subsets=5, seed=3))

    def test_split_halves(self):
        a, b = split_halves(11, seed=0)
        self.assertEqual(len(a) + len(b), 11)
        self.assertEmpty(set(a) & set(b))
        self.assertAllEqual(split_halves(11, seed=0)[0], a)
        with self.assertRaisesRegex(ValueError, "at least 4"):
            split_halves(3)


class FeatureExtractorTest(tf.test.TestCase):
    def test_classifier_is_trained_once_then_loaded(self):
        rng = np.random.default_rng(0)
        labels = np.arange(60) % 3
        images = np.zeros((60, 8, 8, 3), np.float32) - 1
        for k in range(3):  # class k: a bright channel k, easy to learn
            images[labels == k, :, :, k] = 1
        images += rng.normal(scale=0.1, size=images.shape).astype(np.float32)
        path = os.path.join(tempfile.mkdtemp(), "clf.keras")
        model, note = load_or_train_classifier(path, images, labels, 3, epochs=3)
        self.assertIn("trained", note)
        self.assertTrue(os.path.isfile(path))
        again, note = load_or_train_classifier(path, images, labels, 3)
        self.assertIn("loaded", note)
        features = ClassifierFeatures(again)(images[:5])
        self.assertEqual(features.shape, (5, 128))
        self.assertAllClose(features, ClassifierFeatures(model)(images[:5]), atol=1e-5)
        with self.assertRaisesRegex(ValueError, "3 classes"):
            load_or_train_classifier(path, images, labels, 4)

    def test_classifier_layout_and_image_check(self):
        extractor = ClassifierFeatures(build_sprite_classifier((16, 16, 3), 7))
        self.assertEqual(extractor(np.zeros((2, 16, 16, 3))).shape, (2, 128))
        with self.assertRaisesRegex(ValueError, r"\(N, height, width, 3\)"):
            extractor(np.zeros((2, 16, 16)))

    def test_inception_needs_a_local_weights_file(self):
        with self.assertRaisesRegex(FileNotFoundError, "nothing can be downloaded"):
            InceptionFeatures("/nonexistent/inception_notop.h5")


class MemorizationTest(tf.test.TestCase):
    def test_nearest_distances_known_answers(self):
        refs = np.zeros((3, 2, 2, 3), np.float32)
        refs[1] += 1.0
        refs[2] -= 0.5
        queries = np.stack([refs[1] + 0.1, refs[0]])
        d, idx = nearest_distances(queries, refs)
        self.assertAllClose(d, [0.1, 0.0], atol=1e-6)
        self.assertAllEqual(idx, [1, 0])
        d, idx = nearest_distances(refs, refs, exclude_self=True)  # leave-one-out
        self.assertAllClose(d, [0.5, 1.0, 0.5], atol=1e-6)
        self.assertAllEqual(idx, [2, 0, 0])
        with self.assertRaisesRegex(ValueError, "values each"):
            nearest_distances(np.zeros((1, 4)), np.zeros((2, 5)))

    def test_planted_copies_are_counted(self):
        rng = np.random.default_rng(0)
        training = rng.uniform(-1, 1, (200, 8, 8, 3)).astype(np.float32)
        fresh = rng.uniform(-1, 1, (80, 8, 8, 3)).astype(np.float32)
        copies = training[:20] + rng.normal(scale=0.02, size=(20, 8, 8, 3)).astype(np.float32)
        report = memorization_report(np.concatenate([fresh, copies]), training)
        self.assertAllClose(report["samples"]["near_copy_share"], 0.2)
        self.assertEqual(report["copied"], list(range(20)))
        self.assertEqual(report["baseline"], "leave-one-out")
        self.assertEqual(report["real"]["near_copy_share"], 0.0)  # random images are far apart
        held = memorization_report(fresh, training, baseline=training[:10])  # a "held-out" set of copies
        self.assertEqual(held["baseline"], "held-out")
        self.assertEqual(held["real"]["near_copy_share"], 1.0)
        self.assertEqual(held["samples"]["near_copy_share"], 0.0)
        with self.assertRaisesRegex(ValueError, "threshold"):
            memorization_report(fresh, training, threshold=0)


class SpritesEvaluationTest(tf.test.TestCase):
    def test_every_table_with_floor_timing_fidelity_memorization_and_grids(self):
        from keras_ddpm.apps.sprites.evaluation import (
            evaluate,
            markdown_tables,
            parse_etas,
            parse_modes,
            parse_steps,
        )

        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(48, 16, 16, 3), dtype=np.uint8)
        labels = np.arange(48) % 3
        net = UNet(base_features=8, num_classes=3)
        net.build([(None, 16, 16, 3), (None,), (None,)])
        out = tempfile.mkdtemp()
        clf = build_sprite_classifier((16, 16, 3), 3)
        clf_path = os.path.join(out, "clf.keras")
        clf.save(clf_path)
        result = evaluate(net, NoiseSchedule("linear", 12), images, labels, out, ddim_steps=[3],
                          etas=[0.0, 1.0], num_samples=20, jit_compile=False, classifier_path=clf_path, verbose=0,
                          kid_subsets=5, per_class=1, check_samples=4, train_index=np.arange(40),
                          class_names=["a", "b", "c"])
        names = ["DDPM (beta)", "DDPM (posterior)", "DDIM-3 eta 0", "DDIM-3 eta 1"]
        self.assertEqual([r["sampler"] for r in result["rows"]], names * 2)
        self.assertEqual([r["mode"] for r in result["rows"]], ["conditional"] * 4 + ["unconditional"] * 4)
        self.assertEqual([r["steps"] for r in result["rows"]][:4], [12, 12, 3, 3])
        for row in result["rows"]:
            self.assertGreater(row["seconds"], 0)
            self.assertTrue(np.isfinite(row["fid"]) and np.isfinite(row["kid"]))
            self.assertBetween(row["near_copy_share"], 0.0, 1.0)
            self.assertEqual("class_agreement" in row, row["mode"] == "conditional")
        self.assertEqual(result["memorization"]["baseline"], "held-out")
        self.assertLen(result["fidelity"]["agreement_per_class"], 3)
        # DDIM with eta 1 and all T steps is DDPM with the posterior variance, to float32 round-off.
        self.assertLess(result["ddim_equals_ddpm"]["max_abs_difference"], 1e-4)
        for name in ("results.json", "results.md", "timing.csv", "metrics.csv", "per_class.png",
                     "samples_ddpm_beta_conditional.png", "samples_ddim-3_eta_1_unconditional.png"):
            self.assertTrue(os.path.isfile(os.path.join(out, name)), name)
        with open(os.path.join(out, "results.json")) as handle:
            self.assertEqual(json.load(handle)["real_halves"], [20, 24])  # half A cut to the sample size
        table = markdown_tables(result)
        self.assertIn("real half A (floor)", table)
        self.assertIn("| DDIM-3 eta 1 | unconditional | 3 |", table)
        self.assertIn("Class fidelity", table)
        self.assertIn("Memorisation", table)
        self.assertEqual(parse_steps("50, 10,10,T", 100), [10, 50, 100])
        self.assertEqual(parse_etas("1,0"), [0.0, 1.0])
        self.assertEqual(parse_modes("unconditional,conditional"), ["conditional", "unconditional"])
        for bad, parse in (("0,5", lambda t: parse_steps(t, 12)), ("2", parse_etas), ("both", parse_modes)):
            with self.assertRaises(ValueError):
                parse(bad)
