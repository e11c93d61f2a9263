"""Layer 4, training: the `keras.Model`s that train a network, and everything around `fit`.

- `denoising_model`: `DenoisingModel`, the base both share: a denoising loss, one gradient step.
- `diffusion_model`: `DiffusionModel`, DDPM's Algorithm 1 as a ``train_step``.
- `score_matching`: `DenoisingScoreMatching`, denoising score matching for score networks.
- `loop`: `TrainConfig`, `compile_model` and `train` (``fit`` with the standard callbacks).
- `callbacks`, `checkpoints`: periodic checkpoints, plots, validation loss per timestep bin,
  atomic resume backups, the NaN stop.
- `run_folder`: one run per output folder, resume only with the same settings.
- `distribute`: `tf.distribute` strategies by name.
"""

from keras_ddpm.training.denoising_model import DenoisingModel
from keras_ddpm.training.diffusion_model import DiffusionModel
from keras_ddpm.training.score_matching import DenoisingScoreMatching

__all__ = ["DenoisingModel", "DenoisingScoreMatching", "DiffusionModel"]
