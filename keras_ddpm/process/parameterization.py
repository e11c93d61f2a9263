"""What the denoiser predicts, and the per-timestep loss weights of Algorithm 1.

Writing ``a_t`` for alpha-bar_t (0-based ``t``), ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps`` (eq. 4
of Ho et al. 2020). A network can be trained to predict

- ``"epsilon"``: the noise eps (Ho et al. 2020, eq. 14; the assignment's choice), or
- ``"v"``: the velocity ``v = sqrt(a_t) eps - sqrt(1 - a_t) x_0`` (Salimans & Ho 2022, section 4
  and appendix D).

Each determines the other and x_0 given ``x_t``:

    eps = sqrt(a_t) v + sqrt(1 - a_t) x_t          x_0 = sqrt(a_t) x_t - sqrt(1 - a_t) v
    x_0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)    (eq. 15; undefined where a_t = 0)

Where the signal-to-noise ratio ``SNR_t = a_t / (1 - a_t)`` is ~0 (the last steps of the cosine
schedule), the eps target is ~``x_t`` itself and teaches the network nothing about x_0, while
dividing by ``sqrt(a_t)`` to get x_0 multiplies the network's error by up to 1/sqrt(a_t); the v
target stays informative and well-scaled at every t (Lin et al. 2024, section 3.2).

Min-SNR-gamma weighting (Hang et al. 2023, eq. 8 and 9) weights the per-example loss so that each
timestep's loss counts as a loss on x_0 with weight ``min(SNR_t, gamma)``: the small-noise
timesteps, which are easy and dominate the gradients, stop crowding out the rest. In terms of
the target predicted, the weight is ``min(SNR_t, gamma) / SNR_t`` for eps and
``min(SNR_t, gamma) / (SNR_t + 1)`` for v.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_ddpm.process.forward import extract
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.utils import checks

PREDICTIONS = ("epsilon", "v")


def check_prediction(prediction: str) -> str:
    """``prediction`` if it is one of `PREDICTIONS`; `ValueError` naming them otherwise."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}; expected one of {', '.join(PREDICTIONS)}")
    return prediction


def _coefficients(schedule: NoiseSchedule, t, ndim: int):
    return (extract(schedule.tensor("sqrt_alphas_cumprod"), t, ndim),
            extract(schedule.tensor("sqrt_one_minus_alphas_cumprod"), t, ndim))


def training_target(schedule: NoiseSchedule, prediction: str, x0, t, noise):
    """What the network is trained to output for ``x_t = q_sample(x0, t, noise)``: ``noise`` for
    ``"epsilon"``, ``v = sqrt(a_t) noise - sqrt(1 - a_t) x0`` for ``"v"``."""
    if check_prediction(prediction) == "epsilon":
        return noise
    sqrt_a, sqrt_1ma = _coefficients(schedule, t, len(x0.shape))
    return sqrt_a * noise - sqrt_1ma * x0


def eps_from_prediction(schedule: NoiseSchedule, prediction: str, x_t, t, output):
    """The noise eps implied by the network's ``output`` at ``x_t`` (``t`` per example, or one
    scalar timestep for the whole batch)."""
    if check_prediction(prediction) == "epsilon":
        return output
    sqrt_a, sqrt_1ma = _coefficients(schedule, t, len(x_t.shape))
    return sqrt_a * output + sqrt_1ma * x_t


def x0_from_prediction(schedule: NoiseSchedule, prediction: str, x_t, t, output):
    """The x_0 implied by the network's ``output`` at ``x_t``: eq. 15 for eps, exact for v."""
    sqrt_a, sqrt_1ma = _coefficients(schedule, t, len(x_t.shape))
    if check_prediction(prediction) == "epsilon":
        return (x_t - sqrt_1ma * output) / sqrt_a
    return sqrt_a * x_t - sqrt_1ma * output


def snr(schedule: NoiseSchedule) -> np.ndarray:
    """``SNR_t = alpha-bar_t / (1 - alpha-bar_t)`` for ``t = 0 .. T-1`` (float64)."""
    a = schedule.alphas_cumprod
    return a / (1.0 - a)


def min_snr_weights(schedule: NoiseSchedule, prediction: str, gamma: float) -> np.ndarray:
    """Min-SNR-gamma loss weights per 0-based timestep (Hang et al. 2023): ``min(SNR_t, gamma) / SNR_t``
    for an eps-predicting network, ``min(SNR_t, gamma) / (SNR_t + 1)`` for a v-predicting one."""
    gamma = checks.positive_float("the min-SNR gamma", gamma)
    ratio = snr(schedule)
    clipped = np.minimum(ratio, gamma)
    return clipped / (ratio if check_prediction(prediction) == "epsilon" else ratio + 1.0)


def loss_weights(schedule: NoiseSchedule, prediction: str, min_snr_gamma: float):
    """`min_snr_weights` as a ``(T,)`` float32 tensor, to gather a weight per training example."""
    return ops.convert_to_tensor(min_snr_weights(schedule, prediction, min_snr_gamma).astype(np.float32))
