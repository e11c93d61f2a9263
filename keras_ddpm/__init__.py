"""keras-ddpm: denoising diffusion probabilistic models in Keras 3 / TensorFlow.

Timesteps are 0-based everywhere: index ``t`` in ``0 .. T-1`` is the DDPM paper's step ``t + 1``.

The package is one library in layers, each folder importing only the folders below it (see
docs/architecture.md): ``utils`` < ``process``, ``data`` < ``layers`` < ``networks`` < ``samplers``
< ``training`` < ``evaluation``, ``export`` < ``apps`` < ``cli``. Importing the package registers
every serializable layer and model, so any ``.keras`` file it wrote loads with only this import.

Importing it changes no process-wide setting. The CPU tuning the scripts use is an opt-in:
``keras_ddpm_env.tune_cpu()``, called before TensorFlow (and so this package) is imported.
"""

from keras_ddpm.layers import (
    ConditionalDense,
    LearnableSinusoidalEmbedding,
    SinusoidalEmbedding,
)
from keras_ddpm.networks import (
    DenoisingMLP,
    NoiseConditionalScoreNetwork,
    ResidualMLP,
    UNet,
)
from keras_ddpm.process import (
    NoiseSchedule,
    SmallTimestepMixture,
    UniformTimesteps,
    q_sample,
    q_step,
)
from keras_ddpm.samplers import DDIMSampler, DDPMSampler
from keras_ddpm.training import DenoisingScoreMatching, DiffusionModel

__all__ = [
    "ConditionalDense",
    "DDIMSampler",
    "DDPMSampler",
    "DenoisingMLP",
    "DenoisingScoreMatching",
    "DiffusionModel",
    "LearnableSinusoidalEmbedding",
    "NoiseConditionalScoreNetwork",
    "NoiseSchedule",
    "ResidualMLP",
    "SinusoidalEmbedding",
    "SmallTimestepMixture",
    "UNet",
    "UniformTimesteps",
    "q_sample",
    "q_step",
]
__version__ = "0.1.0"
