"""Presets of the score-based models assignment: the mixture run's model, training and sampler settings.

A `ScorePreset` holds every setting that ``train_score_gmm.py`` exposes as a flag (field names
are the flags' names); a flag given on the command line wins, as in the other applications.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ScorePreset:
    name: str
    description: str
    train_size: int = 200_000  # mixture samples to train on
    batch_size: int = 1024
    lr: float = 2e-3  # peak Adam learning rate, cosine-decayed to 2% of it
    epochs: int = 10  # epochs each model's steps are split into, for the loss log
    hidden_units: tuple = (128, 128, 128)  # the score MLP's hidden layers
    dsm_sigmas: tuple = (1.0, 3.0, 7.0)  # noise levels of the single-level DSM models
    dsm_steps: int = 3000
    sigma_max: float = 20.0  # geometric levels of the noise-conditional network
    sigma_min: float = 1.0
    num_levels: int = 10
    ncsn_steps: int = 6000
    num_samples: int = 4000  # chains per sampler
    init_range: float = 8.0  # chains start uniform on [-R, R]^2
    langevin_step_size: float = 0.1
    langevin_steps: int = 1000
    annealed_step_size: float = 0.1
    steps_per_level: int = 100
    num_trajectories: int = 6
    eval_points: int = 4000


PRESETS = {
    "default": ScorePreset(
        name="default",
        description="three single-level DSM models (sigma 1, 3, 7) and a noise-conditional network on 10 "
                    "geometric levels from 20 to 1, trained on 200,000 mixture samples; 4,000 chains per sampler",
    ),
}

#: The flags a preset fills: every field but the name and description.
PRESET_FIELDS = tuple(f.name for f in fields(ScorePreset) if f.name not in ("name", "description"))
