"""The shared argument checks (`keras_ddpm.utils.checks`) behind every layer, model and data function."""

import numpy as np
import tensorflow as tf

from keras_ddpm.layers import ConditionalDense
from keras_ddpm.networks import UNet
from keras_ddpm.utils import checks


class PositiveIntTest(tf.test.TestCase):
    def test_is_integer(self):
        for good in (0, -3, 7, np.int32(2), 4.0, np.float32(5.0), tf.constant(6), tf.constant(2.0)):
            with self.subTest(value=good):
                self.assertTrue(checks.is_integer(good))
        for bad in (2.5, float("nan"), float("inf"), True, np.bool_(False), "3", b"3", None, [1],
                    tf.constant([1, 2]), tf.constant(0.5)):
            with self.subTest(value=bad):
                self.assertFalse(checks.is_integer(bad))

    def test_accepts_integers_and_integral_floats(self):
        self.assertEqual(checks.positive_int("n", 3), 3)
        self.assertEqual(checks.positive_int("n", np.int64(7)), 7)
        value = checks.positive_int("n", 4.0)  # e.g. read from a JSON config
        self.assertEqual(value, 4)
        self.assertIsInstance(value, int)

    def test_refuses_everything_else_naming_the_argument(self):
        for bad in (0, -2, 2.5, float("nan"), float("inf"), True, "3", None, [1]):
            with self.subTest(value=bad):
                with self.assertRaisesRegex(ValueError, r"^units must be an integer >= 1, got "):
                    checks.positive_int("units", bad)

    def test_integer_at_least(self):
        self.assertEqual(checks.integer_at_least("num_blocks", 0, 0), 0)
        self.assertEqual(checks.integer_at_least("dim", 2.0, 2), 2)
        for bad in (1, 1.5, None):
            with self.subTest(value=bad):
                with self.assertRaisesRegex(ValueError, r"^dim must be an integer >= 2, got "):
                    checks.integer_at_least("dim", bad, 2)

    def test_range_checks_use_is_integer(self):
        from keras_ddpm import DDIMSampler, NoiseSchedule

        with self.assertRaisesRegex(ValueError, "timesteps must be an integer >= 2, got None"):
            NoiseSchedule(timesteps=None)  # a ValueError, not int(None)'s TypeError
        self.assertEqual(NoiseSchedule(timesteps=10.0).timesteps, 10)
        with self.assertRaisesRegex(ValueError, r"num_steps must be an integer in 1\.\.1000 \(T\), got '50'"):
            DDIMSampler(NoiseSchedule(), num_steps="50")

    def test_layers_use_it(self):
        with self.assertRaisesRegex(ValueError, "ConditionalDense units must be an integer >= 1, got 2.5"):
            ConditionalDense(2.5)
        with self.assertRaisesRegex(ValueError, "UNet groups must be an integer >= 1, got None"):
            UNet(groups=None)
        with self.assertRaisesRegex(ValueError, "each of channel_multipliers must be an integer >= 1, got 0"):
            UNet(channel_multipliers=(1, 0))
        with self.assertRaisesRegex(ValueError, "channel_multipliers must hold at least one level"):
            UNet(channel_multipliers=())
