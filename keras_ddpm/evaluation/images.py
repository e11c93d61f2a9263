"""Distances between two sets of images, computed on their feature vectors: FID and KID.

The features come from a pluggable extractor (`keras_ddpm.evaluation.features`); these functions
only see ``(N, D)`` arrays. Both numbers depend on the extractor and on N, so compare them only
between runs with the same extractor and sample sizes, next to the real-vs-real floor
(`keras_ddpm.data.splits.split_halves`, re-exported here).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from keras_ddpm.data.splits import split_halves  # noqa: F401  (part of this module's API)
from keras_ddpm.utils import checks


def _features(x, name):
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a (N, D) array of feature vectors with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def feature_statistics(features):
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, N-1) of feature vectors ``(N, D)``."""
    features = _features(features, "features")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; Heusel et al. 2017):

    ``d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    When the product is singular (fewer samples than dimensions), ``eps`` is added to both
    diagonals, as the reference implementation does; a tiny imaginary part of the square root
    (numerical error) is dropped.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched statistics: means {mu1.shape} and {mu2.shape}, covariances "
                         f"{sigma1.shape} and {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular products are handled below
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(mu1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))


def fid(features1, features2) -> float:
    """Fréchet Inception Distance between two sets of feature vectors (any extractor)."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def polynomial_kernel(x, y, degree: int = 3, coef0: float = 1.0):
    """``k(x, y) = (x . y / D + coef0) ** degree``, KID's kernel (Bińkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x, y, degree: int = 3, coef0: float = 1.0) -> float:
    """The unbiased estimate of MMD^2 with the polynomial kernel (Bińkowski et al. 2018, eq. 4)."""
    m, n = len(x), len(y)
    k_xx = polynomial_kernel(x, x, degree, coef0)
    k_yy = polynomial_kernel(y, y, degree, coef0)
    k_xy = polynomial_kernel(x, y, degree, coef0)
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
                 + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())


def kid(features1, features2, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0):
    """Kernel Inception Distance: the unbiased MMD^2 averaged over random subsets.

    Each of ``num_subsets`` rounds draws ``min(subset_size, N1, N2)`` vectors from each set
    without replacement. Returns ``(mean, std)`` over the rounds. Unbiased: about 0 (and can be
    slightly negative) for two samples of one distribution.
    """
    x = _features(features1, "features1")
    y = _features(features2, "features2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sizes differ: {x.shape[1]} and {y.shape[1]}")
    num_subsets = checks.positive_int("num_subsets", num_subsets)
    size = min(int(subset_size), len(x), len(y))
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
        for _ in range(int(num_subsets))
    ]
    return float(np.mean(values)), float(np.std(values))
