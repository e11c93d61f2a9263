"""Denoising diffusion implicit models (Song, Meng & Ermon 2021): fewer, optionally deterministic steps."""

from __future__ import annotations

import tensorflow as tf

from keras_ddpm.samplers.base import Sampler, step_noise
from keras_ddpm.utils import checks


def ddim_timesteps(timesteps, num_steps):
    """The DDIM timestep subsequence (0-based), evenly spaced from ``T-1`` down to ``0``.

    ``seq[j] = T - 1 - round(j (T - 1) / (S - 1))`` for ``j = 0 .. S-1`` (``S = num_steps``), so
    ``seq[0] = T - 1`` (sampling starts from pure noise at the last timestep), ``seq[-1] = 0``,
    and consecutive timesteps differ by ``floor`` or ``ceil`` of ``(T - 1) / (S - 1)`` (at least
    1, so the sequence is strictly decreasing for any ``S <= T``). ``S = 1`` is ``[T - 1]``: one
    jump from noise to the predicted x0. ``S = T`` is every timestep, as DDPM.

    The step from ``seq[j]`` goes to ``seq[j + 1]``, the next element of this same sequence (not
    ``t - T // S``, which skips past or misses the sequence when the spacing is not an integer),
    and the step from ``seq[-1] = 0`` goes to x_0 (alpha-bar = 1).

    Graph code: ``timesteps`` and ``num_steps`` may be tensors. Returns int32 ``(S,)``.
    """
    T = tf.cast(timesteps, tf.float64)
    S = tf.cast(num_steps, tf.float64)
    j = tf.range(tf.cast(num_steps, tf.int32), dtype=tf.float64)
    spacing = (T - 1.0) / tf.maximum(S - 1.0, 1.0)
    return tf.cast(T - 1.0 - tf.round(j * spacing), tf.int32)


class DDIMSampler(Sampler):
    """The generalised DDIM update (Song et al. 2021, eq. 12) on an evenly spaced subsequence.

    From timestep ``t`` to the previous timestep ``s`` of the subsequence (alpha-bar written ``a``):

        x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)                      (eq. 9, "predicted x0")
        sigma  = eta * sqrt((1 - a_s) / (1 - a_t)) * sqrt(1 - a_t / a_s)     (eq. 16)
        x_s    = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma^2) eps + sigma z

    ``eta = 0`` is the deterministic DDIM (no noise is drawn); ``eta = 1`` with all ``T`` steps is
    DDPM with the posterior variance (eq. 7's beta-tilde), the same update as
    ``DDPMSampler(variance="posterior")`` and, for the same seed, the same noise z.

    Args:
        schedule: the `NoiseSchedule` the network was trained with.
        num_steps: S, number of network evaluations, 1..T (see `ddim_timesteps`).
        eta: 0 (deterministic) .. 1 (DDPM-like stochasticity).
        clip_x0: ``(low, high)`` to clip the predicted x0 (images in [-1, 1]: ``(-1, 1)``), or
            None. When clipped, eps is recomputed from the clipped x0 so both terms agree.
        jit_compile, chunk_size, prediction: see `Sampler`.
    """

    def __init__(self, schedule, num_steps: int = 50, eta: float = 0.0, clip_x0=None,
                 jit_compile: bool = False, chunk_size: int = 100, prediction: str = "epsilon"):
        super().__init__(schedule, jit_compile=jit_compile, chunk_size=chunk_size, prediction=prediction)
        T = schedule.timesteps
        if not checks.is_integer(num_steps) or not 1 <= num_steps <= T:
            raise ValueError(f"num_steps must be an integer in 1..{T} (T), got {num_steps!r}")
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        if clip_x0 is not None:
            clip_x0 = checks.value_range("clip_x0", clip_x0)
        self.num_steps = int(num_steps)
        self.eta = float(eta)
        self.clip_x0 = clip_x0
        self._alphas_cumprod = tf.constant(schedule.alphas_cumprod, tf.float32)

    def default_params(self):
        return {"num_steps": tf.constant(self.num_steps, tf.int32), "eta": tf.constant(self.eta, tf.float32)}

    def check_params(self, params):
        T = self.schedule.timesteps
        steps, eta = params["num_steps"], params["eta"]
        message = f"num_steps must be in 1..{T} (T) and eta in [0, 1]"
        return [
            tf.debugging.assert_greater_equal(steps, 1, message=message),
            tf.debugging.assert_less_equal(steps, T, message=message),
            tf.debugging.assert_greater_equal(eta, 0.0, message=message),
            tf.debugging.assert_less_equal(eta, 1.0, message=message),
        ]

    def sequence(self, params):
        return ddim_timesteps(self.schedule.timesteps, params["num_steps"])

    def update(self, x, eps, i, seq, seed, params):
        n = tf.shape(seq)[0]
        t = tf.gather(seq, i)
        a_t = tf.gather(self._alphas_cumprod, t)
        # The previous timestep is the next element of the sequence; after timestep 0 comes x_0.
        s = tf.gather(seq, tf.minimum(i + 1, n - 1))
        a_s = tf.where(i + 1 < n, tf.gather(self._alphas_cumprod, s), 1.0)
        x0_hat = (x - tf.sqrt(1.0 - a_t) * eps) / tf.sqrt(a_t)
        if self.clip_x0 is not None:
            x0_hat = tf.clip_by_value(x0_hat, *self.clip_x0)
            eps = (x - tf.sqrt(a_t) * x0_hat) / tf.sqrt(1.0 - a_t)
        eta = params["eta"]
        sigma = eta * tf.sqrt((1.0 - a_s) / (1.0 - a_t) * (1.0 - a_t / a_s))
        x_s = tf.sqrt(a_s) * x0_hat + tf.sqrt(tf.maximum(1.0 - a_s - sigma**2, 0.0)) * eps
        if self._draws_noise(eta):
            x_s = x_s + sigma * step_noise(tf.shape(x), seed, t, x.dtype)
        return x_s

    def _draws_noise(self, eta) -> bool:
        """False only when eta is known to be 0 when the graph is built (then no z is drawn)."""
        value = tf.get_static_value(eta)
        return value is None or float(value) != 0.0
