"""2D point clouds from text files (the bicycle: two whitespace-separated floats per line)."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import tensorflow as tf

from keras_ddpm.data.splits import split_indices
from keras_ddpm.utils import checks


#: Values beyond this magnitude are refused: the losses and metrics square them, and the square of
#: anything larger overflows float32 (max 3.4e38), the dtype training runs in.
MAX_ABS_VALUE = 1e18
#: Values farther than this many times the data's typical spread (the median absolute deviation
#: from the median, per column) from the median are reported in one warning line: the bicycle lies
#: in [-1, 1], and a diffusion model expects data of order 1, so such a value is almost surely a typo.
OUTLIER_FACTOR = 1e4


def load_points(path, dims: int = 2, warn: bool = True) -> np.ndarray:
    """Read a text file of ``dims`` whitespace-separated floats per line into ``(N, dims)`` float32.

    Blank lines are skipped. Anything else that is not exactly ``dims`` finite numbers, and any
    value beyond ``±MAX_ABS_VALUE`` (which float32 training cannot handle), raises a `ValueError`
    naming the file, the line number and what was found; a missing file raises `FileNotFoundError`;
    a file with no points raises `ValueError`. With ``warn``, values more than `OUTLIER_FACTOR`
    times the data's typical spread away from its median give one warning line on stderr.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"data path is a directory, expected a text file: {path}")
    rows, line_numbers = [], []
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
            if not all(abs(v) <= MAX_ABS_VALUE for v in values):
                raise ValueError(f"{path}, line {number}: values must lie within ±{MAX_ABS_VALUE:g} (training "
                                 f"runs in float32, where larger values or their squares overflow), got "
                                 f"{line.strip()[:60]!r}")
            rows.append(values)
            line_numbers.append(number)
    if not rows:
        raise ValueError(f"{path}: no data points (the file is empty)")
    points = np.asarray(rows, dtype=np.float64)
    if warn:
        _warn_outliers(points, line_numbers, path)
    return points.astype(np.float32)


def _warn_outliers(points: np.ndarray, line_numbers, path) -> None:
    """One line on stderr for values more than `OUTLIER_FACTOR` spreads away from the median."""
    median = np.median(points, axis=0)
    distance = np.abs(points - median)
    spread = np.median(distance, axis=0)
    spread = np.where(spread > 0, spread, distance.mean(axis=0))  # half the values equal: the mean deviation
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(spread > 0, distance / spread, 0.0)
    far = np.flatnonzero(np.any(ratio > OUTLIER_FACTOR, axis=1))
    if len(far):
        first = far[0]
        print(f"warning: {path}, line {line_numbers[first]}: {points[first].tolist()} lies "
              f"{ratio[first].max():.3g} times the data's typical spread from its median "
              f"({len(far)} such point{'s' if len(far) > 1 else ''}, more than {OUTLIER_FACTOR:g} times): "
              "check the file; a diffusion model expects data of order 1", file=sys.stderr)


def split_points(points: np.ndarray, validation_fraction: float, seed: int = 0):
    """A seeded random split into ``(train, validation)`` (`split_indices`)."""
    train, validation = split_indices(len(points), validation_fraction, seed)
    return points[train], points[validation]


def make_dataset(points: np.ndarray, batch_size: int = 64, seed: int | None = 0, shuffle: bool = True,
                 drop_remainder: bool = True, fused_steps: int = 1) -> tf.data.Dataset:
    """A `tf.data.Dataset` of batches of points, reshuffled every epoch (every new iterator).

    Each epoch is one permutation of all the points (a perfect shuffle), drawn at once with
    `tf.random.experimental.stateless_shuffle` from a seed that `tf.data.Dataset.random` renews
    for every iteration, then cut into batches: a handful of vector ops per epoch instead of
    per-example work, so the pipeline costs almost nothing next to training (``python -m
    benchmarks.speed`` times it alone). The same ``seed`` gives the same sequence of epochs.

    Args:
        points: ``(N, ...)`` array.
        batch_size: examples per minibatch (one Algorithm-1 update).
        seed: the shuffle seed (None: nondeterministic).
        shuffle: False keeps the file order.
        drop_remainder: drop the last ``N mod batch_size`` examples of each (shuffled) epoch,
            so that every batch has the same shape.
        fused_steps: stack this many consecutive minibatches into each element, shape
            ``(fused_steps, batch_size, ...)`` (`fuse_steps`: the minibatches left over at the
            end of an epoch are dropped), for a `DiffusionModel` with the same ``fused_steps``;
            1 gives plain batches.
    """
    batch_size = checks.positive_int("batch size", batch_size)
    points = np.asarray(points, dtype=np.float32)
    if points.ndim < 2 or len(points) == 0:
        raise ValueError(f"expected a non-empty array of shape (N, ...), got {points.shape}")
    if drop_remainder and len(points) < batch_size:
        raise ValueError(f"batch size {batch_size} is larger than the data set ({len(points)} points)")
    if fused_steps != 1 and not drop_remainder:
        raise ValueError("fused_steps > 1 needs drop_remainder=True (stacked minibatches share one shape)")
    batch_size, n = int(batch_size), len(points)
    data = tf.constant(points)
    full = n // batch_size
    tail = 0 if drop_remainder else n % batch_size

    def batches(x):
        ds = tf.data.Dataset.from_tensor_slices(tf.reshape(x[: full * batch_size], (full, batch_size) + points.shape[1:]))
        if tail:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(x[full * batch_size:]))
        return ds

    if shuffle:
        def epoch(epoch_seed):
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([epoch_seed, 0]))
            return batches(tf.gather(data, order))

        ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1).flat_map(epoch)
    else:
        ds = batches(data)
    ds = ds.apply(tf.data.experimental.assert_cardinality(full + (1 if tail else 0)))
    if fused_steps != 1:  # after assert_cardinality, so Keras knows the stacked epoch's length too
        ds = fuse_steps(ds, fused_steps)
    return ds.prefetch(tf.data.AUTOTUNE)


def fuse_steps(dataset: tf.data.Dataset, fused_steps: int) -> tf.data.Dataset:
    """Stack every ``fused_steps`` consecutive batches of ``dataset`` into one element.

    Elements become ``(fused_steps, batch, ...)``, ready for a `keras_ddpm.DiffusionModel` built
    with the same ``fused_steps``; the last ``n mod fused_steps`` batches of each pass (epoch) are
    dropped, so that every element has the same static shape: XLA then compiles one loop of known
    length, which runs faster than a loop of unknown length (docs/design-notes.md#fused-training-steps).
    `fused_steps_for` picks a value that drops few. Works for any batched dataset whose batches
    have one shape (``(images, labels)`` pairs too).
    """
    return dataset.batch(checks.positive_int("fused_steps", fused_steps), drop_remainder=True)


def fused_steps_for(steps_per_epoch: int, max_fused_steps: int = 100) -> int:
    """The largest stack size ``k <= max_fused_steps`` that splits an epoch of ``steps_per_epoch``
    minibatches into ``ceil(steps_per_epoch / max_fused_steps)`` stacks, so that `fuse_steps`
    drops fewer minibatches than there are stacks (the bicycle at batch 64: 709 minibatches,
    k = 88, 5 dropped per epoch, different ones each epoch since every epoch is reshuffled).
    """
    if steps_per_epoch < 1 or max_fused_steps < 1:
        raise ValueError(f"need positive steps_per_epoch and max_fused_steps, got {steps_per_epoch}, "
                         f"{max_fused_steps}")
    stacks = -(-int(steps_per_epoch) // int(max_fused_steps))
    return int(steps_per_epoch) // stacks
