"""The score-based models assignment: score matching and Langevin sampling on a Gaussian mixture.

This application's own modules:

- `mixture`: `GaussianMixture`, sampling, log-density and the analytic score, also of the noised
  mixture ``p_sigma`` (covariances + sigma^2 I); recovered weights / means / covariances.
- `evaluation`: `relative_score_error`, a learned score against the analytic one.
- `plots`: density heatmaps, score fields, trajectories.

Re-exported from the library, for one import in the script: `DenoisingScoreMatching`,
`dsm_loss`, `train_dsm` (`keras_ddpm.training.score_matching`), `NoiseConditionalScoreNetwork`
(`keras_ddpm.networks.score_network`), the Langevin samplers (`keras_ddpm.samplers.langevin`) and
`geometric_sigmas` (`keras_ddpm.process.noise_levels`).
"""

from keras_ddpm.apps.gmm.evaluation import (
    relative_score_error,
    score_error_against_mixture,
)
from keras_ddpm.apps.gmm.mixture import GaussianMixture
from keras_ddpm.networks.score_network import NoiseConditionalScoreNetwork
from keras_ddpm.process.noise_levels import geometric_sigmas
from keras_ddpm.samplers.langevin import (
    annealed_langevin_dynamics,
    annealed_step_sizes,
    langevin_dynamics,
    score_ascent,
)
from keras_ddpm.training.score_matching import (
    DenoisingScoreMatching,
    dsm_loss,
    train_dsm,
)

__all__ = [
    "DenoisingScoreMatching",
    "GaussianMixture",
    "NoiseConditionalScoreNetwork",
    "annealed_langevin_dynamics",
    "annealed_step_sizes",
    "dsm_loss",
    "geometric_sigmas",
    "langevin_dynamics",
    "relative_score_error",
    "score_ascent",
    "score_error_against_mixture",
    "train_dsm",
]
