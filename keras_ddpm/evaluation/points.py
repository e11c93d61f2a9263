"""Distances between low-dimensional point clouds (generated samples against held-out real data).

Every metric is vectorised (NumPy, SciPy k-d trees) and compares a set ``x`` (e.g. samples) with a
reference set ``y`` (held-out real points the model never trained on):

- `sliced_wasserstein`: sliced Wasserstein-1 distance (Rabin et al. 2011; Bonneel et al. 2015):
  the 1D Wasserstein-1 distance of the projections on random unit directions, averaged.
  Lower is better. A set shifted by ``s`` has, in 2D, exactly ``(2 / pi) |s|`` (the mean of
  ``|cos|`` over directions times the shift).
- `mmd`: squared maximum mean discrepancy (Gretton et al. 2012), unbiased estimate, with a sum
  of Gaussian RBF kernels at several bandwidths. Lower is better; ~0 (may be slightly negative)
  for two samples of one distribution.
- `precision_recall`: k-NN precision and recall (Kynkäänniemi et al. 2019): precision is the
  fraction of samples inside the real "manifold" (the union of balls around each real point with
  radius its distance to its k-th nearest real neighbour), recall the fraction of real points
  inside the samples' manifold. Higher is better; both near 1 for matching sets.

A number means something next to its *floor*, the same metric between two disjoint sets of real
data of the same sizes: `evaluate` returns both.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from keras_ddpm.utils import checks

#: Bandwidths (sigma) of the multi-scale RBF kernel, in data units (the bicycle spans [-1, 1]).
MMD_BANDWIDTHS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: Neighbour count of the k-NN precision/recall, as in Kynkäänniemi et al. 2019.
PR_K = 3
METRICS = ("sliced_w1", "mmd", "precision", "recall")


def _as_points(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be an array of shape (N >= 2, dims), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _pair(x, y):
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of dimensions, got {x.shape[1]} and {y.shape[1]}")
    return x, y


def random_directions(dims: int, num: int, seed: int = 0) -> np.ndarray:
    """``num`` unit vectors uniform on the sphere in ``dims`` dimensions, ``(dims, num)``."""
    d = np.random.default_rng(seed).standard_normal((dims, num))
    return d / np.linalg.norm(d, axis=0, keepdims=True)


def sliced_wasserstein(x, y, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between point sets ``x`` (N, d) and ``y`` (M, d).

    For each of ``num_projections`` random unit directions (fixed by ``seed``) the exact 1D W1 of
    the projected empirical distributions, ``integral_0^1 |F_x^-1(u) - F_y^-1(u)| du``, evaluated
    on the common grid of ``N M / gcd(N, M)``-quantile midpoints when that is small, else on
    ``max(N, M)`` quantile levels (exact for N = M); then the mean over directions.
    """
    x, y = _pair(x, y)
    directions = random_directions(x.shape[1], num_projections, seed)
    px, py = np.sort(x @ directions, axis=0), np.sort(y @ directions, axis=0)
    levels = int(np.lcm(len(x), len(y)))
    if levels > 4 * max(len(x), len(y)):
        levels = max(len(x), len(y))
    u = (np.arange(levels) + 0.5) / levels
    qx = px[np.minimum((u * len(x)).astype(int), len(x) - 1)]
    qy = py[np.minimum((u * len(y)).astype(int), len(y) - 1)]
    return float(np.mean(np.abs(qx - qy)))


def _kernel_sum(a, b, bandwidths, block=2048):
    """Sum over all pairs of ``sum_s exp(-|a_i - b_j|^2 / (2 s^2))``, in blocks to bound memory."""
    gammas = 1.0 / (2.0 * np.square(np.asarray(bandwidths, np.float64)))
    total = 0.0
    b_sq = np.sum(b * b, axis=1)
    for start in range(0, len(a), block):
        chunk = a[start:start + block]
        d2 = np.maximum(np.sum(chunk * chunk, axis=1)[:, None] + b_sq[None, :] - 2.0 * chunk @ b.T, 0.0)
        for g in gammas:
            total += float(np.exp(-g * d2).sum())
    return total


