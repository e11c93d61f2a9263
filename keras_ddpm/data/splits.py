"""Seeded random splits of a data set: training / validation, and two halves for a real-vs-real floor.

Random, not head/tail: files such as bicycle.txt are sorted spatially. Each function returns
indices, so one split can cut several arrays (images and their labels) the same way.
"""

from __future__ import annotations

import numpy as np


def split_indices(n: int, validation_fraction: float, seed: int = 0):
    """``(train, validation)`` index arrays of a seeded random split of ``range(n)``;
    ``round(n * validation_fraction)`` indices go to validation."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * validation_fraction))
    return order[n_val:], order[:n_val]


def split_halves(n: int, seed: int = 0):
    """Indices of two disjoint random halves of ``range(n)``: the real-vs-real floor's split."""
    if n < 4:
        raise ValueError(f"need at least 4 items to split into halves, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])
