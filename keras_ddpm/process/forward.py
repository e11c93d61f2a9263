"""The forward (noising) process q of DDPM (Ho et al. 2020, section 2).

0-based timesteps: ``t`` in ``0 .. T-1`` is the paper's step ``t + 1``. ``q_sample(x0, t)`` returns
the paper's x_{t+1}, which is exactly the input the denoiser sees at timestep index ``t``.
"""

from __future__ import annotations

from keras import ops

from keras_ddpm.process.schedules import NoiseSchedule


def extract(values, t, ndim: int):
    """Gather ``values[t]`` per example and shape it ``(batch, 1, ..., 1)`` to broadcast over x.

    ``values`` is a ``(T,)`` tensor, ``t`` an integer tensor ``(batch,)``, ``ndim`` the rank of x.
    Uses a gather (never Python indexing) so a compiled graph does not specialise on ``t``.
    """
    out = ops.take(values, ops.cast(t, "int32"), axis=0)
    return ops.reshape(out, (-1,) + (1,) * (ndim - 1))


def q_sample(schedule: NoiseSchedule, x0, t, noise):
    """Sample x_t ~ q(x_t | x_0) in closed form, eq. 4 (and the reparametrisation of eq. 14).

    ``x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) noise``, one timestep per example.

    Args:
        schedule: the `NoiseSchedule`.
        x0: clean data, ``(batch, ...)``.
        t: 0-based timestep indices, ``(batch,)`` integers in ``0 .. T-1``.
        noise: standard normal noise shaped like ``x0``.
    """
    ndim = len(ops.shape(x0))
    return (
        extract(schedule.tensor("sqrt_alphas_cumprod"), t, ndim) * x0
        + extract(schedule.tensor("sqrt_one_minus_alphas_cumprod"), t, ndim) * noise
    )


def q_step(schedule: NoiseSchedule, x_prev, t, noise):
    """One Markov step of the forward process, eq. 2: q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I).

    With 0-based ``t``, ``x_prev`` is the state before step ``t`` (the clean data when ``t = 0``),
    so applying ``q_step`` for ``t = 0, 1, ..., k`` has the distribution of ``q_sample(x0, k)``.
    """
    ndim = len(ops.shape(x_prev))
    betas = schedule.tensor("betas")
    return ops.sqrt(1.0 - extract(betas, t, ndim)) * x_prev + ops.sqrt(extract(betas, t, ndim)) * noise
