"""Score-based generative modelling on a Gaussian mixture (issue 6).

- `GaussianMixture` (`gmm`): sampling, log-density and the analytic score, also of the noised
  mixture ``p_sigma`` (covariances + sigma^2 I); recovered weights / means / covariances.
- `dsm_loss`, `DenoisingScoreMatching`, `train_dsm` (`dsm`): denoising score matching (Vincent 2011;
  Song & Ermon 2019 for several levels).
- `NoiseConditionalScoreNetwork` (`network`): ``s_theta(x, sigma)``.
- `score_ascent`, `langevin_dynamics`, `annealed_langevin_dynamics` (`langevin`): compiled samplers.
- `geometric_sigmas` (`noise_levels`), `relative_score_error` (`evaluation`), figures (`plots`).
"""

from keras_ddpm.score.dsm import DenoisingScoreMatching, dsm_loss, train_dsm
from keras_ddpm.score.evaluation import relative_score_error, score_error_against_mixture
from keras_ddpm.score.gmm import GaussianMixture
from keras_ddpm.score.langevin import (
    annealed_langevin_dynamics,
    annealed_step_sizes,
    langevin_dynamics,
    score_ascent,
)
from keras_ddpm.score.network import NoiseConditionalScoreNetwork
from keras_ddpm.score.noise_levels import geometric_sigmas

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
