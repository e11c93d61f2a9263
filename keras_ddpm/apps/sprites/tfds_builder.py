"""A tensorflow-datasets builder for sprite images in DeepLearning.AI's ``.npy`` format.

Manual-download style: the files cannot be fetched by TFDS, the user points the builder at the
folder that holds them. Two configurations are predefined, so ``tfds.load`` works by name:

- ``sprites/dlai``: ``sprites_1788_16x16.npy`` + ``sprite_labels_nc_1788_16x16.npy`` (5 classes);
- ``sprites/nethack_slashem``: the stand-in in ``shared/data/sprites`` (7 classes).

Any other pair of files in the same format gets a custom configuration from `sprites_builder`,
which reads the number of classes and the image size from the files themselves::

    import tensorflow_datasets as tfds
    from keras_ddpm.apps.sprites.tfds_builder import sprites_builder

    builder = sprites_builder("../shared/data/sprites", data_dir="~/tensorflow_datasets")
    train = builder.as_dataset(split="train", as_supervised=True)     # (uint8 image, label)
    halves = builder.as_dataset(split=["train[:50%]", "train[50%:]"])   # TFDS split slicing
    images = next(iter(tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))))

or, for a predefined configuration (importing this module registers the builder)::

    import keras_ddpm.apps.sprites.tfds_builder  # noqa: F401
    ds = tfds.load("sprites/nethack_slashem", split="train", data_dir=...,
                   download_and_prepare_kwargs={"download_config":
                       tfds.download.DownloadConfig(manual_dir="../shared/data/sprites")})

TFDS prepares the data once (TFRecords under ``data_dir/sprites/<config>/<version>``) and reuses
it. Features: ``image`` (`tfds.features.Image`, uint8 HxWx3) and ``label``
(`tfds.features.ClassLabel`). One split, ``train``, in a fixed order (TFDS shuffles examples by key when it writes them, so
slices such as ``train[:50%]`` mix every class and source); use slicing for held-out parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from keras_ddpm.utils.io import write_text
from keras_ddpm.apps.sprites.data import (
    DLAI_FILES,
    NETHACK_FILES,
    find_sprite_files,
    load_sprite_arrays,
)

DLAI_CLASSES = ("hero", "non-hero", "food", "spell", "side-facing")
NETHACK_CLASSES = ("person", "creature", "food", "magic", "item", "terrain", "effect")


@dataclasses.dataclass
class SpritesConfig(tfds.core.BuilderConfig):
    """Which pair of files to read and what they hold."""

    images_file: str = DLAI_FILES[0]
    labels_file: str = DLAI_FILES[1]
    num_classes: int = 5
    image_shape: tuple = (16, 16, 3)
    class_names: tuple = ()


class Sprites(tfds.core.GeneratorBasedBuilder):
    """Sprite images (uint8 HxWx3) with one class label each, from a manually supplied ``.npy`` pair."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the images file (uint8, shape (N, H, W, 3)) and the labels file (one-hot, shape
    (N, num_classes)) in one folder and pass it as
    `download_config=tfds.download.DownloadConfig(manual_dir=FOLDER)`. DeepLearning.AI's files are
    sprites_1788_16x16.npy and sprite_labels_nc_1788_16x16.npy; keras-ddpm's stand-in is
    shared/data/sprites (nethack_slashem_16x16.npy, nethack_slashem_labels_16x16.npy).
    """
    BUILDER_CONFIGS = [
        SpritesConfig(name="dlai", description="DeepLearning.AI sprites, 16x16, 5 classes",
                      images_file=DLAI_FILES[0], labels_file=DLAI_FILES[1], num_classes=5,
                      class_names=DLAI_CLASSES),
        SpritesConfig(name="nethack_slashem", description="NetHack/SLASH'EM tiles, 16x16, 7 classes",
                      images_file=NETHACK_FILES[0], labels_file=NETHACK_FILES[1], num_classes=7,
                      class_names=NETHACK_CLASSES),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        names = list(config.class_names) if config.class_names else None
        label = (tfds.features.ClassLabel(names=names) if names
                 else tfds.features.ClassLabel(num_classes=config.num_classes))
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=tuple(config.image_shape), dtype=np.uint8),
                "label": label,
            }),
            supervised_keys=("image", "label"),
            homepage="https://learn.deeplearning.ai/courses/diffusion-models",
        )

    def _split_generators(self, dl_manager):
        folder = os.fspath(dl_manager.manual_dir)
        config = self.builder_config
        images, class_ids, num_classes = load_sprite_arrays(folder, config.images_file, config.labels_file)
        if num_classes != config.num_classes:
            raise ValueError(f"{config.labels_file}: {num_classes} classes, but configuration "
                             f"{config.name!r} expects {config.num_classes}")
        if tuple(images.shape[1:]) != tuple(config.image_shape):
            raise ValueError(f"{config.images_file}: images of shape {images.shape[1:]}, but configuration "
                             f"{config.name!r} expects {tuple(config.image_shape)}")
        return {"train": self._generate_examples(images, class_ids)}

    def _generate_examples(self, images, class_ids):
        for index, (image, label) in enumerate(zip(images, class_ids)):
            yield index, {"image": image, "label": int(label)}


#: Written next to a prepared dataset (in ``builder.data_dir``): the digest of the files it was prepared from.
DIGEST_FILE = "source_digest.txt"


def files_digest(*paths) -> str:
    """The SHA-1 of the files' contents, in order (their names and times play no part)."""
    digest = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")  # the boundary between the files
    return digest.hexdigest()