def mmd(x, y, bandwidths=MMD_BANDWIDTHS, max_points: int = 4000, seed: int = 0) -> float:
    """Unbiased squared MMD with the kernel ``k = sum_s exp(-|a - b|^2 / (2 s^2))`` (Gretton et al. 2012).

    Sets larger than ``max_points`` are subsampled (seeded) to bound the O(N M) cost.
    """
    x, y = _pair(x, y)
    rng = np.random.default_rng(seed)
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    if len(y) > max_points:
        y = y[rng.choice(len(y), max_points, replace=False)]
    n, m, k = len(x), len(y), len(bandwidths)
    kxx = (_kernel_sum(x, x, bandwidths) - n * k) / (n * (n - 1))  # drop the diagonal (k(a, a) = 1 per bandwidth)
    kyy = (_kernel_sum(y, y, bandwidths) - m * k) / (m * (m - 1))
    kxy = _kernel_sum(x, y, bandwidths) / (n * m)
    return float(kxx + kyy - 2.0 * kxy)


def knn_radii(points, k: int = PR_K, tree=None) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    tree = tree if tree is not None else cKDTree(points)
    distances, _ = tree.query(points, k=k + 1)
    return distances[:, -1]


def coverage_fraction(queries, points, radii, tree=None, candidates: int = 32) -> float:
    """Fraction of ``queries`` inside the union of balls ``B(points_i, radii_i)`` (exact).

    Checks the ``candidates`` nearest points of each query first; a query not decided by them
    (its candidates' distances stay below the largest radius) is checked against every point
    within the largest radius.
    """
    tree = tree if tree is not None else cKDTree(points)
    kk = min(candidates, len(points))
    distances, index = tree.query(queries, k=kk)
    distances, index = distances.reshape(len(queries), kk), index.reshape(len(queries), kk)
    inside = np.any(distances <= radii[index], axis=1)
    undecided = np.flatnonzero(~inside & (distances[:, -1] <= radii.max()))
    for i, neighbours in zip(undecided, tree.query_ball_point(queries[undecided], radii.max())):
        neighbours = np.asarray(neighbours, dtype=int)
        if len(neighbours):
            d = np.linalg.norm(points[neighbours] - queries[i], axis=1)
            inside[i] = bool(np.any(d <= radii[neighbours]))
    return float(np.mean(inside))


def precision_recall(x, y, k: int = PR_K):
    """k-NN ``(precision, recall)`` of samples ``x`` against real points ``y`` (Kynkäänniemi et al. 2019)."""
    x, y = _pair(x, y)
    if not checks.is_integer(k) or not 1 <= k < min(len(x), len(y)):
        raise ValueError(f"k must be an integer in 1..{min(len(x), len(y)) - 1}, got {k!r}")
    tree_x, tree_y = cKDTree(x), cKDTree(y)
    precision = coverage_fraction(x, y, knn_radii(y, k, tree_y), tree_y)
    recall = coverage_fraction(y, x, knn_radii(x, k, tree_x), tree_x)
    return precision, recall


def compare(x, y, seed: int = 0) -> dict:
    """All metrics of ``x`` against ``y``: ``{"sliced_w1", "mmd", "precision", "recall"}``."""
    precision, recall = precision_recall(x, y)
    return {"sliced_w1": sliced_wasserstein(x, y, seed=seed), "mmd": mmd(x, y, seed=seed),
            "precision": precision, "recall": recall}


def evaluate(samples, reference, real, seed: int = 0, floor: dict | None = None) -> dict:
    """Metrics of ``samples`` against ``reference`` and, as their floor, of ``real`` against it.

    Args:
        samples: generated points ``(N, d)``.
        reference: held-out real points (a validation split the model never trained on).
        real: other real points, disjoint from ``reference``; its first ``N`` rows (or all, if
            fewer) give the floor, so both comparisons use sets of the same size.
        floor: the ``metric + "_floor"`` entries of an earlier `evaluate` with the same
            ``reference``, ``real``, ``seed`` and number of samples, to reuse instead of computing
            them again (e.g. for every checkpoint of a run).

    Returns:
        ``{metric: value, metric + "_floor": value}`` for every metric in `METRICS`.
    """
    samples, real = _as_points(samples, "samples"), _as_points(real, "real")
    result = compare(samples, reference, seed)
    if floor is None:
        floor = {f"{k}_floor": v for k, v in compare(real[: len(samples)], reference, seed).items()}
    result.update({k: floor[k] for k in floor if k.endswith("_floor")})
    return result


def meets_targets(result: dict, pr_margin: float = 0.05, w1_factor: float = 1.5) -> bool:
    """The bicycle's quality bar: precision and recall within ``pr_margin`` of their floors, sliced W1
    within ``w1_factor`` times its floor."""
    return (result["precision"] >= result["precision_floor"] - pr_margin
            and result["recall"] >= result["recall_floor"] - pr_margin
            and result["sliced_w1"] <= w1_factor * result["sliced_w1_floor"])
