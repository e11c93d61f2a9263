"""Keras callbacks for diffusion training: periodic checkpoints, sample plots, loss plots, and the
held-out validation loss per bin of timesteps."""

from __future__ import annotations

import csv
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.utils import checks, plots
from keras_ddpm.utils.io import save_model, write_csv


def _due(epoch: int, every: int, total: int | None) -> bool:
    """True after 1-based epoch ``epoch`` when it is a multiple of ``every`` or the last one."""
    return epoch % every == 0 or (total is not None and epoch == total)


class _EveryNEpochs(keras.callbacks.Callback):
    def __init__(self, every_n_epochs: int):
        super().__init__()
        self.every_n_epochs = checks.positive_int("every_n_epochs", every_n_epochs)
        self._total = None

    def on_train_begin(self, logs=None):
        self._total = self.params.get("epochs") if self.params else None

    def on_epoch_end(self, epoch, logs=None):
        stopping = bool(getattr(self.model, "stop_training", False))  # e.g. `TimeLimit`: the last epoch
        if _due(epoch + 1, self.every_n_epochs, self._total) or stopping:
            self.on_due_epoch(epoch + 1, logs or {})

    def on_due_epoch(self, epoch: int, logs: dict):
        raise NotImplementedError


class TimeLimit(keras.callbacks.Callback):
    """Stop training after the first epoch that ends more than ``seconds`` after training began.

    Sets ``model.stop_training``; the periodic callbacks placed after it (checkpoint, plots) treat
    that epoch as the last one. Use it to compare models on the same training time.
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"time limit must be > 0 seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() - self._start >= self.seconds:
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1


class PeriodicCheckpoint(_EveryNEpochs):
    """Save the whole model (``.keras``: config, weights, optimizer state) every N epochs.

    Every checkpoint is kept (``epoch_0010.keras``, ``epoch_0020.keras``, ...; the last epoch is
    always saved) so that models from different stages of training can be compared, and each is
    written atomically. ``checkpoints.csv`` in the same folder lists epoch, file and the epoch's
    logged metrics (the training loss, and the validation loss when there is one).
    """

    def __init__(self, directory, every_n_epochs: int = 10, filename: str = "epoch_{epoch:04d}.keras"):
        super().__init__(every_n_epochs)
        self.directory = os.fspath(directory)
        self.filename = filename
        self.index_path = os.path.join(self.directory, "checkpoints.csv")

    def on_due_epoch(self, epoch, logs):
        path = save_model(self.model, os.path.join(self.directory, self.filename.format(epoch=epoch)))
        rows = self._read_index()
        rows = [r for r in rows if int(r["epoch"]) != epoch]
        rows.append({"epoch": epoch, "file": os.path.basename(path), **{k: float(v) for k, v in logs.items()}})
        self._write_index(rows)

    def _read_index(self):
        if not os.path.exists(self.index_path):
            return []
        with open(self.index_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def _write_index(self, rows):
        fields = list(dict.fromkeys(k for row in rows for k in row))
        write_csv(self.index_path, sorted(rows, key=lambda r: int(r["epoch"])), fields)


class SamplePlotter(_EveryNEpochs):
    """Every N epochs, sample with a fixed seed (so the same starting noise every time) and plot.

    Args:
        sampler: a sampler with ``sample(network, shape, seed)`` (e.g. `DDPMSampler`).
        num_samples: points per plot.
        directory: where ``samples_epoch_XXXX.png`` go.
        seed: the fixed seed of the starting noise and of the per-step noise.
        data_shape: the shape of one example (``(2,)`` for points).
        draw: ``draw(samples, path, title)`` writes the picture; default `plots.scatter` (2D
            points). Image models pass a grid-drawing function.
        tensorboard_dir: when given, each picture is also logged there as a TensorBoard image
            (``tf.summary.image``, tag ``samples``, step = epoch).
    """

    def __init__(self, sampler, num_samples: int, directory, every_n_epochs: int = 10, seed: int = 0,
                 data_shape=(2,), draw=None, tensorboard_dir=None):
        super().__init__(every_n_epochs)
        self.sampler = sampler
        self.num_samples = int(num_samples)
        self.directory = os.fspath(directory)
        self.seed = int(seed)
        self.data_shape = tuple(data_shape)
        self.draw = draw if draw is not None else _scatter
        self.tensorboard_dir = os.fspath(tensorboard_dir) if tensorboard_dir is not None else None
        self._writer = None

    def on_due_epoch(self, epoch, logs):
        network = getattr(self.model, "network", self.model)
        path = os.path.join(self.directory, f"samples_epoch_{epoch:04d}.png")
        loss = logs.get("loss")
        title = f"epoch {epoch}" + (f", loss {loss:.4f}" if loss is not None else "")
        self.picture(network, path, title)
        if self.tensorboard_dir is not None:
            log_image(self._summary_writer(), "samples", path, epoch)

    def picture(self, network, path, title):
        """Sample from ``network`` with the fixed seed and draw the picture at ``path``."""
        samples = self.sampler.sample(network, (self.num_samples,) + self.data_shape, seed=self.seed)
        self.draw(samples, path, title)

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


class TimestepLoss(keras.callbacks.Callback):
    """The eq. 14 loss on held-out points each epoch, overall and averaged over bins of t.

    The average over t hides where a model is still bad: near t = T-1 predicting the noise is easy
    and the loss is tiny whatever the model, near t = 0 the fine structure of the data decides it.
    This callback evaluates `DiffusionModel.per_example_loss` on ``points`` (a validation split
    the model never trains on), each point ``repeats`` times, with *fixed* timesteps (every
    0-based t equally often) and fixed noise drawn once from ``seed``, so numbers from different
    epochs and checkpoints are directly comparable (no sampling noise between evaluations).

    Adds to the epoch's logs (so `CSVLogger`, `PeriodicCheckpoint` and TensorBoard record them;
    put it before those callbacks): ``val_loss`` and ``val_loss_tAAA_BBB`` for each bin of
    0-based timesteps ``AAA..BBB``.

    For a class-conditional model pass the held-out examples' ``labels`` (class ids) too.
    """

    def __init__(self, points, timesteps: int, num_bins: int = 10, repeats: int = 4, seed: int = 0,
                 batch_size: int = 8192, every_n_epochs: int = 1, labels=None):
        super().__init__()
        self.evaluator = TimestepLossEvaluator(points, timesteps, num_bins, repeats, seed, batch_size, labels)
        self.every_n_epochs = checks.positive_int("every_n_epochs", every_n_epochs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every_n_epochs:
            return
        logs.update(self.evaluator(self.model))


class TimestepLossEvaluator:
    """Computes ``{"val_loss": ..., "val_loss_tAAA_BBB": ...}`` for a `DiffusionModel` (see `TimestepLoss`)."""

    def __init__(self, points, timesteps: int, num_bins: int = 10, repeats: int = 4, seed: int = 0,
                 batch_size: int = 8192, labels=None):
        points = np.asarray(points, np.float32)
        if points.ndim < 2 or len(points) == 0:
            raise ValueError(f"validation points must be a non-empty (N, ...) array, got shape {points.shape}")
        if not checks.is_integer(num_bins) or not 1 <= num_bins <= timesteps:
            raise ValueError(f"num_bins must be an integer in 1..{timesteps}, got {num_bins!r}")
        repeats = checks.positive_int("repeats", repeats)
        rng = np.random.default_rng(seed)
        n = len(points) * repeats
        self.x0 = np.concatenate([points] * repeats)
        if labels is not None:
            labels = np.asarray(labels, np.int32)
            if labels.shape != (len(points),):
                raise ValueError(f"labels must hold one class id per validation example, got shape {labels.shape}")
            labels = np.concatenate([labels] * repeats)
        self.labels = labels
        self.t = rng.permutation(np.resize(np.arange(timesteps, dtype=np.int32), n))
        self.noise = rng.standard_normal(self.x0.shape).astype(np.float32)
        self.edges = bin_edges(timesteps, num_bins)
        self.names = [bin_name(lo, hi) for lo, hi in zip(self.edges[:-1], self.edges[1:] - 1)]
        self.bin_of = np.searchsorted(self.edges, self.t, side="right") - 1
        self.batch_size = int(batch_size)
        self._fns = {}

    def per_example(self, model) -> np.ndarray:
        """The loss of every (point, t, noise) triple, in batches of one fixed size (one trace)."""
        key = id(model)
        if key not in self._fns:
            self._fns = {key: tf.function(model.per_example_loss, reduce_retracing=True)}
        fn = self._fns[key]
        n, size = len(self.x0), min(self.batch_size, len(self.x0))
        out = []
        for start in range(0, n, size):
            index = np.arange(start, start + size) % n  # the last batch wraps around; cut below
            labels = None if self.labels is None else self.labels[index]
            out.append(np.asarray(fn(self.x0[index], self.t[index], self.noise[index], labels)))
        return np.concatenate(out)[:n]

    def __call__(self, model) -> dict:
        losses = self.per_example(model)
        result = {"val_loss": float(losses.mean())}
        sums = np.bincount(self.bin_of, weights=losses, minlength=len(self.names))
        counts = np.bincount(self.bin_of, minlength=len(self.names))
        result.update({name: float(s / max(c, 1)) for name, s, c in zip(self.names, sums, counts)})
        return result


def bin_edges(timesteps: int, num_bins: int) -> np.ndarray:
    """``num_bins + 1`` integer edges splitting 0-based timesteps ``0..T-1`` into nearly equal bins."""
    return np.round(np.linspace(0, timesteps, num_bins + 1)).astype(int)


def bin_name(lo: int, hi: int) -> str:
    """The log key of the bin of 0-based timesteps ``lo..hi`` (inclusive)."""
    return f"val_loss_t{lo:03d}_{hi:03d}"


def timestep_bins(columns) -> list:
    """``[(name, lo, hi)]`` of the per-bin validation losses among ``columns``, in order of t."""
    found = []
    for name in columns:
        if name.startswith("val_loss_t"):
            lo, hi = name[len("val_loss_t"):].split("_")
            found.append((name, int(lo), int(hi)))
    return sorted(found, key=lambda item: item[1])


class LossPlotter(_EveryNEpochs):
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
