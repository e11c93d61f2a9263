"""Noise levels for noise-conditional score models (Song & Ermon 2019, section 4.2)."""

from __future__ import annotations

import numpy as np

from keras_ddpm.utils import checks


def geometric_sigmas(sigma_max, sigma_min, num_levels) -> np.ndarray:
    """``num_levels`` noise levels in geometric progression from ``sigma_max`` down to ``sigma_min``.

    Song & Ermon 2019 pick ``{sigma_i}_{i=1}^L`` with ``sigma_1 / sigma_2 = ... = sigma_{L-1} / sigma_L
    > 1``: the largest level first, the order annealed Langevin dynamics visits them. Returns a
    float64 array ``(num_levels,)``; one level needs ``sigma_max == sigma_min``.
    """
    sigma_max = checks.positive_float("sigma_max", sigma_max)
    sigma_min = checks.positive_float("sigma_min", sigma_min)
    num_levels = checks.positive_int("num_levels", num_levels)
    if sigma_min > sigma_max:
        raise ValueError(
            f"sigma_min must be <= sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}"
        )
    if num_levels == 1:
        if sigma_min != sigma_max:
            raise ValueError(
                f"one noise level needs sigma_min == sigma_max, got {sigma_min} and {sigma_max}"
            )
        return np.array([sigma_max])
    if sigma_min == sigma_max:
        raise ValueError(
            f"{num_levels} geometric noise levels need sigma_min < sigma_max, got both = {sigma_max}"
        )
    return np.geomspace(sigma_max, sigma_min, num_levels)