def config_for_files(folder, images: str | None = None, labels: str | None = None) -> SpritesConfig:
    """The configuration for a pair of files: a predefined one when the names and contents match,
    else a custom one named after the images file and a hash of both files' contents (so
    changed files are prepared again, not served stale from the cache)."""
    return _config_and_digest(folder, images, labels)[0]


def _config_and_digest(folder, images, labels):
    images_path, labels_path = find_sprite_files(folder, images, labels)
    arrays, class_ids, num_classes = load_sprite_arrays(folder, *map(os.path.basename, (images_path, labels_path)))
    names = (os.path.basename(images_path), os.path.basename(labels_path))
    digest = files_digest(images_path, labels_path)
    for config in Sprites.BUILDER_CONFIGS:
        if (names == (config.images_file, config.labels_file) and num_classes == config.num_classes
                and tuple(arrays.shape[1:]) == tuple(config.image_shape)):
            return config, digest
    stem = re.sub(r"[^a-z0-9_]+", "_", os.path.splitext(names[0])[0].lower()).strip("_") or "sprites"
    return SpritesConfig(
        name=f"{stem}_{digest[:10]}",
        description=f"{names[0]} + {names[1]}: {len(arrays)} images {arrays.shape[1:]}, {num_classes} classes",
        images_file=names[0], labels_file=names[1], num_classes=num_classes,
        image_shape=tuple(int(d) for d in arrays.shape[1:]),
    ), digest


def _recorded_digest(builder) -> str | None:
    try:
        with open(os.path.join(builder.data_dir, DIGEST_FILE), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def sprites_builder(folder, images: str | None = None, labels: str | None = None,
                    data_dir=None, prepare: bool = True) -> Sprites:
    """A `Sprites` builder for the files in ``folder``, prepared (once) unless ``prepare=False``.

    The prepared cache is keyed by the files' contents: a predefined configuration (``dlai``,
    ``nethack_slashem``) is used only while its cache was prepared from files with the same
    digest (recorded in `DIGEST_FILE`); other files under the same names get a configuration named
    after their digest, so a folder with other contents is never served the cached images of another.

    Args:
        folder: the folder holding the two ``.npy`` files (the manual-download folder).
        images, labels: file names inside ``folder``; default: DeepLearning.AI's names, else the
            NetHack stand-in's (see `keras_ddpm.apps.sprites.data.find_sprite_files`).
        data_dir: TFDS data folder (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

    Raises `FileNotFoundError` for a missing folder or file and `ValueError` for files in the
    wrong format (shape, dtype, not one-hot, image and label counts that differ).
    """
    config, digest = _config_and_digest(folder, images, labels)
    if data_dir is not None:
        data_dir = os.path.expanduser(os.fspath(data_dir))
    builder = Sprites(config=config, data_dir=data_dir)
    if builder.is_prepared() and _recorded_digest(builder) != digest:
        # Prepared from other files (or by tfds.load, which records nothing): a cache of their own.
        config = dataclasses.replace(config, name=f"{config.name}_{digest[:10]}")
        builder = Sprites(config=config, data_dir=data_dir)
    if prepare:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=os.path.abspath(os.fspath(folder)))
        )
        if _recorded_digest(builder) != digest:
            write_text(os.path.join(builder.data_dir, DIGEST_FILE), digest + "\n")
    return builder


def class_names(builder: Sprites) -> list[str]:
    """The label names (``"0"``, ``"1"``, ... when the files carry none)."""
    return list(builder.info.features["label"].names)
