"""Samplers, all on one compiled step loop (`run_steps`, ``x = step(i, x)`` in a `tf.while_loop`).

- Predictor steps over a timestep sequence, from a noise-prediction network: `DDPMSampler`
  (Ho et al. 2020, Algorithm 2) and `DDIMSampler` (Song, Meng & Ermon 2021, eq. 12), subclasses
  of `Sampler`.
- Corrector steps from a score function: `langevin_dynamics` (Song & Ermon 2019, eq. 4), its
  noiseless variant `score_ascent`, and `annealed_langevin_dynamics` (Song & Ermon 2019,
  Algorithm 1), in `keras_ddpm.samplers.langevin`.
"""

from keras_ddpm.samplers.base import Sampler, initial_noise
from keras_ddpm.samplers.ddim import DDIMSampler, ddim_timesteps
from keras_ddpm.samplers.ddpm import DDPMSampler
from keras_ddpm.samplers.langevin import (
    annealed_langevin_dynamics,
    annealed_step_sizes,
    langevin_dynamics,
    langevin_step,
    score_ascent,
)
from keras_ddpm.samplers.loop import run_steps

__all__ = [
    "Sampler",
    "DDPMSampler",
    "DDIMSampler",
    "ddim_timesteps",
    "initial_noise",
    "run_steps",
    "langevin_step",
    "langevin_dynamics",
    "score_ascent",
    "annealed_langevin_dynamics",
    "annealed_step_sizes",
]
