"""Score-driven samplers: score ascent, Langevin dynamics and annealed Langevin dynamics.

Update rule (Song & Ermon 2019, eq. 4; Welling & Teh 2011 without the Metropolis correction),
with step size ``epsilon`` and ``z_t ~ N(0, I)``:

    x_t = x_{t-1} + (epsilon / 2) * s(x_{t-1}) + sqrt(epsilon) * z_t

`langevin_step` builds this update as a "corrector" step (in the sense of the predictor-corrector
samplers of Song et al. 2021, section 4.2) on the step loop that the diffusion samplers share,
`keras_ddpm.samplers.loop.run_steps`; step ``t`` uses its own step size and, for a
noise-conditional score ``s(x, sigma)``, its own noise level. All three samplers run that loop in
one compiled `tf.function` over the whole batch of chains, driven by per-step step sizes and noise
levels, so the step size and the number of steps are ordinary arguments and never retrace the
graph. The noise is `tf.random.stateless_normal` seeded by ``(seed, step)`` (0-based step index):
the same seed gives the same samples, bit for bit.

``score_ascent`` drops the noise term (deterministic gradient ascent on ``log p``, which stops at
the modes); ``langevin_dynamics`` samples ``p`` as ``epsilon -> 0`` and ``T -> inf``, but in
practice never crosses the low-density gap between separated modes, so it keeps the proportions of
its starting points instead of the mixture weights; ``annealed_langevin_dynamics`` is Algorithm 1
of Song & Ermon 2019, which fixes that by starting at a large noise level.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from keras_ddpm.samplers.loop import run_steps
from keras_ddpm.utils import checks

#: Compiled chains, one per (score_fn, conditional, add_noise, record); the oldest are dropped.
_COMPILED: dict = {}
_MAX_COMPILED = 32


def _compiled_chain(score_fn, conditional: bool, add_noise: bool, record: bool):
    """The `tf.function` running `_chain` for this score function and these static flags.

    One compiled function per combination (cached) instead of one function retraced for each, so
    calling the samplers again with new step sizes, step counts, seeds or batch sizes reuses the
    graph, and different score functions do not evict each other.
    """
    key = (score_fn, conditional, add_noise, record)
    if key not in _COMPILED:
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = tf.function(
            functools.partial(_chain, score_fn, conditional, add_noise, record), reduce_retracing=True
        )
    return _COMPILED[key]


def langevin_step(score_fn, step_sizes, seed, add_noise: bool = True, sigmas=None, num_chains=None):
    """The Langevin corrector step ``step(t, x)`` for `run_steps` (graph code).

    ``x <- x + (alpha_t / 2) s(x) + sqrt(alpha_t) z_t`` (Song & Ermon 2019, eq. 4) with
    ``alpha_t = step_sizes[t]`` and ``z_t`` the stateless normal with key ``(seed, t)``.

    Args:
        score_fn: ``s(x)`` or, with ``sigmas``, ``s(x, sigma)`` with ``sigma`` ``(n,)`` filled with
            ``sigmas[t]``.
        step_sizes: ``(steps,)`` float tensor indexed by the step ``t``.
        seed: int64 scalar tensor.
        add_noise: a Python bool; without noise the step is score ascent.
        sigmas: ``(steps,)`` noise levels for a noise-conditional score, or None.
        num_chains: ``n``, the length of ``sigma`` (an int32 scalar); by default ``x``'s number of
            rows, read inside the step.
    """

    def step(t, x):
        alpha = step_sizes[t]
        if sigmas is None:
            score = score_fn(x)
        else:
            n = tf.shape(x)[0] if num_chains is None else num_chains
            score = score_fn(x, tf.fill([n], sigmas[t]))
        x = x + 0.5 * alpha * tf.cast(score, x.dtype)
        if add_noise:
            step_seed = tf.stack([seed, tf.cast(t, tf.int64)])
            x = x + tf.sqrt(alpha) * tf.random.stateless_normal(tf.shape(x), step_seed, dtype=x.dtype)
        return x

    return step


def _chain(score_fn, conditional, add_noise, record, x, step_sizes, sigmas, seed):
    """Run ``len(step_sizes)`` Langevin steps of all chains in ``x`` ``(n, D)`` on `run_steps`.

    Python (static) arguments: ``score_fn``, ``conditional`` (call ``score_fn(x, sigma)`` with
    ``sigma`` ``(n,)`` instead of ``score_fn(x)``), ``add_noise`` and ``record`` (also return the
    ``(steps + 1, n, D)`` trajectory). Tensors: ``step_sizes``/``sigmas`` ``(steps,)``, ``seed``.
    """
    step = langevin_step(score_fn, step_sizes, seed, add_noise,
                         sigmas if conditional else None, tf.shape(x)[0])
    result = run_steps(step, x, 0, tf.shape(step_sizes)[0], record=record)
    return result if record else (result, None)


def _run(score_fn, x_init, step_sizes, sigmas, seed, conditional, add_noise, return_trajectory):
    if not callable(score_fn):
        raise ValueError(f"score_fn must be callable, got {score_fn!r}")
    x = tf.constant(checks.points("x_init", x_init), tf.float32)
    seed = checks.integer("seed", seed)
    chain = _compiled_chain(score_fn, bool(conditional), bool(add_noise), bool(return_trajectory))
    x, trajectory = chain(
        x,
        tf.constant(step_sizes, tf.float32),
        tf.constant(sigmas, tf.float32),
        tf.constant(seed, tf.int64),
    )
    return (x, trajectory) if return_trajectory else x


def score_ascent(score_fn, x_init, step_size, num_steps, return_trajectory: bool = False):
    """Deterministic score ascent ``x_t = x_{t-1} + (epsilon / 2) s(x_{t-1})``: gradient ascent on log p.

    Args:
        score_fn: ``s(x)``, maps a ``(n, D)`` float32 tensor to its score ``(n, D)`` (graph-safe).
        x_init: starting points ``(n, D)``.
        step_size: ``epsilon > 0``.
        num_steps: number of updates ``T >= 1``.
        return_trajectory: also return all iterates ``(T + 1, n, D)``, the start included.

    Returns:
        ``x_T`` ``(n, D)`` float32 (and the trajectory).
    """
    step_size = checks.positive_float("step_size", step_size)
    num_steps = checks.positive_int("num_steps", num_steps)
    steps = np.full(num_steps, step_size)
    return _run(score_fn, x_init, steps, np.zeros(num_steps), 0, False, False, return_trajectory)


def langevin_dynamics(score_fn, x_init, step_size, num_steps, seed=0, return_trajectory: bool = False):
    """Unadjusted Langevin dynamics ``x_t = x_{t-1} + (epsilon / 2) s(x_{t-1}) + sqrt(epsilon) z_t``.

    Song & Ermon 2019, eq. 4 (Welling & Teh 2011). Arguments as `score_ascent`, plus ``seed``
    (an int) for the stateless noise ``z_t``.
    """
    step_size = checks.positive_float("step_size", step_size)
    num_steps = checks.positive_int("num_steps", num_steps)
    steps = np.full(num_steps, step_size)
    return _run(score_fn, x_init, steps, np.zeros(num_steps), seed, False, True, return_trajectory)


def annealed_step_sizes(sigmas, step_size) -> np.ndarray:
    """``alpha_i = epsilon * sigma_i^2 / sigma_L^2`` per level (Song & Ermon 2019, Algorithm 1, line 3)."""
    sigmas = checks.sigma_sequence("sigmas", sigmas, decreasing=True)
    step_size = checks.positive_float("step_size", step_size)
    return step_size * sigmas**2 / sigmas[-1] ** 2


def annealed_langevin_dynamics(
    score_fn, x_init, sigmas, step_size, steps_per_level, seed=0, return_trajectory: bool = False
):
    """Annealed Langevin dynamics, Algorithm 1 of Song & Ermon 2019.

    For each noise level ``sigma_1 > ... > sigma_L`` (largest first), with
    ``alpha_i = epsilon * sigma_i^2 / sigma_L^2``, run ``T = steps_per_level`` updates
    ``x_t = x_{t-1} + (alpha_i / 2) s(x_{t-1}, sigma_i) + sqrt(alpha_i) z_t`` and carry the chains to
    the next level. The result targets the noised distribution at ``sigma_L``.

    Args:
        score_fn: ``s(x, sigma)``: ``x`` ``(n, D)`` float32, ``sigma`` ``(n,)`` float32 -> ``(n, D)``.
        x_init: starting points ``(n, D)`` (Song & Ermon start from uniform noise).
        sigmas: the noise levels, strictly decreasing, all > 0.
        step_size: ``epsilon > 0``, the step size at the smallest level.
        steps_per_level: ``T >= 1``.
        seed: int seed of the stateless noise.
        return_trajectory: also return all ``L * T + 1`` iterates.
    """
    alphas = annealed_step_sizes(sigmas, step_size)
    steps_per_level = checks.positive_int("steps_per_level", steps_per_level)
    sigmas = checks.sigma_sequence("sigmas", sigmas, decreasing=True)
    return _run(
        score_fn,
        x_init,
        np.repeat(alphas, steps_per_level),
        np.repeat(sigmas, steps_per_level),
        seed,
        True,
        True,
        return_trajectory,
    )
