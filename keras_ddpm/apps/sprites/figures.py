"""Figures for image diffusion runs: sample grids and one row per class (`sample_figure` is what the
sprite run's `SamplePlotter` draws every N epochs). Every function writes one file (atomically) and returns
its path. Images are float arrays in [-1, 1] (the model's range) or uint8.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_ddpm.apps.sprites.data import to_uint8  # noqa: E402
from keras_ddpm.utils import checks
from keras_ddpm.utils.plots import DPI, save_figure  # noqa: E402

PIXELS_PER_IMAGE_PIXEL = 4  # 16x16 sprites are drawn 64x64


def _as_uint8(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, height, width, channels), got {images.shape}")
    return images if images.dtype == np.uint8 else to_uint8(images)


def tile(images, cols: int, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Lay ``N`` images out in rows of ``cols`` (the last row padded), ``pad`` pixels apart."""
    images = _as_uint8(images)
    cols = checks.positive_int("cols", cols)
    n, h, w, c = images.shape
    rows = max(1, -(-n // cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[top:top + h, left:left + w] = image
    return canvas


def image_grid(images, path, cols: int = 10, title: str | None = None):
    """A grid of images, ``cols`` per row, drawn pixel-exact (nearest neighbour)."""
    canvas = tile(images, cols)
    scale = PIXELS_PER_IMAGE_PIXEL / DPI
    fig = plt.figure(figsize=(canvas.shape[1] * scale, canvas.shape[0] * scale + (0.35 if title else 0)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def class_rows(rows, path, title: str | None = None):
    """One row of images per class, the class name at the left; ``rows`` is ``[(name, images), ...]``."""
    if not rows:
        raise ValueError("class_rows needs at least one (name, images) row")
    cols = max(len(images) for _, images in rows)
    strips = [tile(images, cols) for _, images in rows]
    scale = PIXELS_PER_IMAGE_PIXEL / DPI
    height = sum(s.shape[0] for s in strips) * scale
    fig, axes = plt.subplots(len(rows), 1, figsize=(strips[0].shape[1] * scale + 1.2, height + (0.4 if title else 0.1)),
                             squeeze=False)
    for ax, (name, _), strip in zip(axes[:, 0], rows, strips):
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def class_labels(num_classes: int, per_class: int) -> np.ndarray:
    """Class ids ``0,0,..,1,1,..`` (``per_class`` of each): the labels of a one-row-per-class grid."""
    return np.repeat(np.arange(int(num_classes), dtype=np.int32), int(per_class))


def sample_figure(sampler, network, path, num_samples: int, data_shape, seed: int = 0,
                  class_names=None, guidance_scale: float = 1.0, title: str | None = None, cols: int = 10):
    """Sample with ``sampler`` and draw the result; returns the samples.

    Unconditional networks get a grid of ``num_samples`` images. Class-conditional networks
    (``network.num_classes`` set) get one row per class, ``num_samples // num_classes`` (at
    least 1) images each, sampled with classifier-free guidance scale ``guidance_scale``.
    """
    num_classes = getattr(network, "num_classes", None)
    if num_classes:
        per_class = max(1, int(num_samples) // num_classes)
        labels = class_labels(num_classes, per_class)
        images = sampler.sample(network, (len(labels),) + tuple(data_shape), seed=seed, labels=labels,
                                guidance_scale=guidance_scale)
        names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
        class_rows([(names[k], images[labels == k]) for k in range(num_classes)], path, title)
    else:
        images = sampler.sample(network, (int(num_samples),) + tuple(data_shape), seed=seed)
        image_grid(images, path, cols=cols, title=title)
    return images


def forward_process_rows(images, schedule, path, timesteps=None, seed: int = 0):
    """The forward process on a few sprites: one row per sprite, one column per timestep t (0-based),
    each ``x_t = q_sample(x_0, t, eps)`` (eq. 4) with one ``eps`` per sprite, so columns differ by t only."""
    from keras_ddpm.process.forward import q_sample

    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.dtype == np.uint8:
        raise ValueError(f"expected float images in [-1, 1] of shape (N, H, W, C), got {images.shape} {images.dtype}")
    T = schedule.timesteps
    if timesteps is None:
        timesteps = sorted({0, T // 20, T // 10, T // 5, 2 * T // 5, 3 * T // 5, 4 * T // 5, T - 1})
    eps = np.random.default_rng(seed).standard_normal(images.shape).astype(np.float32)
    columns = []
    for t in timesteps:
        x_t = q_sample(schedule, images, np.full(len(images), t, np.int32), eps)
        columns.append(np.clip(np.asarray(x_t), -1.0, 1.0))
    rows = [(f"sprite {i}", np.stack([c[i] for c in columns])) for i in range(len(images))]
    title = "forward process q(x_t | x_0), t = " + ", ".join(str(t) for t in timesteps)
    return class_rows(rows, path, title=title)
