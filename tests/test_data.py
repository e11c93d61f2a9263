import contextlib
import io
import os
import tempfile

import numpy as np
import tensorflow as tf
from helpers import BICYCLE

from keras_ddpm.data import (
    fuse_steps,
    fused_steps_for,
    load_points,
    make_dataset,
    split_points,
)


class LoadPointsTest(tf.test.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def write(self, text):
        path = os.path.join(self.tmp, "points.txt")
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def test_reads_the_real_bicycle(self):
        points = load_points(BICYCLE)
        self.assertEqual(points.shape, (50468, 2))
        self.assertEqual(points.dtype, np.float32)
        self.assertTrue(np.all(np.abs(points) <= 1.0 + 1e-6))

    def test_reads_blank_lines_tabs_and_exponents(self):
        points = load_points(self.write("0.5 -0.5\n\n1e-1\t2E-1\n  -1 1  \n"))
        self.assertAllClose(points, [[0.5, -0.5], [0.1, 0.2], [-1, 1]])

    def test_errors_name_the_problem(self):
        cases = {
            "0.1 0.2\n0.3\n": r"line 2: expected 2 numbers, found 1",
            "0.1 0.2 0.3\n": r"line 1: expected 2 numbers, found 3",
            "0.1 0.2\nabc 0.2\n": r"line 2: not a number",
            "0.1 nan\n": r"line 1: values must be finite",
            "inf 0\n": r"line 1: values must be finite",
            "": r"no data points",
            "\n  \n": r"no data points",
        }
        for text, message in cases.items():
            with self.assertRaisesRegex(ValueError, message, msg=repr(text)):
                load_points(self.write(text))

    def test_values_float32_training_cannot_hold_are_refused_with_file_and_line(self):
        # 1e39 is finite in float64 but inf in float32; 1e30 fits float32, its square does not.
        for bad in ("1e39 0.5", "0.5 -1e39", "1e30 0.1", "0.1 -2e18"):
            path = self.write("0.1 0.2\n0.3 0.4\n" + bad + "\n")
            with self.assertRaisesRegex(ValueError, rf"{path}, line 3: values must lie within ±1e\+18"):
                load_points(path)
        self.assertAllClose(load_points(self.write("1e18 -1e18\n"), warn=False), [[1e18, -1e18]])

    def test_one_warning_line_for_values_far_outside_the_data(self):
        ring = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
        text = "\n".join(f"{x} {y}" for x, y in ring)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            load_points(self.write(text + "\n0.5 1e5\n3e5 0.1\n"))
        lines = stderr.getvalue().splitlines()
        self.assertLen(lines, 1)
        self.assertRegex(lines[0], r"^warning: .*points.txt, line 201: .* \(2 such points, more than 10000 times\)")
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            load_points(self.write(text + "\n50 -40\n"))  # far, but not 1e4 spreads: no warning
            load_points(BICYCLE)
        self.assertEqual(stderr.getvalue(), "")

    def test_missing_file_and_directory(self):
        with self.assertRaisesRegex(FileNotFoundError, "data file not found"):
            load_points(os.path.join(self.tmp, "nope.txt"))
        with self.assertRaisesRegex(ValueError, "is a directory"):
            load_points(self.tmp)


class DatasetTest(tf.test.TestCase):
    def test_batches_cover_every_point_once_per_epoch(self):
        points = np.arange(200, dtype=np.float32).reshape(100, 2)
        ds = make_dataset(points, batch_size=10, seed=0)
        epoch1 = np.concatenate(list(ds.as_numpy_iterator()))
        epoch2 = np.concatenate(list(ds.as_numpy_iterator()))
        self.assertEqual(epoch1.shape, (100, 2))
        self.assertAllEqual(np.sort(epoch1[:, 0]), points[:, 0])
        self.assertFalse(np.array_equal(epoch1, epoch2), "reshuffled every epoch")
        self.assertFalse(np.array_equal(epoch1, points), "shuffled")

    def test_same_seed_same_epochs_and_remainder_options(self):
        points = np.arange(46, dtype=np.float32).reshape(23, 2)
        first = [b.numpy() for _ in range(2) for b in make_dataset(points, 5, seed=3)]
        again = [b.numpy() for _ in range(2) for b in make_dataset(points, 5, seed=3)]
        self.assertAllEqual(np.stack(first), np.stack(again))
        self.assertLen(first, 8)  # 4 full batches per epoch, the 3 left over dropped
        kept = list(make_dataset(points, 5, shuffle=False, drop_remainder=False).as_numpy_iterator())
        self.assertEqual([len(b) for b in kept], [5, 5, 5, 5, 3])
        self.assertAllEqual(np.concatenate(kept), points)  # file order
        self.assertEqual(int(make_dataset(points, 5).cardinality()), 4)

    def test_fused_steps_stack_consecutive_minibatches(self):
        points = np.arange(46, dtype=np.float32).reshape(23, 2)
        plain = list(make_dataset(points, 2, seed=1).as_numpy_iterator())
        stacked = list(make_dataset(points, 2, seed=1, fused_steps=4).as_numpy_iterator())
        self.assertEqual([s.shape for s in stacked], [(4, 2, 2), (4, 2, 2)])  # of 11 minibatches, 3 dropped
        self.assertAllEqual(np.concatenate(stacked), np.stack(plain)[:8])
        self.assertEqual(int(make_dataset(points, 2, fused_steps=4).cardinality()), 2)
        self.assertEqual(fused_steps_for(709), 88)  # 8 stacks, 5 minibatches dropped
        self.assertEqual(fused_steps_for(50), 50)
        self.assertEqual(fused_steps_for(201, 100), 67)
        pairs = fuse_steps(tf.data.Dataset.from_tensor_slices((points[:20], np.arange(20))).batch(5), 2)
        self.assertEqual([(x.shape, y.shape) for x, y in pairs.as_numpy_iterator()], [((2, 5, 2), (2, 5))] * 2)
        with self.assertRaisesRegex(ValueError, "fused_steps must be an integer >= 1, got 0"):
            fuse_steps(pairs, 0)
        with self.assertRaisesRegex(ValueError, "drop_remainder"):
            make_dataset(points, 5, fused_steps=2, drop_remainder=False)

    def test_bad_batch_size(self):
        with self.assertRaisesRegex(ValueError, "batch size"):
            make_dataset(np.zeros((10, 2)), batch_size=0)
        with self.assertRaisesRegex(ValueError, "larger than the data set"):
            make_dataset(np.zeros((10, 2)), batch_size=64)

    def test_split_is_random_and_disjoint(self):
        points = np.arange(1000, dtype=np.float32).reshape(500, 2)
        train, val = split_points(points, 0.2, seed=0)
        self.assertEqual((len(train), len(val)), (400, 100))
        self.assertEmpty(set(train[:, 0]) & set(val[:, 0]))
        self.assertGreater(val[:, 0].max() - val[:, 0].min(), 800)  # not a head or tail slice
