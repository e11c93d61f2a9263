"""Measuring a learned score against the analytic score of a (noised) Gaussian mixture."""

from __future__ import annotations

import numpy as np

from keras_ddpm.apps.gmm.mixture import GaussianMixture
from keras_ddpm.utils import checks


def relative_score_error(score, reference) -> float:
    """``sqrt(sum ||s - s*||^2 / sum ||s*||^2)`` over a set of points.

    The RMS error of ``score`` relative to the RMS magnitude of the ``reference`` (analytic) score
    ``s*``, both ``(n, D)``; 0 is perfect, 1 is as bad as predicting zero.
    """
    score = np.asarray(score, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if score.shape != reference.shape:
        raise ValueError(
            f"score and reference must have the same shape, got {score.shape} and {reference.shape}"
        )
    return float(np.sqrt(np.sum((score - reference) ** 2) / np.sum(reference**2)))


def score_error_against_mixture(score_fn, mixture: GaussianMixture, sigma, num_points: int = 4000,
                                seed: int = 0, grid_extent=None, grid_resolution: int = 41) -> dict:
    """Relative error of ``score_fn(x) ~ grad log p_sigma(x)``, ``p_sigma`` = ``mixture.noised(sigma)``.

    Measured on ``num_points`` seeded samples of ``p_sigma`` (where DSM trains the score, so the
    error that matters for sampling) and, when ``grid_extent = (xmin, xmax, ymin, ymax)`` is given,
    on a uniform grid as well (low-density regions included, where DSM sees few points).
    ``score_fn`` maps a float32 ``(n, D)`` array to ``(n, D)``.
    """
    sigma = checks.positive_float("sigma", sigma)
    noised = mixture.noised(sigma)
    points = noised.sample(num_points, seed=seed)
    result = {
        "sigma": sigma,
        "on_noised_samples": relative_score_error(
            np.asarray(score_fn(points.astype(np.float32))), noised.score(points)
        ),
    }
    if grid_extent is not None:
        xmin, xmax, ymin, ymax = grid_extent
        xx, yy = np.meshgrid(np.linspace(xmin, xmax, grid_resolution),
                             np.linspace(ymin, ymax, grid_resolution))
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        result["on_grid"] = relative_score_error(
            np.asarray(score_fn(grid.astype(np.float32))), noised.score(grid)
        )
    return result
