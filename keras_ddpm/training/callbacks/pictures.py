"""Callbacks that draw: samples from a fixed seed every N epochs (`SamplePlotter`, also into
TensorBoard) and the loss curves (`LossPlotter`, read back from ``loss.csv``)."""

from __future__ import annotations

import csv
import os

import numpy as np
import tensorflow as tf

from keras_ddpm.training.callbacks.schedule import EveryNEpochs
from keras_ddpm.training.callbacks.validation import timestep_bins
from keras_ddpm.utils import plots


class SamplePlotter(EveryNEpochs):
    """Every N epochs, sample with a fixed seed (so the same starting noise every time) and plot.

    Args:
        sampler: a sampler with ``sample(network, shape, seed)`` (e.g. `DDPMSampler`).
        num_samples: points per plot.
        directory: where ``samples_epoch_XXXX.png`` go.
        seed: the fixed seed of the starting noise and of the per-step noise.
        data_shape: the shape of one example (``(2,)`` for points).
        draw: ``draw(samples, path, title)`` writes the picture; default `plots.scatter` (2D
            points). Image models pass a grid-drawing function.
        picture: ``picture(network, path, title)`` samples and draws in one (e.g. one row per class
            of a class-conditional network); replaces ``sampler``'s call and ``draw``.
        tensorboard_dir: when given, each picture is also logged there as a TensorBoard image
            (``tf.summary.image``, tag ``samples``), at the 0-based epoch index that
            `keras.callbacks.TensorBoard` gives the same epoch's scalars.
        progress: the sampler's progress while it draws: ``"auto"`` follows ``fit``'s ``verbose``
            (0 silent, 1 a Keras progress bar, 2 one line when done); or 0, 1, 2 (see
            `Sampler.run`). Not used with ``picture``, which samples as it likes.
        sampler_name: said in each picture's title, e.g. ``"DDIM, 100 steps, eta 1"``.
    """

    def __init__(self, sampler, num_samples: int, directory, every_n_epochs: int = 10, seed: int = 0,
                 data_shape=(2,), draw=None, tensorboard_dir=None, picture=None, progress="auto",
                 sampler_name: str | None = None):
        super().__init__(every_n_epochs)
        self.sampler = sampler
        self.sampler_name = sampler_name
        self.num_samples = int(num_samples)
        self.directory = os.fspath(directory)
        self.seed = int(seed)
        self.data_shape = tuple(data_shape)
        self.draw = draw if draw is not None else _scatter
        self._picture = picture
        self.tensorboard_dir = os.fspath(tensorboard_dir) if tensorboard_dir is not None else None
        self.progress = progress
        self._writer = None

    def on_due_epoch(self, epoch, logs):
        network = getattr(self.model, "network", self.model)
        path = os.path.join(self.directory, f"samples_epoch_{epoch:04d}.png")
        loss = logs.get("loss")
        title = (f"epoch {epoch}" + (f", loss {loss:.4f}" if loss is not None else "")
                 + (f" ({self.sampler_name})" if self.sampler_name else ""))
        self.picture(network, path, title)
        if self.tensorboard_dir is not None:
            log_image(self._summary_writer(), "samples", path, epoch - 1)  # Keras' scalars: 0-based epochs

    def picture(self, network, path, title):
        """Sample from ``network`` with the fixed seed and draw the picture at ``path``."""
        if self._picture is not None:
            self._picture(network, path, title)
            return
        samples = self.sampler.sample(network, (self.num_samples,) + self.data_shape, seed=self.seed,
                                      progress=self._progress())
        self.draw(samples, path, title)

    def _progress(self) -> int:
        if self.progress != "auto":
            return int(self.progress)
        verbose = (self.params or {}).get("verbose", 0)
        return min(int(verbose), 2) if isinstance(verbose, int) else 1  # "auto": a progress bar

    def _summary_writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.tensorboard_dir)
        return self._writer

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


def _scatter(samples, path, title):
    plots.scatter(samples, path, title=title)


def log_image(writer, tag, png_path, step):
    """Log a PNG file as a TensorBoard image (``tf.summary.image``)."""
    with open(png_path, "rb") as handle:
        image = tf.io.decode_png(handle.read(), channels=3)
    with writer.as_default():
        tf.summary.image(tag, image[None], step=int(step))
    writer.flush()


class LossPlotter(EveryNEpochs):
    """Redraw the loss-per-epoch figure every N epochs and at the end of training.

    Reads the loss history from ``csv_path`` (written by `keras.callbacks.CSVLogger`), so a resumed
    run's figure covers the epochs of the earlier run too.
    """

    def __init__(self, csv_path, path, every_n_epochs: int = 10):
        super().__init__(every_n_epochs)
        self.csv_path = os.fspath(csv_path)
        self.path = os.fspath(path)

    def on_due_epoch(self, epoch, logs):
        epochs, columns = read_loss_csv(self.csv_path)
        if len(epochs):
            bins = {f"t {lo}-{hi}": columns[name] for name, lo, hi in timestep_bins(columns) if name in columns}
            plots.loss_curve(epochs, columns["loss"], self.path, columns.get("val_loss"), bins=bins or None)


def read_loss_csv(path):
    """Read a CSVLogger file into ``(epochs (1-based), {column: array})``."""
    if not os.path.exists(path):
        return np.zeros(0, int), {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_epoch = {int(r["epoch"]): r for r in rows}  # a resumed run may repeat an epoch: keep the last
    epochs = np.array(sorted(by_epoch), dtype=int)
    names = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    columns = {k: np.array([_number(by_epoch[e][k]) for e in epochs]) for k in names}
    # CSVLogger writes "NA" for a metric it has no value for (val_loss without validation data).
    columns = {k: v for k, v in columns.items() if not np.all(np.isnan(v))}
    return epochs + 1, columns


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")
