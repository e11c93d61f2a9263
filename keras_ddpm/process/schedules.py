"""Noise schedules of the forward process (Ho et al. 2020, section 2 and 4).

Timesteps are **0-based** throughout the code: index ``t`` in ``0 .. T-1`` is the paper's step
``t + 1``. So ``betas[0]`` is the paper's beta_1, ``alphas_cumprod[t]`` is the paper's
alpha-bar_{t+1}, and ``alphas_cumprod_prev[0] = 1`` is alpha-bar_0 (no noise).

Every quantity is computed once in float64 with NumPy and served as float32 tensors.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from keras_ddpm.utils import checks

SCHEDULES = ("linear", "sigmoid", "cosine")

#: Upper bound on every beta (Nichol & Dhariwal 2021 clip at 0.999 to avoid singularities).
MAX_BETA = 0.999


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """Betas rising linearly from ``beta_start`` to ``beta_end`` (DDPM paper, section 4)."""
    return np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)


def sigmoid_alphas_cumprod(timesteps: int, scale: float = 20.0) -> np.ndarray:
    """alpha-bar from a logistic curve centred on the middle step.

    ``alphas_cumprod[t] = sigmoid(-scale * (t - T/2) / T)`` for ``t = 0 .. T-1``, so it is exactly
    0.5 at ``t = T/2`` (for even ``T``), falls monotonically, and for the default ``scale=20``
    goes from 0.99995 at ``t = 0`` to 4.6e-5 at ``t = T-1``: the same end points as the linear
    schedule, with the largest beta ~ ``scale / T`` (0.02 for T=1000).
    """
    t = np.arange(timesteps, dtype=np.float64)
    z = scale * (t - timesteps / 2.0) / timesteps
    return 1.0 / (1.0 + np.exp(z))


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> np.ndarray:
    """alpha-bar of Nichol & Dhariwal (2021), eq. 17: f(t) / f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2).

    The paper's t runs 1..T; index ``i`` here is paper step ``i + 1``.
    """
    paper_t = np.arange(1, timesteps + 1, dtype=np.float64)
    f = lambda u: np.cos((u / timesteps + s) / (1.0 + s) * math.pi / 2.0) ** 2  # noqa: E731
    return f(paper_t) / f(0.0)


def betas_from_alphas_cumprod(alphas_cumprod: np.ndarray) -> np.ndarray:
    """beta_t = 1 - alpha-bar_t / alpha-bar_{t-1} (with alpha-bar_0 = 1), clipped to (0, 0.999]."""
    prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
    return np.clip(1.0 - alphas_cumprod / prev, 1e-12, MAX_BETA)


@keras.saving.register_keras_serializable(package="keras_ddpm")
class NoiseSchedule:
    """The variance schedule beta_1..beta_T and every quantity derived from it.

    Args:
        kind: ``"linear"`` (DDPM: betas 1e-4 .. 0.02), ``"sigmoid"`` (alpha-bar a logistic curve,
            0.5 at T/2) or ``"cosine"`` (Nichol & Dhariwal 2021).
        timesteps: T, the number of diffusion steps (>= 2).
        beta_start, beta_end: end points of the linear schedule.
        sigmoid_scale: steepness of the sigmoid schedule (see `sigmoid_alphas_cumprod`).

    Attributes (NumPy float64, shape ``(T,)``, 0-based: index ``t`` is the paper's step ``t+1``):
        betas: beta_t.
        alphas: alpha_t = 1 - beta_t.
        alphas_cumprod: alpha-bar_t = prod_{s<=t} alpha_s.
        alphas_cumprod_prev: alpha-bar_{t-1}, with 1.0 at ``t = 0``.
        sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod: the coefficients of q(x_t | x_0), eq. 4.
        sqrt_recip_alphas: 1 / sqrt(alpha_t), used in Algorithm 2.
        eps_coef: beta_t / sqrt(1 - alpha-bar_t), the noise coefficient of Algorithm 2.
        posterior_variance: beta-tilde_t = (1 - alpha-bar_{t-1}) / (1 - alpha-bar_t) beta_t, eq. 7.
        posterior_mean_coef1, posterior_mean_coef2: the x_0 and x_t coefficients of
            mu-tilde_t, eq. 7.

    `tensor(name)` returns any of them as a float32 tensor.
    """

    def __init__(
        self,
        kind: str = "linear",
        timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        sigmoid_scale: float = 20.0,
    ):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; expected one of {', '.join(SCHEDULES)}")
        checks.integer_at_least("timesteps", timesteps, 2)
        if not 0.0 < beta_start <= beta_end <= MAX_BETA:
            raise ValueError(
                f"linear schedule needs 0 < beta_start <= beta_end <= {MAX_BETA}, "
                f"got beta_start={beta_start}, beta_end={beta_end}"
            )
        if not sigmoid_scale > 0:
            raise ValueError(f"sigmoid_scale must be > 0, got {sigmoid_scale}")
        self.kind = kind
        self.timesteps = int(timesteps)
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.sigmoid_scale = float(sigmoid_scale)

        if kind == "linear":
            betas = linear_betas(self.timesteps, self.beta_start, self.beta_end)
        elif kind == "sigmoid":
            betas = betas_from_alphas_cumprod(sigmoid_alphas_cumprod(self.timesteps, self.sigmoid_scale))
        else:
            betas = betas_from_alphas_cumprod(cosine_alphas_cumprod(self.timesteps))

        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.alphas_cumprod_prev = np.concatenate([[1.0], self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas = 1.0 / np.sqrt(self.alphas)
        self.eps_coef = self.betas / self.sqrt_one_minus_alphas_cumprod
        self.posterior_variance = (
            (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod) * self.betas
        )
        self.posterior_mean_coef1 = (
            self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * np.sqrt(self.alphas) / (1.0 - self.alphas_cumprod)
        )
        self._tensors = {}

    def __len__(self) -> int:
        return self.timesteps

    def tensor(self, name: str):
        """The float32 tensor of attribute ``name`` (built once, eagerly, then cached)."""
        if name not in self._tensors:
            with tf.init_scope():  # an eager constant even when first asked for inside a graph
                self._tensors[name] = tf.constant(getattr(self, name), dtype=tf.float32)
        return self._tensors[name]

    def get_config(self) -> dict:
        return {
            "kind": self.kind,
            "timesteps": self.timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "sigmoid_scale": self.sigmoid_scale,
        }

    @classmethod
    def from_config(cls, config: dict) -> "NoiseSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        return f"NoiseSchedule(kind={self.kind!r}, timesteps={self.timesteps})"
