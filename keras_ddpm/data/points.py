"""2D point clouds from text files (the bicycle: two whitespace-separated floats per line)."""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf


def load_points(path, dims: int = 2) -> np.ndarray:
    """Read a text file of ``dims`` whitespace-separated floats per line into ``(N, dims)`` float32.

    Blank lines are skipped. Anything else that is not exactly ``dims`` finite numbers raises a
    `ValueError` naming the file, the line number and what was found; a missing file raises
    `FileNotFoundError`; a file with no points raises `ValueError`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"data path is a directory, expected a text file: {path}")
    rows = []
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != dims:
                raise ValueError(
                    f"{path}, line {number}: expected {dims} numbers, found {len(fields)} "
                    f"({line.strip()[:60]!r})"
                )
            try:
                values = [float(f) for f in fields]
            except ValueError:
                raise ValueError(f"{path}, line {number}: not a number: {line.strip()[:60]!r}") from None
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{path}, line {number}: values must be finite, got {line.strip()[:60]!r}")
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no data points (the file is empty)")
    return np.asarray(rows, dtype=np.float32)


def split_points(points: np.ndarray, validation_fraction: float, seed: int = 0):
    """A seeded random split into ``(train, validation)``.

    Random, not head/tail: files such as bicycle.txt are sorted spatially.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(points))
    n_val = int(round(len(points) * validation_fraction))
    return points[order[n_val:]], points[order[:n_val]]


def make_dataset(points: np.ndarray, batch_size: int = 64, seed: int | None = 0, shuffle: bool = True,
                 drop_remainder: bool = True) -> tf.data.Dataset:
    """A `tf.data.Dataset` of batches of points: cached, shuffled every epoch, batched, prefetched.

    The whole array is the shuffle buffer (a perfect shuffle), seeded by ``seed``.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    points = np.asarray(points, dtype=np.float32)
    if points.ndim < 2 or len(points) == 0:
        raise ValueError(f"expected a non-empty array of shape (N, ...), got {points.shape}")
    if drop_remainder and len(points) < batch_size:
        raise ValueError(f"batch size {batch_size} is larger than the data set ({len(points)} points)")
    ds = tf.data.Dataset.from_tensor_slices(points).cache()
    if shuffle:
        ds = ds.shuffle(len(points), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
