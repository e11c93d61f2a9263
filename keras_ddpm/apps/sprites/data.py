"""Sprite images in DeepLearning.AI's format: reading and checking the ``.npy`` pair, and the
tf.data pipeline that feeds `DiffusionModel.fit`.

The format (``sprites_1788_16x16.npy`` + ``sprite_labels_nc_1788_16x16.npy`` in the course):

- images: ``uint8``, shape ``(N, H, W, 3)``, values 0..255;
- labels: one-hot rows, shape ``(N, num_classes)`` (float in the course); the number of classes
  is taken from this file, never assumed.

The TFDS dataset builder (`keras_ddpm.apps.sprites.tfds_builder`) reads the files with
`load_sprite_arrays`, so a bad file gives the same clear error either way. Pixels are scaled to
[-1, 1] for training (`to_model_range`) and back to uint8 for pictures (`to_uint8`).
"""

from __future__ import annotations

import os

import numpy as np

from keras_ddpm.utils import checks

#: DeepLearning.AI's file names (5 classes: hero, non-hero, food, spell, side-facing).
DLAI_FILES = ("sprites_1788_16x16.npy", "sprite_labels_nc_1788_16x16.npy")
#: The NetHack/SLASH'EM stand-in in ``shared/data/sprites`` (7 classes; see its README).
NETHACK_FILES = ("nethack_slashem_16x16.npy", "nethack_slashem_labels_16x16.npy")
#: Tried in this order when no file names are given.
DEFAULT_FILES = (DLAI_FILES, NETHACK_FILES)


def find_sprite_files(folder, images: str | None = None, labels: str | None = None):
    """The ``(images_path, labels_path)`` pair to read from ``folder``.

    Names default to DeepLearning.AI's, then to the NetHack stand-in's, whichever pair exists.
    Raises `FileNotFoundError` naming the folder or file that is missing.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"sprite data folder not found: {folder}")
    if images is None and labels is None:
        for pair in DEFAULT_FILES:
            if all(os.path.isfile(os.path.join(folder, name)) for name in pair):
                images, labels = pair
                break
        else:
            names = " or ".join(" + ".join(pair) for pair in DEFAULT_FILES)
            raise FileNotFoundError(
                f"no sprite files in {folder}: expected {names} (or name them with --images/--labels)"
            )
    if images is None or labels is None:
        raise ValueError("give both the images file and the labels file, or neither")
    paths = (os.path.join(folder, images), os.path.join(folder, labels))
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"sprite file not found: {path}")
    return paths


def validate_sprite_arrays(images: np.ndarray, labels: np.ndarray, source: str = "sprites"):
    """Check an images/labels pair in the course format; returns ``(images, class_ids, num_classes)``.

    ``images`` must be uint8 ``(N, H, W, 3)``; ``labels`` one-hot ``(N, C)`` (any numeric dtype,
    each row a single 1) with the same N. Raises `ValueError` naming the problem otherwise.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: images must be uint8 (values 0..255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3 or min(images.shape) < 1:
        raise ValueError(f"{source}: images must have shape (N, height, width, 3), got {images.shape}")
    if labels.ndim != 2 or labels.shape[1] < 1:
        raise ValueError(f"{source}: labels must be one-hot rows of shape (N, num_classes), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.number) or np.issubdtype(labels.dtype, np.complexfloating):
        raise ValueError(f"{source}: labels must be numeric one-hot rows, got dtype {labels.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"{source}: {len(images)} images but {len(labels)} label rows; they must match")
    one_hot = np.all((labels == 0) | (labels == 1), axis=1) & (labels.sum(axis=1) == 1)
    if not one_hot.all():
        bad = int(np.flatnonzero(~one_hot)[0])
        raise ValueError(f"{source}: label row {bad} is not one-hot: {labels[bad].tolist()}")
    return images, labels.argmax(axis=1).astype(np.int64), int(labels.shape[1])


def load_sprite_arrays(folder, images: str | None = None, labels: str | None = None):
    """Read and check the pair of ``.npy`` files; returns ``(images uint8, class_ids, num_classes)``."""
    images_path, labels_path = find_sprite_files(folder, images, labels)
    arrays = []
    for path in (images_path, labels_path):
        if os.path.getsize(path) == 0:
            raise ValueError(f"{path} is empty (0 bytes): not a .npy array")
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except (ValueError, OSError, EOFError) as err:  # EOFError: a truncated file
            raise ValueError(f"{path}: not a readable .npy array ({' '.join(str(err).split())})") from None
    return validate_sprite_arrays(*arrays, source=os.path.basename(images_path))


def to_model_range(images):
    """uint8 0..255 -> float32 in [-1, 1] (NumPy or TensorFlow input)."""
    import tensorflow as tf

    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 127.5 - 1.0
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
    """float in [-1, 1] (clipped) -> uint8 0..255."""
    images = np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255)
    return np.round(images).astype(np.uint8)


AUGMENTATIONS = ("none", "flip")


def make_image_dataset(dataset, batch_size: int = 100, seed: int | None = 0, augment: str = "none",
                       repeat: int = 1, shuffle: bool = True, drop_remainder: bool = True):
    """The training pipeline: ``(uint8 image, label)`` pairs -> batches of ``(x0 in [-1, 1], label)``.

    Args:
        dataset: a `tf.data.Dataset` of ``(image, label)`` (e.g. the TFDS builder's
            ``as_dataset(as_supervised=True)``).
        batch_size: examples per batch.
        seed: shuffle and augmentation seed (None: nondeterministic).
        augment: ``"none"``, or ``"flip"``: random left-right flips (for small sets).
        repeat: passes over the data per epoch (small sets: fewer, longer epochs).
        shuffle: reshuffle every epoch.
        drop_remainder: drop the last partial batch.
    """
    import tensorflow as tf

    batch_size = checks.positive_int("batch size", batch_size)
    if augment not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    repeat = checks.positive_int("repeat", repeat)
    size = int(dataset.cardinality())
    if size >= 0 and drop_remainder and size * repeat < batch_size:
        raise ValueError(f"batch size {batch_size} is larger than the data set ({size} images x {repeat})")
    ds = dataset.map(lambda x, y: (to_model_range(x), tf.cast(y, tf.int32))).cache()
    if repeat > 1:
        ds = ds.repeat(int(repeat))
    if shuffle:
        ds = ds.shuffle(max(size * repeat, 1) if size > 0 else 10_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if augment == "flip":
        import keras

        flip = keras.layers.RandomFlip("horizontal", seed=seed)  # a Keras preprocessing layer in tf.data
        ds = ds.map(lambda x, y: (flip(x, training=True), y))
    return ds.prefetch(tf.data.AUTOTUNE)
