"""Figures for the score-based models: density heatmaps, score fields, trajectories, scatters.

Built on `matplotlib.figure.Figure` (Agg canvas, no pyplot state), so they work headless and in
threads. Every function takes NumPy callables (``(n, 2) -> (n,)`` log-densities, ``(n, 2) -> (n, 2)``
scores) and writes a PNG to ``path``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from keras_ddpm.utils.plots import save_figure


def grid_points(extent, resolution: int):
    """A ``resolution x resolution`` grid over ``extent = (xmin, xmax, ymin, ymax)``: ``(xx, yy, points)``."""
    xmin, xmax, ymin, ymax = extent
    xx, yy = np.meshgrid(np.linspace(xmin, xmax, resolution), np.linspace(ymin, ymax, resolution))
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=1)


def mixture_extent(means, covariances, num_std: float = 4.0):
    """A square ``(xmin, xmax, ymin, ymax)`` holding every mean +- ``num_std`` standard deviations."""
    means = np.asarray(means, dtype=np.float64)
    stds = np.sqrt(np.max(np.diagonal(np.asarray(covariances, dtype=np.float64), axis1=1, axis2=2)))
    lo, hi = float(means.min() - num_std * stds), float(means.max() + num_std * stds)
    return (lo, hi, lo, hi)


def draw_density(ax, log_prob_fn, extent, resolution: int = 160, cmap: str = "Blues"):
    """Heatmap of ``exp(log_prob_fn)`` over ``extent``."""
    xx, _, points = grid_points(extent, resolution)
    density = np.exp(log_prob_fn(points)).reshape(xx.shape)
    ax.imshow(density, origin="lower", extent=extent, cmap=cmap, aspect="auto", interpolation="bilinear")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])


def _arrow_lengths(fields):
    """Arrow length ``log(1 + |s|)``, normalised by the largest over ``fields`` (a shared scale)."""
    norms = [np.linalg.norm(f, axis=1) for f in fields]
    top = max(np.log1p(n).max() for n in norms) or 1.0
    return [np.log1p(n) / top for n in norms], norms


def score_field_figure(panels, extent, path, num_arrows: int = 21, share: str = "row",
                       suptitle: str | None = None):
    """Grid of score-field panels: each a density heatmap with the score as arrows.

    ``panels`` is a list of rows, each a list of dicts with ``title``, ``log_prob_fn`` and
    ``score_fn``. Arrows point along the score; their length is ``log(1 + |s|)`` on a scale shared
    by the panels of a row (``share="row"``) or of a column (``share="column"``): put a learned
    field and its analytic reference in the same row or column so they compare directly.
    """
    if share not in ("row", "column"):
        raise ValueError(f"share must be 'row' or 'column', got {share!r}")
    rows, cols = len(panels), max(len(row) for row in panels)
    xx, yy, points = grid_points(extent, num_arrows)
    fields = {(r, c): np.asarray(panel["score_fn"](points), dtype=np.float64)
              for r, row in enumerate(panels) for c, panel in enumerate(row)}
    lengths, norms = {}, {}
    for group in range(rows if share == "row" else cols):
        keys = [key for key in fields if key[0 if share == "row" else 1] == group]
        group_lengths, group_norms = _arrow_lengths([fields[key] for key in keys])
        lengths.update(zip(keys, group_lengths))
        norms.update(zip(keys, group_norms))
    spacing = (extent[1] - extent[0]) / (num_arrows - 1)
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            if (r, c) not in fields:
                ax.axis("off")
                continue
            panel = panels[r][c]
            draw_density(ax, panel["log_prob_fn"], extent)
            direction = fields[r, c] / np.maximum(norms[r, c], 1e-12)[:, None]
            u, v = (direction * (0.9 * spacing * lengths[r, c])[:, None]).T
            ax.quiver(xx, yy, u.reshape(xx.shape), v.reshape(xx.shape), angles="xy",
                      scale_units="xy", scale=1.0, width=0.004, color="black")
            ax.set_title(panel["title"], fontsize=10)
            ax.set_aspect("equal")
    if suptitle:
        fig.suptitle(suptitle)
    save_figure(fig, path)


def trajectories_figure(log_prob_fn, trajectories: dict, extent, path):
    """One panel per sampler: trajectories ``(T + 1, n, 2)`` over the density heatmap.

    Starts are circles, ends crosses; steps that leave ``extent`` are clipped by the axes.
    """
    fig = Figure(figsize=(4.4 * len(trajectories), 4.2), layout="constrained")
    axes = fig.subplots(1, len(trajectories), squeeze=False)[0]
    colors = [f"C{i}" for i in range(10)]
    for ax, (title, path_xy) in zip(axes, trajectories.items()):
        draw_density(ax, log_prob_fn, extent, cmap="Greys")
        path_xy = np.asarray(path_xy)
        for j in range(path_xy.shape[1]):
            color = colors[j % len(colors)]
            ax.plot(path_xy[:, j, 0], path_xy[:, j, 1], "-", color=color, lw=0.7, alpha=0.8)
            ax.plot(*path_xy[0, j], "o", color=color, ms=5)
            ax.plot(*path_xy[-1, j], "x", color=color, ms=7, mew=2)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
    save_figure(fig, path)


def scatter_figure(samples: dict, extent, path, means=None, log_prob_fn=None,
                   annotations: dict | None = None):
    """One scatter panel per entry of ``samples`` (title -> ``(n, 2)``), on a shared extent.

    Optional: the true ``means`` as red crosses, density contours of ``log_prob_fn`` and a text
    annotation per panel (e.g. the recovered weights).
    """
    annotations = annotations or {}
    fig = Figure(figsize=(4.2 * len(samples), 4.2), layout="constrained")
    axes = fig.subplots(1, len(samples), squeeze=False)[0]
    for ax, (title, points) in zip(axes, samples.items()):
        points = np.asarray(points)
        if log_prob_fn is not None:
            xx, yy, grid = grid_points(extent, 120)
            ax.contour(xx, yy, np.exp(log_prob_fn(grid)).reshape(xx.shape), levels=6, colors="grey",
                       linewidths=0.6)
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.35)
        if means is not None:
            means = np.asarray(means)
            ax.plot(means[:, 0], means[:, 1], "x", color="red", ms=9, mew=2)
        if title in annotations:
            ax.text(0.02, 0.98, annotations[title], transform=ax.transAxes, va="top", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def loss_figure(histories: dict, path):
    """Training loss per epoch (log scale), one curve per model (name -> list of losses)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for name, losses in histories.items():
        ax.plot(np.arange(1, len(losses) + 1), losses, marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("DSM loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    save_figure(fig, path)
