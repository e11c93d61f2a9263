"""Memorisation of a small training set: how close each generated image is to its nearest training image.

A diffusion model trained long on a few hundred images can learn to reproduce them; a low FID from
copies is not a success. For each generated image we take the root-mean-square pixel distance to
its nearest training image (``nearest_distances``) and count near-copies: images within
``threshold`` of a training image. The same numbers for real images the model never trained on
(held-out images, or, without any, each training image against the *other* training images)
say how close genuinely new images of this data set come to the training set: data sets of
pixel art hold near-duplicates of their own (recoloured monsters, wall variants).

Distances are in the model's pixel range [-1, 1]: an RMS distance of 0.1 is 5% of the range,
e.g. every pixel off by 0.1, or 1 pixel in 400 changed completely.
"""

from __future__ import annotations

import numpy as np

#: Default near-copy threshold (RMS pixel distance in [-1, 1] units).
NEAR_COPY_THRESHOLD = 0.1


def _flat(images, name):
    images = np.asarray(images, np.float32)
    if images.ndim < 2 or len(images) < 1:
        raise ValueError(f"{name} must be a non-empty array of images, got shape {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return images.reshape(len(images), -1)


def nearest_distances(queries, references, exclude_self: bool = False, block: int = 512):
    """RMS distance from each query image to its nearest reference image, and that image's index.

    ``d(x, y) = sqrt(mean((x - y)^2))`` over all pixels and channels. With ``exclude_self`` the
    queries must be the references themselves (same array): each image is compared with every
    *other* one (leave-one-out). Returns ``(distances (Q,), indices (Q,))``.
    """
    q, r = _flat(queries, "queries"), _flat(references, "references")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"query images have {q.shape[1]} values each, references {r.shape[1]}")
    if exclude_self and (len(q) != len(r) or len(r) < 2):
        raise ValueError("exclude_self compares a set of at least 2 images with itself")
    r_sq = np.einsum("ij,ij->i", r, r)
    distances = np.empty(len(q))
    indices = np.empty(len(q), np.int64)
    for start in range(0, len(q), block):
        chunk = q[start:start + block]
        # ||x - y||^2 = ||x||^2 - 2 x.y + ||y||^2, in float64 to keep small distances exact enough.
        sq = (np.einsum("ij,ij->i", chunk, chunk)[:, None] - 2.0 * (chunk.astype(np.float64) @ r.T)
              + r_sq[None, :])
        if exclude_self:
            sq[np.arange(len(chunk)), np.arange(start, start + len(chunk))] = np.inf
        best = np.argmin(sq, axis=1)
        indices[start:start + len(chunk)] = best
        distances[start:start + len(chunk)] = np.sqrt(np.maximum(sq[np.arange(len(chunk)), best], 0.0) / q.shape[1])
    return distances, indices


def memorization_report(samples, training, baseline=None, threshold: float = NEAR_COPY_THRESHOLD) -> dict:
    """Nearest-training-image statistics of ``samples`` next to those of real images.

    Args:
        samples: generated images (any shape per image, in [-1, 1]).
        training: the images the model was trained on.
        baseline: real images the model never saw; None: leave-one-out within ``training``.
        threshold: an image whose nearest training image is closer than this (RMS, [-1, 1]
            units) is a near-copy.

    Returns a dict with, for ``"samples"`` and ``"real"``: ``near_copy_share`` (fraction under
    the threshold), ``median`` and ``p05`` (5th percentile) of the nearest distances; plus
    ``threshold``, ``baseline`` (``"held-out"`` or ``"leave-one-out"``) and ``copied``: the
    indices of the training images that samples nearly copy (each once).
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    d_samples, nearest = nearest_distances(samples, training)
    d_real, kind = real_distances(training, baseline)
    return {"threshold": float(threshold), "baseline": kind, "samples": copy_statistics(d_samples, threshold),
            "real": copy_statistics(d_real, threshold),
            "copied": sorted(set(int(i) for i in nearest[d_samples < threshold]))}


def real_distances(training, baseline=None):
    """``(distances, kind)``: each real image's distance to its nearest training image: the
    ``baseline`` images (``kind = "held-out"``), or each training image against the others
    (``"leave-one-out"``) when there are none."""
    if baseline is None:
        return nearest_distances(training, training, exclude_self=True)[0], "leave-one-out"
    return nearest_distances(baseline, training)[0], "held-out"


def copy_statistics(distances, threshold: float = NEAR_COPY_THRESHOLD) -> dict:
    """``near_copy_share`` (fraction under ``threshold``), ``median``, ``p05`` and ``count`` of nearest distances."""
    d = np.asarray(distances)
    return {"near_copy_share": float(np.mean(d < threshold)), "median": float(np.median(d)),
            "p05": float(np.percentile(d, 5)), "count": int(len(d))}
