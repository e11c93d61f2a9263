"""Ancestral sampling of DDPM (Ho et al. 2020, Algorithm 2)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ddpm.samplers.base import Sampler, initial_noise, step_noise

VARIANCES = ("beta", "posterior")


class DDPMSampler(Sampler):
    """Algorithm 2: ``x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha-bar_t) eps_theta(x_t, t)) + sigma_t z``.

    0-based timesteps: the loop visits ``t = T-1, ..., 0``; ``x`` entering step ``t`` is the
    paper's x_{t+1}, and the step at ``t = 0`` adds no noise (the paper's "z = 0 if t = 1").

    Args:
        schedule: the `NoiseSchedule` the network was trained with.
        variance: ``"beta"`` for sigma_t^2 = beta_t (the default, as in the assignment) or
            ``"posterior"`` for sigma_t^2 = beta-tilde_t, the posterior variance of eq. 7. The DDPM
            paper (section 3.2) reports both give similar results.
        jit_compile, chunk_size: see `Sampler`.
    """

    def __init__(self, schedule, variance: str = "beta", jit_compile: bool = False, chunk_size: int = 100):
        super().__init__(schedule, jit_compile=jit_compile, chunk_size=chunk_size)
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)}")
        self.variance = variance
        T = schedule.timesteps
        sigma = np.sqrt(schedule.betas if variance == "beta" else schedule.posterior_variance)
        sigma[0] = 0.0  # no noise on the last step (paper step t = 1)
        # Per-position coefficients; position i is timestep T-1-i.
        self._seq = np.arange(T - 1, -1, -1, dtype=np.int32)
        self._sqrt_recip_alphas = tf.constant(schedule.sqrt_recip_alphas[self._seq], tf.float32)
        self._eps_coef = tf.constant(schedule.eps_coef[self._seq], tf.float32)
        self._sigma = tf.constant(sigma[self._seq], tf.float32)

    @property
    def timestep_sequence(self) -> np.ndarray:
        return self._seq

    def update(self, x, eps, i, seed):
        t = tf.gather(self._seq, i)
        mean = tf.gather(self._sqrt_recip_alphas, i) * (x - tf.gather(self._eps_coef, i) * eps)
        return mean + tf.gather(self._sigma, i) * step_noise(tf.shape(x), seed, t, x.dtype)

    # -- public API ------------------------------------------------------------------------------
    def sample(self, network, shape, seed: int = 0, trajectory_steps=(), progress: int | bool = False):
        """Draw ``shape[0]`` samples from x_T ~ N(0, I).

        Args:
            network: eps_theta, called as ``network([x_t, t])`` (or through its
                ``embed_time``/``denoise`` halves when it has them).
            shape: ``(num_samples, *data_shape)``.
            seed: the same seed gives the same samples.
            trajectory_steps: 0-based timesteps ``t`` at which to keep the state entering the
                step at ``t`` (x_T is ``t = T-1``).
            progress: 1/True: a Keras progress bar; 2: one line when done; 0/False: silent.

        Returns:
            ``x0`` (NumPy) or, when ``trajectory_steps`` is given, ``(x0, {t: x_t})``.
        """
        shape = _validate_shape(shape)
        x_T = initial_noise(shape, seed)
        return self._run_from(network, x_T, self.schedule.timesteps - 1, seed, trajectory_steps, progress)

    def denoise_from(self, network, x_t, t_start: int, seed: int = 0, trajectory_steps=(), progress=False):
        """Run the reverse process from a given state ``x_t`` at 0-based timestep ``t_start``.

        With ``x_t = q_sample(x0, t_start, eps)`` this is partial diffusion (SDEdit, Meng et al. 2022).
        """
        T = self.schedule.timesteps
        if isinstance(t_start, bool) or int(t_start) != t_start or not 0 <= t_start < T:
            raise ValueError(f"t_start must be an integer in 0..{T - 1}, got {t_start!r}")
        return self._run_from(network, x_t, int(t_start), seed, trajectory_steps, progress)

    def _run_from(self, network, x, t_start, seed, trajectory_steps, progress):
        T = self.schedule.timesteps
        steps = [int(t) for t in trajectory_steps]
        bad = [t for t in steps if not 0 <= t <= t_start]
        if bad:
            raise ValueError(f"trajectory steps must be in 0..{t_start}, got {bad}")
        x0, recorded = self.run(
            network, x, seed=seed, start=T - 1 - t_start, record=[T - 1 - t for t in steps], progress=progress
        )
        if not steps:
            return x0
        return x0, {T - 1 - p: v for p, v in sorted(recorded.items())}


def _validate_shape(shape):
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise ValueError(f"shape must be (num_samples, *data_shape) with positive sizes, got {shape}")
    return shape
