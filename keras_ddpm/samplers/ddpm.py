"""Ancestral sampling of DDPM (Ho et al. 2020, Algorithm 2)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ddpm.samplers.base import Sampler, step_noise
from keras_ddpm.utils import checks

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
        clip_x0: ``(low, high)``, or None (the default: Algorithm 2 as written). When given, the
            mean is the posterior mean of eq. 7 around the predicted x0 clipped to that range,
            ``mu = posterior_mean_coef1 * clip(x0_hat) + posterior_mean_coef2 * x_t`` with
            ``x0_hat = (x_t - sqrt(1 - alpha-bar_t) eps) / sqrt(alpha-bar_t)`` (eq. 15), as the DDPM
            authors' image code samples (``clip_denoised``). Unclipped, that mean is Algorithm 2's.
            For images in [-1, 1] use ``(-1, 1)``: with a schedule whose last beta is near 1 (the
            cosine schedule) Algorithm 2 divides the first step's error by sqrt(alpha_t) ~ 0.03.
        jit_compile, chunk_size, prediction: see `Sampler`.
    """

    def __init__(self, schedule, variance: str = "beta", clip_x0=None, jit_compile: bool = False,
                 chunk_size: int = 100, prediction: str = "epsilon"):
        super().__init__(schedule, jit_compile=jit_compile, chunk_size=chunk_size, prediction=prediction)
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; expected one of {', '.join(VARIANCES)}")
        self.variance = variance
        self.clip_x0 = checks.value_range("clip_x0", clip_x0) if clip_x0 is not None else None
        self._sqrt_alphas_cumprod = tf.constant(schedule.sqrt_alphas_cumprod, tf.float32)
        self._sqrt_one_minus_alphas_cumprod = tf.constant(schedule.sqrt_one_minus_alphas_cumprod, tf.float32)
        self._posterior_mean_coef1 = tf.constant(schedule.posterior_mean_coef1, tf.float32)
        self._posterior_mean_coef2 = tf.constant(schedule.posterior_mean_coef2, tf.float32)
        sigma = np.sqrt(schedule.betas if variance == "beta" else schedule.posterior_variance)
        sigma[0] = 0.0  # no noise on the last step (paper step t = 1)
        # Indexed by 0-based timestep t.
        self._sqrt_recip_alphas = tf.constant(schedule.sqrt_recip_alphas, tf.float32)
        self._eps_coef = tf.constant(schedule.eps_coef, tf.float32)
        self._sigma = tf.constant(sigma, tf.float32)

    def sequence(self, params):
        return tf.range(self.schedule.timesteps - 1, -1, -1, dtype=tf.int32)

    def update(self, x, eps, i, seq, seed, params):
        t = tf.gather(seq, i)
        if self.clip_x0 is None:
            mean = tf.gather(self._sqrt_recip_alphas, t) * (x - tf.gather(self._eps_coef, t) * eps)
        else:
            x0_hat = (x - tf.gather(self._sqrt_one_minus_alphas_cumprod, t) * eps) / tf.gather(self._sqrt_alphas_cumprod, t)
            x0_hat = tf.clip_by_value(x0_hat, *self.clip_x0)
            mean = tf.gather(self._posterior_mean_coef1, t) * x0_hat + tf.gather(self._posterior_mean_coef2, t) * x
        return mean + tf.gather(self._sigma, t) * step_noise(tf.shape(x), seed, t, x.dtype)

    # -- partial diffusion -----------------------------------------------------------------------
    def denoise_from(self, network, x_t, t_start: int, seed: int = 0, labels=None, guidance_scale=1.0,
                     trajectory_steps=(), progress=False):
        """Run the reverse process from a given state ``x_t`` at 0-based timestep ``t_start``.

        With ``x_t = q_sample(x0, t_start, eps)`` this is partial diffusion (SDEdit, Meng et al.
        2022): the step at ``t_start`` is the first one applied, and ``t_start = 0`` is one final
        noiseless step. Returns like `sample`.
        """
        T = self.schedule.timesteps
        if not checks.is_integer(t_start) or not 0 <= t_start < T:
            raise ValueError(f"t_start must be an integer in 0..{T - 1}, got {t_start!r}")
        return self._run_from_position(network, x_t, T - 1 - int(t_start), seed, labels, guidance_scale,
                                       trajectory_steps, progress)

    def generate_from(self, network, x_t, t_start, seed, labels=None, guidance_scale=1.0):
        """Graph-code `denoise_from`: every argument may be a tensor; ``t_start`` checked in-graph."""
        T = self.schedule.timesteps
        t_start = tf.cast(t_start, tf.int32)
        check = tf.debugging.assert_less(
            t_start, T, message=f"t_start must be in 0..{T - 1}")
        check2 = tf.debugging.assert_non_negative(t_start, message=f"t_start must be in 0..{T - 1}")
        with tf.control_dependencies([check, check2]):
            t_start = tf.identity(t_start)
            x = tf.identity(tf.convert_to_tensor(x_t, tf.float32))
        return self._loop(network, x, T - 1 - t_start, tf.constant(T), seed, labels, guidance_scale, {})
