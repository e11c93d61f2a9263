"""Keras callbacks for diffusion training: periodic checkpoints, sample plots and loss plots."""

from __future__ import annotations

import csv
import io
import os

import keras
import numpy as np

from keras_ddpm import plots
from keras_ddpm.io import save_model, write_text


def _due(epoch: int, every: int, total: int | None) -> bool:
    """True after 1-based epoch ``epoch`` when it is a multiple of ``every`` or the last one."""
    return epoch % every == 0 or (total is not None and epoch == total)


class _EveryNEpochs(keras.callbacks.Callback):
    def __init__(self, every_n_epochs: int):
        super().__init__()
        if int(every_n_epochs) != every_n_epochs or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive integer, got {every_n_epochs!r}")
        self.every_n_epochs = int(every_n_epochs)
        self._total = None

    def on_train_begin(self, logs=None):
        self._total = self.params.get("epochs") if self.params else None

    def on_epoch_end(self, epoch, logs=None):
        if _due(epoch + 1, self.every_n_epochs, self._total):
            self.on_due_epoch(epoch + 1, logs or {})

    def on_due_epoch(self, epoch: int, logs: dict):
        raise NotImplementedError


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
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: int(r["epoch"])))
        write_text(self.index_path, buffer.getvalue())


class SamplePlotter(_EveryNEpochs):
    """Every N epochs, sample with a fixed seed (so the same starting noise every time) and plot.

    Args:
        sampler: a sampler with ``sample(network, shape, seed)`` (e.g. `DDPMSampler`).
        num_samples: points per plot.
        directory: where ``samples_epoch_XXXX.png`` go.
        seed: the fixed seed of the starting noise and of the per-step noise.
    """

    def __init__(self, sampler, num_samples: int, directory, every_n_epochs: int = 10, seed: int = 0,
                 data_shape=(2,)):
        super().__init__(every_n_epochs)
        self.sampler = sampler
        self.num_samples = int(num_samples)
        self.directory = os.fspath(directory)
        self.seed = int(seed)
        self.data_shape = tuple(data_shape)

    def on_due_epoch(self, epoch, logs):
        network = getattr(self.model, "network", self.model)
        samples = self.sampler.sample(network, (self.num_samples,) + self.data_shape, seed=self.seed)
        path = os.path.join(self.directory, f"samples_epoch_{epoch:04d}.png")
        loss = logs.get("loss")
        title = f"epoch {epoch}" + (f", loss {loss:.4f}" if loss is not None else "")
        plots.scatter(samples, path, title=title)


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
            plots.loss_curve(epochs, columns["loss"], self.path, columns.get("val_loss"))


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
