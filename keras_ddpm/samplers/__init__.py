"""Reverse-process samplers, each a compiled TensorFlow loop over timesteps."""

from keras_ddpm.samplers.base import Sampler, initial_noise
from keras_ddpm.samplers.ddim import DDIMSampler, ddim_timesteps
from keras_ddpm.samplers.ddpm import DDPMSampler

__all__ = ["Sampler", "DDPMSampler", "DDIMSampler", "ddim_timesteps", "initial_noise"]
