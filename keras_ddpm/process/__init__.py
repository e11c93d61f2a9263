"""Layer 1, the diffusion process: math only (no `keras.Model`, no files, no plots).

- `schedules`: `NoiseSchedule`, betas and everything derived from them (Ho et al. 2020, section 2).
- `forward`: q(x_t | x_0) in closed form (eq. 4) and one forward step.
- `parameterization`: what the network predicts (eps or v) and the conversions between eps, v
  and x_0; min-SNR loss weights.
- `noise_levels`: the geometric sigmas of noise-conditional score models (Song & Ermon 2019).
- `timesteps`: the distribution of the training timesteps (`UniformTimesteps`: Algorithm 1;
  `SmallTimestepMixture`).
- `rng`: the random draws of compiled training steps.
"""

from keras_ddpm.process.forward import extract, q_sample, q_step
from keras_ddpm.process.noise_levels import geometric_sigmas
from keras_ddpm.process.parameterization import PREDICTIONS, min_snr_weights, training_target
from keras_ddpm.process.schedules import NoiseSchedule
from keras_ddpm.process.timesteps import (
    SmallTimestepMixture,
    TimestepDistribution,
    UniformTimesteps,
    timestep_distribution,
)

__all__ = [
    "NoiseSchedule",
    "PREDICTIONS",
    "SmallTimestepMixture",
    "TimestepDistribution",
    "UniformTimesteps",
    "extract",
    "geometric_sigmas",
    "min_snr_weights",
    "q_sample",
    "q_step",
    "timestep_distribution",
    "training_target",
]
