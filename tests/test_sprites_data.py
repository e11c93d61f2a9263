"""Sprite data: the TFDS builder on the shared files, its errors, and the tf.data pipeline."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import ROOT

from keras_ddpm.apps.sprites.data import (
    DLAI_FILES,
    NETHACK_FILES,
    find_sprite_files,
    make_image_dataset,
    to_model_range,
    to_uint8,
)
from keras_ddpm.apps.sprites.tfds_builder import Sprites, class_names, sprites_builder

SPRITES = os.environ.get("KERAS_DDPM_SPRITES", os.path.join(ROOT, "..", "shared", "data", "sprites"))


def write_pair(folder, images, labels, names=("img.npy", "lab.npy")):
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, names[0]), images)
    np.save(os.path.join(folder, names[1]), labels)
    return names


def fake_sprites(n=20, classes=5, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    labels = np.eye(classes)[np.arange(n) % classes]  # float64 one-hot, as in the course files
    return images, labels


class SpritesBuilderTest(tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.data_dir = tempfile.mkdtemp()
        cls.builder = sprites_builder(SPRITES, data_dir=cls.data_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.data_dir, ignore_errors=True)
        super().tearDownClass()

    def test_reads_the_shared_files_with_features_and_classes(self):
        raw_images = np.load(os.path.join(SPRITES, NETHACK_FILES[0]))
        raw_labels = np.load(os.path.join(SPRITES, NETHACK_FILES[1])).argmax(1)
        info = self.builder.info
        self.assertEqual(self.builder.builder_config.name, "nethack_slashem")
        self.assertEqual(info.splits["train"].num_examples, len(raw_images))
        self.assertEqual(info.features["image"].shape, (16, 16, 3))
        self.assertEqual(info.features["label"].num_classes, raw_labels.max() + 1)
        self.assertEqual(class_names(self.builder)[:3], ["person", "creature", "food"])
        images, labels = tfds.as_numpy(self.builder.as_dataset(split="train", batch_size=-1, as_supervised=True))
        self.assertEqual(images.dtype, np.uint8)
        # The same (image, label) pairs as the files (TFDS stores them in its own fixed order).
        key = lambda ims, labs: sorted(im.tobytes() + bytes([lab]) for im, lab in zip(ims, labs))  # noqa: E731
        self.assertEqual(key(images, labels), key(raw_images, raw_labels))

    def test_tfds_load_by_name_and_split_slicing(self):
        halves = tfds.load("sprites/nethack_slashem", split=["train[:50%]", "train[50%:]"], data_dir=self.data_dir)
        sizes = [int(ds.cardinality()) for ds in halves]
        self.assertEqual(sum(sizes), self.builder.info.splits["train"].num_examples)
        self.assertLessEqual(abs(sizes[0] - sizes[1]), 1)
        # Prepared once: a second builder for the same files reuses the cache.
        again = sprites_builder(SPRITES, data_dir=self.data_dir)
        self.assertTrue(again.is_prepared())

    def test_other_files_get_their_own_class_count(self):
        folder = tempfile.mkdtemp()
        images, labels = fake_sprites(n=12, classes=3, size=8)
        write_pair(folder, images, labels, names=("tiny.npy", "tiny_labels.npy"))
        builder = sprites_builder(folder, "tiny.npy", "tiny_labels.npy", data_dir=self.data_dir)
        self.assertEqual(builder.info.features["label"].num_classes, 3)
        self.assertEqual(builder.info.features["image"].shape, (8, 8, 3))
        self.assertTrue(builder.builder_config.name.startswith("tiny_"))
        got = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, as_supervised=True))[1]
        self.assertEqual(sorted(got.tolist()), sorted(labels.argmax(1).tolist()))

    def test_dlai_file_names_are_found_by_default_with_five_classes(self):
        folder = tempfile.mkdtemp()
        write_pair(folder, *fake_sprites(n=10, classes=5), names=DLAI_FILES)
        self.assertEqual(find_sprite_files(folder), tuple(os.path.join(folder, n) for n in DLAI_FILES))
        builder = sprites_builder(folder, data_dir=self.data_dir)
        self.assertEqual(builder.builder_config.name, "dlai")
        self.assertEqual(class_names(builder), ["hero", "non-hero", "food", "spell", "side-facing"])


class SpritesCacheTest(tf.test.TestCase):
    def test_other_files_under_the_same_names_are_never_served_from_the_cache(self):
        data_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, data_dir, ignore_errors=True)
        key = lambda ims, labs: sorted(im.tobytes() + bytes([lab]) for im, lab in zip(ims, labs))  # noqa: E731
        builders = {}
        for names, classes in ((NETHACK_FILES, 7), (DLAI_FILES, 5)):
            for seed in (0, 1, 0):  # prepared from folder 0, then folder 1 (same names), then folder 0 again
                folder = os.path.join(data_dir, f"{names[0]}_{seed}")
                images, labels = fake_sprites(n=14, classes=classes, seed=seed)
                if not os.path.isdir(folder):
                    write_pair(folder, images, labels, names=names)
                builder = sprites_builder(folder, data_dir=data_dir)
                got = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, as_supervised=True))
                self.assertEqual(key(*got), key(images, labels.argmax(1)), f"{names} from folder {seed}")
                builders.setdefault((names, seed), builder.builder_config.name)
                self.assertEqual(builder.builder_config.name, builders[(names, seed)], "the cache is reused")
            self.assertNotEqual(builders[(names, 0)], builders[(names, 1)])
        self.assertEqual(builders[(NETHACK_FILES, 0)], "nethack_slashem")
        self.assertEqual(builders[(DLAI_FILES, 0)], "dlai")


class SpritesErrorsTest(tf.test.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp()
        self.data_dir = tempfile.mkdtemp()

    def assert_rejected(self, images, labels, pattern, error=ValueError):
        names = write_pair(self.folder, images, labels)
        with self.assertRaisesRegex(error, pattern):
            sprites_builder(self.folder, *names, data_dir=self.data_dir)
        self.assertEmpty(os.listdir(self.data_dir), "nothing is prepared from bad files")

    def test_wrong_dtype(self):
        images, labels = fake_sprites()
        self.assert_rejected(images.astype(np.float32), labels, "must be uint8")

    def test_wrong_shape(self):
        images, labels = fake_sprites()
        self.assert_rejected(images[..., 0], labels, r"shape \(N, height, width, 3\)")
        self.assert_rejected(images, labels.argmax(1), r"one-hot rows of shape \(N, num_classes\)")

    def test_mismatched_counts(self):
        images, labels = fake_sprites(n=20)
        self.assert_rejected(images, labels[:19], "20 images but 19 label rows")

    def test_labels_not_one_hot(self):
        images, labels = fake_sprites()
        labels[3] = 0.5
        self.assert_rejected(images, labels, "label row 3 is not one-hot")

    def test_missing_folder_and_files(self):
        with self.assertRaisesRegex(FileNotFoundError, "sprite data folder not found"):
            sprites_builder(os.path.join(self.folder, "nope"), data_dir=self.data_dir)
        with self.assertRaisesRegex(FileNotFoundError, "no sprite files in"):
            sprites_builder(self.folder, data_dir=self.data_dir)
        with self.assertRaisesRegex(FileNotFoundError, "sprite file not found: .*missing.npy"):
            write_pair(self.folder, *fake_sprites())
            sprites_builder(self.folder, "img.npy", "missing.npy", data_dir=self.data_dir)

    def test_builder_checks_files_against_a_predefined_configuration(self):
        # Files with the stand-in's names but 5 classes: the "nethack_slashem" config expects 7.
        write_pair(self.folder, *fake_sprites(classes=5), names=NETHACK_FILES)
        builder = Sprites(config="nethack_slashem", data_dir=self.data_dir)
        with self.assertRaisesRegex(ValueError, "5 classes, but configuration 'nethack_slashem' expects 7"):
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=self.folder))


class ImagePipelineTest(tf.test.TestCase):
    def test_scaling_round_trip(self):
        pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
        scaled = to_model_range(pixels)
        self.assertAllClose([scaled.min(), scaled.max()], [-1.0, 1.0])
        self.assertAllEqual(to_uint8(scaled), pixels)

    def test_batches_scaled_and_flipped(self):
        images, labels = fake_sprites(n=20)
        ids = labels.argmax(1)
        ds = tf.data.Dataset.from_tensor_slices((images, ids))
        batches = list(make_image_dataset(ds, batch_size=8, seed=0, augment="flip", repeat=2))
        self.assertLen(batches, 5)  # 40 examples, last partial batch dropped
        x, y = batches[0]
        self.assertEqual(x.dtype, tf.float32)
        self.assertEqual(y.dtype, tf.int32)
        self.assertEqual(tuple(x.shape), (8, 16, 16, 3))
        self.assertBetween(float(tf.reduce_min(x)), -1.0, 1.0)
        originals = {im.tobytes(): k for im, k in zip(images, ids)}
        flipped = 0
        for xb, yb in batches:
            for image, label in zip(to_uint8(xb.numpy()), yb.numpy()):
                if image.tobytes() in originals:
                    self.assertEqual(originals[image.tobytes()], label)
                else:  # a mirrored original, with its own label
                    self.assertEqual(originals[image[:, ::-1].tobytes()], label)
                    flipped += 1
        self.assertBetween(flipped, 5, 35)

    def test_bad_arguments(self):
        ds = tf.data.Dataset.from_tensor_slices((np.zeros((4, 16, 16, 3), np.uint8), np.zeros(4)))
        with self.assertRaisesRegex(ValueError, "larger than the data set"):
            make_image_dataset(ds, batch_size=5)
        with self.assertRaisesRegex(ValueError, "unknown augmentation"):
            make_image_dataset(ds, batch_size=2, augment="rotate")
