"""`keras_ddpm.process.rng`: Philox draws keyed directly by a Keras SeedGenerator (training's t and eps)."""

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.process import rng

N = 200_000


class RngTest(tf.test.TestCase):
    def test_same_seed_same_numbers_and_one_generator_step_per_draw(self):
        a, b = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
        first = rng.normal((1000,), a)
        self.assertAllEqual(first, rng.normal((1000,), b))
        self.assertAllEqual(a.state, [3, 1])
        second = rng.normal((1000,), a)
        self.assertAllEqual(a.state, [3, 2])
        self.assertLess(abs(np.corrcoef(first, second)[0, 1]), 0.15)  # 1000 pairs: |r| < ~4.7 sigma
        self.assertNotAllClose(rng.normal((1000,), keras.random.SeedGenerator(4)), first)

    def test_distributions(self):
        gen = keras.random.SeedGenerator(0)
        z = np.asarray(rng.normal((N,), gen), np.float64)
        se = 1 / np.sqrt(N)
        self.assertAllClose([z.mean(), z.std(), np.mean(z**3), np.mean(z**4)], [0.0, 1.0, 0.0, 3.0],
                            atol=6 * se * np.array([1.0, 1.0, 4.0, 10.0]))
        u = np.asarray(rng.uniform((N,), gen))
        self.assertTrue(((u >= 0) & (u < 1)).all())
        self.assertAllClose([u.mean(), u.var()], [0.5, 1 / 12], atol=6 * se * 0.3)
        t = np.asarray(rng.randint((N,), 0, 1000, gen))
        self.assertEqual(t.dtype, np.int32)
        self.assertEqual((t.min(), t.max()), (0, 999))
        counts = np.bincount(t, minlength=1000)
        chi2 = np.sum((counts - N / 1000) ** 2 / (N / 1000))
        self.assertLess(chi2, 999 + 6 * np.sqrt(2 * 999))  # chi-square, 999 degrees of freedom

    def test_compiled_draws_are_deterministic_and_have_no_seed_hash(self):
        def draw(gen):
            return rng.normal((4096, 2), gen), rng.randint((4096,), 0, 1000, gen)

        for jit in (False, True):
            with self.subTest(jit_compile=jit):
                results = []
                for _ in range(2):
                    gen = keras.random.SeedGenerator(5)
                    results.append(tf.function(lambda: draw(gen), jit_compile=jit)())
                self.assertAllEqual(results[0][0], results[1][0])
                self.assertAllEqual(results[0][1], results[1][1])
                z = np.asarray(results[0][0])
                self.assertAllClose([z.mean(), z.std()], [0.0, 1.0], atol=0.05)
        # The point of the module: no StatelessRandomGetKeyCounter (the seed hash that XLA's CPU
        # fusion recomputed for every number drawn) in the traced graph.
        gen = keras.random.SeedGenerator(5)
        ops = {op.type for op in tf.function(lambda: draw(gen)).get_concrete_function().graph.get_operations()}
        self.assertIn("StatelessRandomNormalV2", ops)
        self.assertNotIn("StatelessRandomGetKeyCounter", ops)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(TypeError, "keras.random.SeedGenerator"):
            rng.normal((3,), 0)
        with self.assertRaisesRegex(ValueError, "minval < maxval"):
            rng.randint((3,), 5, 5, keras.random.SeedGenerator(0))
