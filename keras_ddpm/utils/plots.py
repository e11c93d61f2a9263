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

from keras_ddpm.utils.io import atomic_path  # noqa: E402

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


#: Resolution of every figure the package writes.
DPI = 110


def save_figure(fig, path) -> str:
    """Write ``fig`` to ``path`` atomically (format from the extension, default PNG) at `DPI`, close
    it and return the path. Every figure of the package is written by this one function."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format=os.path.splitext(path)[1][1:] or "png")
    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)
    return os.fspath(path)


def scatter(points, path, title=None, limits=LIMITS, color="k"):
    """A scatter of a 2D point cloud."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(points[:, 0], points[:, 1], c=color, **POINT_STYLE)
    _square_axes(ax, title, limits)
    return save_figure(fig, path)


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def loss_curve(epochs, losses, path, val_losses=None, bins=None):
    """Training (and optionally validation) loss per epoch, log scale.

    ``bins`` (optional) maps a label (e.g. ``"t 0-99"``) to the validation loss of one bin of
    timesteps per epoch; they get a second panel, since the average over t hides them.
    """
    panels = 2 if bins else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.5), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, losses, marker=".", label="train")
    if val_losses is not None:
        ax.plot(epochs, val_losses, marker=".", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE on eps)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Training loss")
    if bins:
        ax = axes[0, 1]
        colors = plt.cm.viridis(np.linspace(0, 1, len(bins)))
        for color, (label, values) in zip(colors, bins.items()):
            ax.plot(epochs, values, color=color, label=label)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, ncol=2, title="0-based t", title_fontsize=7)
        ax.set_title("Validation loss per bin of timesteps")
    return save_figure(fig, path)


def timestep_loss_curves(bin_centers, curves, path, title="Validation loss per bin of timesteps"):
    """Loss against the (0-based) timestep bin, one line per entry of ``curves`` ({label: values})."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    colors = plt.cm.viridis(np.linspace(0, 1, max(len(curves), 1)))
    for color, (label, values) in zip(colors, curves.items()):
        ax.plot(bin_centers, values, marker=".", color=color, label=label)
    ax.set_xlabel("timestep t (0-based, bin centre)")
    ax.set_ylabel("loss (MSE on eps)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def metric_curves(epochs, series, path, suptitle=None):
    """Stacked panels sharing the epoch axis: ``series`` maps a panel title to a dict of
    ``{label: values}``, and an optional ``"floor"`` entry (a number) drawn as a dashed line."""
    n = len(series)
    fig, axes = plt.subplots(n, 1, figsize=(6, 1.9 * n + 0.4), sharex=True, squeeze=False)
    for ax, (title, lines) in zip(axes[:, 0], series.items()):
        lines = dict(lines)
        floor = lines.pop("floor", None)
        for label, values in lines.items():
            ax.plot(epochs, values, marker="o", ms=3, label=label)
        if floor is not None:
            ax.axhline(floor, color="grey", ls="--", lw=1, label="real vs real (floor)")
        ax.set_ylabel(title, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("epoch")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


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
