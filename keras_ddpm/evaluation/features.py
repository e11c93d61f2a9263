"""Feature extractors for FID/KID: a small sprite classifier (the default) or Keras' InceptionV3.

An extractor is a callable ``extractor(images) -> (N, D) float array`` taking images in the
model's range [-1, 1], ``(N, H, W, 3)``, with a ``name`` attribute for tables.

- `ClassifierFeatures`: the penultimate layer of a small CNN trained on the sprite labels.
  `load_or_train_classifier` trains it once and saves it (``.keras``); later runs load the same
  file, so scores stay comparable between runs.
- `InceptionFeatures`: the standard FID network, InceptionV3's 2048-d average pool, from a
  weights file the user already has (``..._notop.h5`` from Keras' applications). Nothing is
  downloaded: a missing file is an error.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_ddpm.training.checkpoints import load_checkpoint
from keras_ddpm.utils import checks
from keras_ddpm.utils.io import save_model

FEATURE_LAYER = "features"


def build_sprite_classifier(image_shape, num_classes: int, feature_units: int = 128) -> keras.Model:
    """A small CNN: two conv stages (32 and 64 filters), global pooling, a ``features`` layer, softmax."""
    inputs = keras.Input(tuple(image_shape), name="image")
    h = inputs
    for stage, filters in enumerate((32, 64)):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage}a")(h)
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage}b")(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(feature_units, activation="relu", name=FEATURE_LAYER)(h)
    h = keras.layers.Dropout(0.3, name="dropout")(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="class")(h)
    return keras.Model(inputs, outputs, name="sprite_classifier")


def classifier_split(num_images: int, seed: int = 0, validation_fraction: float = 0.1):
    """``(held_out, trained_on)`` index arrays of `train_sprite_classifier` for the same seed and fraction."""
    order = np.random.default_rng(seed).permutation(int(num_images))
    n_val = int(round(num_images * validation_fraction))
    return order[:n_val], order[n_val:]


def classifier_accuracy(classifier: keras.Model, images, labels, seed: int = 0,
                        validation_fraction: float = 0.1) -> float:
    """The classifier's accuracy on the images it was not trained on (its held-out split; the
    classifier must have been trained by `train_sprite_classifier` on these images with this seed)."""
    held_out, _ = classifier_split(len(images), seed, validation_fraction)
    if not len(held_out):
        return float("nan")
    predicted = classifier.predict(np.asarray(images, np.float32)[held_out], verbose=0).argmax(-1)
    return float(np.mean(predicted == np.asarray(labels)[held_out]))


def train_sprite_classifier(images, labels, num_classes: int, epochs: int = 30, batch_size: int = 64,
                            seed: int = 0, validation_fraction: float = 0.1, verbose=0):
    """Train the classifier on images in [-1, 1] and integer labels; returns ``(model, val_accuracy)``.

    Random left-right flips augment the small set; ``validation_fraction`` of the images (a seeded
    random subset) is held out to report accuracy, so a useless extractor shows.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels).astype(np.int32)
    keras.utils.set_random_seed(seed)
    val, train = classifier_split(len(images), seed, validation_fraction)
    n_val = len(val)
    model = build_sprite_classifier(images.shape[1:], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    flip = keras.layers.RandomFlip("horizontal", seed=seed)
    augmented = keras.Sequential([keras.Input(images.shape[1:]), flip, model])  # shares model's weights
    augmented.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy")
    augmented.fit(images[train], labels[train], epochs=epochs, batch_size=batch_size, verbose=verbose)
    accuracy = float("nan")
    if n_val:
        accuracy = float(np.mean(model.predict(images[val], verbose=0).argmax(-1) == labels[val]))
    return model, accuracy


def load_or_train_classifier(path, images, labels, num_classes: int, seed: int = 0, epochs: int = 30,
                             verbose=0):
    """Load the classifier saved at ``path``, or train it on ``(images, labels)`` and save it there.

    Returns ``(model, note)``, the note saying which happened (and the held-out accuracy).
    A saved classifier for another image shape or class count is refused with a `ValueError`.
    """
    path = os.fspath(path)
    if os.path.exists(path):
        model = load_checkpoint(path, compile=False)
        shape, classes = tuple(model.input_shape[1:]), int(model.output_shape[-1])
        if shape != tuple(np.shape(images)[1:]) or classes != int(num_classes):
            raise ValueError(f"{path}: the saved classifier takes {shape} images and {classes} classes, "
                             f"but the data has {tuple(np.shape(images)[1:])} and {num_classes}; "
                             "give another --classifier path")
        return model, f"loaded sprite classifier {path}"
    model, accuracy = train_sprite_classifier(images, labels, num_classes, epochs=epochs, seed=seed,
                                              verbose=verbose)
    save_model(model, path)
    return model, f"trained sprite classifier ({epochs} epochs, held-out accuracy {accuracy:.3f}), saved {path}"


class ClassifierFeatures:
    """Features of the sprite classifier's ``features`` layer (``(N, 128)`` by default)."""

    def __init__(self, classifier: keras.Model, batch_size: int = 500):
        self.classifier = classifier
        self.model = keras.Model(classifier.inputs, classifier.get_layer(FEATURE_LAYER).output)
        self.batch_size = int(batch_size)
        self.name = "sprite-classifier"

    def __call__(self, images) -> np.ndarray:
        images = _check_images(images)
        return np.asarray(self.model.predict(images, batch_size=self.batch_size, verbose=0), np.float64)


class InceptionFeatures:
    """InceptionV3 pool features (2048-d) from a local weights file, the usual FID network.

    Args:
        weights_path: an InceptionV3 weights file without the top (Keras'
            ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``).
        image_size: images are resized (bilinear) to this square size first; 299 is standard,
            75 is InceptionV3's minimum.
    """

    def __init__(self, weights_path, image_size: int = 299, batch_size: int = 50):
        weights_path = os.fspath(weights_path)
        if not os.path.isfile(weights_path):
            raise FileNotFoundError(f"InceptionV3 weights file not found: {weights_path} "
                                    "(nothing can be downloaded; pass the path of a local file)")
        if not checks.is_integer(image_size) or image_size < 75:
            raise ValueError(f"InceptionV3 needs images of at least 75x75, got image_size={image_size!r}")
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.model = keras.applications.InceptionV3(
            include_top=False, weights=weights_path, pooling="avg",
            input_shape=(self.image_size, self.image_size, 3),
        )
        self.name = f"inception-v3-{self.image_size}"

    def __call__(self, images) -> np.ndarray:
        images = _check_images(images)
        out = []
        for start in range(0, len(images), self.batch_size):
            # InceptionV3 expects [-1, 1] inputs: the model's range already.
            batch = keras.ops.image.resize(images[start:start + self.batch_size],
                                           (self.image_size, self.image_size), interpolation="bilinear")
            out.append(np.asarray(self.model(batch, training=False)))
        return np.concatenate(out).astype(np.float64)


def _check_images(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N, height, width, 3), got {images.shape}")
    return images
