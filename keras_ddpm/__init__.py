"""keras-ddpm: denoising diffusion probabilistic models in Keras 3 / TensorFlow.

Timesteps are 0-based everywhere: index ``t`` in ``0 .. T-1`` is the DDPM paper's step ``t + 1``.
"""

from keras_ddpm import _env  # noqa: F401  (must run before TensorFlow is imported)
from keras_ddpm.diffusion import DiffusionModel
from keras_ddpm.forward import q_sample, q_step
from keras_ddpm.layers import ConditionalDense, LearnableSinusoidalEmbedding, SinusoidalEmbedding
from keras_ddpm.networks import DenoisingMLP
from keras_ddpm.samplers import DDIMSampler, DDPMSampler
from keras_ddpm.schedules import NoiseSchedule

__all__ = [
    "ConditionalDense",
    "DDIMSampler",
    "DDPMSampler",
    "DenoisingMLP",
    "DiffusionModel",
    "LearnableSinusoidalEmbedding",
    "NoiseSchedule",
    "SinusoidalEmbedding",
    "q_sample",
    "q_step",
]
__version__ = "0.1.0"
