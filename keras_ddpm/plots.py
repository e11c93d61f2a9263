"""Matplotlib figures for 2D diffusion runs. Every function writes one file and returns its path.

Files are written atomically (to a temporary name, then renamed), so an interrupted run never
leaves a half-written picture behind.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402

from keras_ddpm.io import atomic_path  # noqa: E402

POINT_STYLE = dict(s=1.0, alpha=0.5, linewidths=0, rasterized=True)
LIMITS = (-1.6, 1.6)


def _square_axes(ax, title=None, limits=LIMITS):
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=os.path.splitext(path)[1][1:] or "png")
    plt.close(fig)
    return path


def scatter(points, path, title=None, limits=LIMITS, color="k"):
    """A scatter of a 2D point cloud."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(points[:, 0], points[:, 1], c=color, **POINT_STYLE)
    _square_axes(ax, title, limits)
    return _save(fig, path)


def scatter_grid(rows, path, limits=LIMITS, size=2.4, suptitle=None):
    """A grid of scatters; ``rows`` is a list of rows, each a list of ``(title, points)``."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, (size + 0.25) * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(row):
                ax.axis("off")
                continue
            title, points = row[c]
            ax.scatter(points[:, 0], points[:, 1], c="k", **POINT_STYLE)
            _square_axes(ax, title, limits)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _save(fig, path)


def alphas_cumprod_curves(schedules, path):
    """alpha-bar_t of several `NoiseSchedule`s on one plot (0-based t on the x axis)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for schedule in schedules:
        ax.plot(np.arange(schedule.timesteps), schedule.alphas_cumprod, label=schedule.kind)
    ax.axhline(0.5, color="grey", lw=0.5, ls="--")
    ax.set_xlabel("timestep t (0-based)")
    ax.set_ylabel(r"$\bar\alpha_t$ (alphas_cumprod)")
    ax.set_title(r"Noise schedules: $\bar\alpha_t$")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def loss_curve(epochs, losses, path, val_losses=None):
    """Training (and optionally validation) loss per epoch, log scale."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(epochs, losses, marker=".", label="train")
    if val_losses is not None:
        ax.plot(epochs, val_losses, marker=".", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE on eps)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Training loss")
    return _save(fig, path)


def reverse_process_gif(frames, path, fps=10, limits=(-3.5, 3.5)):
    """An animated GIF of the point cloud through the reverse process.

    ``frames`` is a list of ``(label, points)``, from x_T to x_0.
    """
    fig, ax = plt.subplots(figsize=(4, 4))
    label0, points0 = frames[0]
    artist = ax.scatter(points0[:, 0], points0[:, 1], c="k", s=1.0, alpha=0.5, linewidths=0)
    _square_axes(ax, label0, limits)

    def draw(k):
        label, points = frames[k]
        artist.set_offsets(points[:, :2])
        ax.set_title(label, fontsize=9)
        return (artist,)

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    with atomic_path(path) as tmp:
        anim.save(tmp, writer=animation.PillowWriter(fps=fps))
    plt.close(fig)
    return path
