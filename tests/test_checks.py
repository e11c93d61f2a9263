"""The shared argument checks (`keras_ddpm.checks`) behind every layer, model and data function."""

import numpy as np
import tensorflow as tf

from keras_ddpm import checks
from keras_ddpm.layers import ConditionalDense
from keras_ddpm.networks import UNet


class PositiveIntTest(tf.test.TestCase):
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

    def test_layers_use_it(self):
        with self.assertRaisesRegex(ValueError, "ConditionalDense units must be an integer >= 1, got 2.5"):
            ConditionalDense(2.5)
        with self.assertRaisesRegex(ValueError, "UNet groups must be an integer >= 1, got None"):
            UNet(groups=None)
        with self.assertRaisesRegex(ValueError, "each of channel_multipliers must be an integer >= 1, got 0"):
            UNet(channel_multipliers=(1, 0))
        with self.assertRaisesRegex(ValueError, "channel_multipliers must hold at least one level"):
            UNet(channel_multipliers=())
