"""Reverse-process samplers, each a compiled TensorFlow loop over timesteps."""

from keras_ddpm.samplers.base import Sampler
from keras_ddpm.samplers.ddpm import DDPMSampler

__all__ = ["Sampler", "DDPMSampler"]
