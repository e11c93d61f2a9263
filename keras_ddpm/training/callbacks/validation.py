"""The held-out validation loss per bin of timesteps (`TimestepLoss`, `TimestepLossEvaluator`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.utils import checks


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
