"""The figures of a 2D diffusion run (the bicycle assignment), before and after training."""

from __future__ import annotations

import os

import numpy as np

from keras_ddpm.process.forward import q_sample
from keras_ddpm.process.schedules import SCHEDULES, NoiseSchedule
from keras_ddpm.utils import checks, plots
from keras_ddpm.utils.io import save_npy

#: Points drawn in figures that show the data or the forward process.
FIGURE_POINTS = 5000


def _subset(points, n, seed):
    if len(points) <= n:
        return points
    return points[np.random.default_rng(seed).choice(len(points), n, replace=False)]


def write_preliminary_figures(points, schedule: NoiseSchedule, out, seed=0, forward_steps=(0, 5, 50, 100, 250, 500, 750, 999)):
    """Before training: the data, the schedules' alpha-bar curves, the forward process.

    Writes ``data.png``, ``schedules.png`` (linear and sigmoid, plus cosine, for the run's T) and
    ``forward_process.png`` (q_sample, eq. 4, of the same points at each 0-based ``t`` of
    ``forward_steps`` below T; one row per schedule).
    """
    T = schedule.timesteps
    shown = _subset(points, FIGURE_POINTS, seed)
    plots.scatter(shown, os.path.join(out, "data.png"), title=f"data: {len(shown)} of {len(points)} points")
    curves = [NoiseSchedule(kind, T) for kind in SCHEDULES]  # linear, sigmoid, cosine
    plots.alphas_cumprod_curves(curves, os.path.join(out, "schedules.png"))
    # The forward process for linear and sigmoid (the assignment's pair), and the run's own schedule.
    schedules = [s for s in curves if s.kind in ("linear", "sigmoid", schedule.kind)]
    steps = [t for t in forward_steps if t < T]
    noise = np.random.default_rng(seed + 1).standard_normal(shown.shape).astype(np.float32)
    rows = []
    for s in schedules:
        row = []
        for t in steps:
            x_t = q_sample(s, shown, np.full(len(shown), t), noise)
            row.append((f"{s.kind}, t={t}\nabar={s.alphas_cumprod[t]:.3f}", np.asarray(x_t)))
        rows.append(row)
    plots.scatter_grid(rows, os.path.join(out, "forward_process.png"), limits=(-3, 3),
                       suptitle="Forward process q(x_t | x_0), closed form (eq. 4); t is 0-based")


def gif_steps(timesteps: int, frames: int):
    """About ``frames`` 0-based timesteps from T-1 down to 0, evenly spaced (the last frame is x_0)."""
    return sorted({int(round(v)) for v in np.linspace(timesteps - 1, 0, max(frames - 1, 1))}, reverse=True)


def write_final_figures(network, sampler, points, out, num_samples=20000, seed=0, gif_frames=50, progress=1):
    """After training: a large sample, its scatter beside the data, and a GIF of the reverse process.

    Writes ``samples.npy``, ``samples_vs_data.png`` and ``reverse_process.gif``; returns their names.
    """
    T = sampler.schedule.timesteps
    steps = gif_steps(T, gif_frames)
    x0, trajectory = sampler.sample(network, (num_samples,) + points.shape[1:], seed=seed,
                                    trajectory_steps=steps, progress=progress)
    save_npy(os.path.join(out, "samples.npy"), x0)
    data = _subset(points, num_samples, seed)
    plots.scatter_grid(
        [[(f"data ({len(data)} points)", data), (f"DDPM samples ({num_samples} points)", x0)]],
        os.path.join(out, "samples_vs_data.png"), size=4.5,
    )
    keep = np.arange(min(num_samples, FIGURE_POINTS))
    frames = [(f"t = {t} (x_{t + 1} in the paper)", trajectory[t][keep]) for t in steps]
    frames.append(("x_0: samples", x0[keep]))
    plots.reverse_process_gif(frames, os.path.join(out, "reverse_process.gif"))
    return ["samples.npy", "samples_vs_data.png", "reverse_process.gif"]


#: Starting points t0 of the partial-diffusion figure (in forward steps; see `partial_diffusion`).
PARTIAL_T0 = (50, 100, 250, 500, 750)
#: Points in the partial-diffusion figure.
PARTIAL_POINTS = 2000


def partial_diffusion(network, sampler, x0, t0: int, seed: int = 0) -> np.ndarray:
    """Partial diffusion (SDEdit, Meng et al. 2022): noise ``x0`` for ``t0`` forward steps, then denoise.

    ``t0`` counts forward steps as the paper does: the points are taken to the paper's x_{t0} in
    closed form (eq. 4, `q_sample` at 0-based index ``t0 - 1``) and the reverse process
    (Algorithm 2, `DDPMSampler.denoise_from`) runs from there down to x_0. ``t0 = 0`` applies no
    noise and returns ``x0`` unchanged; ``t0 = T`` is ordinary sampling from (nearly) pure noise.
    The noise is seeded by ``seed``.
    """
    T = sampler.schedule.timesteps
    if not checks.is_integer(t0) or not 0 <= t0 <= T:
        raise ValueError(f"t0 must be an integer in 0..{T} (forward steps), got {t0!r}")
    x0 = np.asarray(x0, np.float32)
    if t0 == 0:
        return x0.copy()
    noise = np.random.default_rng([seed, int(t0)]).standard_normal(x0.shape).astype(np.float32)
    x_t = np.asarray(q_sample(sampler.schedule, x0, np.full(len(x0), t0 - 1), noise))
    return sampler.denoise_from(network, x_t, int(t0) - 1, seed=seed)


def write_partial_diffusion(network, sampler, points, out, t0s=PARTIAL_T0, num_points=PARTIAL_POINTS, seed=0):
    """The partial-diffusion figure: originals, then the result for each ``t0`` (``partial_diffusion.png``).

    Returns ``{t0: mean distance between each original point and its result}``; it grows with t0,
    since the further the points are diffused the less of them survives.
    """
    T = sampler.schedule.timesteps
    t0s = [int(t) for t in t0s if t <= T]
    x0 = _subset(points, num_points, seed)
    row = [(f"originals ({len(x0)} held-out points)", x0)]
    displacement = {}
    for t0 in t0s:
        result = partial_diffusion(network, sampler, x0, t0, seed=seed)
        displacement[t0] = float(np.mean(np.linalg.norm(result - x0, axis=1)))
        row.append((f"t0 = {t0}: mean move {displacement[t0]:.3f}", result))
    plots.scatter_grid([row], os.path.join(out, "partial_diffusion.png"), size=2.8,
                       suptitle="Partial diffusion (SDEdit): q_sample to x_t0, then Algorithm 2 from t0")
    return displacement
