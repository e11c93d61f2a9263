"""Model presets for 2D point clouds (the bicycle): the assignment's specification and an improved design.

A `Preset` names the network and the training hyper-parameters that go with it. Command-line
flags of ``train_bicycle.py`` override single values (``--epochs``, ``--lr``, ...).

- ``assignment``: exactly the specification. `DenoisingMLP`: four conditional dense blocks
  (128, 128, 128, 2) on the learnable sinusoidal time embedding 50 -> 128 -> 128; Adam 1e-4,
  batch 64, linear schedule, T = 1000.
- ``improved``: `ResidualMLP`, random Fourier features of x_t and pre-norm residual blocks, batch
  256 with Adam 1e-3 decayed linearly to 0, 30% of the training timesteps drawn from the 20
  smallest (`DiffusionModel` ``small_t_fraction``), and Algorithm 2's sigma_t^2 = beta_t. The
  first choices were kept because they improved the sample metrics in short A/B runs (80 epochs,
  one CPU core, 5,000 samples against 5,047 held-out points; precision floor 0.983, sliced-W1
  floor 0.0106):

  ==========================================  =========  =========  =========
  change (from the row above unless noted)    precision  sliced W1  MMD²
  ==========================================  =========  =========  =========
  no Fourier features, constant lr, 71 ep     0.461      0.0289     0.0074
  + Fourier features (scale 4)                0.685      0.0260     0.0024
  + linear lr decay to 0 (80 ep)              0.738      0.0109     0.0012
  + posterior variance in sampling            0.765      0.0109     0.0012
  Fourier scale 2 instead of 4                0.772      0.0102     0.0007
  ==========================================  =========  =========  =========

  Then, in full 900-epoch runs (~8 min of training; 20,000 samples against the same held-out
  points; floors: precision 0.984, recall 0.990, sliced W1 0.0086): partial diffusion of real
  points showed that *all* of the precision gap opened in the last ~10 reverse steps (starting
  from t0 = 10 gave the same precision, 0.948, as sampling from t = T), so the small-t denoiser
  was the weak part, and it is trained on only 2% of the examples with uniform t:

  ==========================================  =========  =========  =========
  full run, 900 epochs                        precision  recall     sliced W1
  ==========================================  =========  =========  =========
  uniform t, posterior variance               0.942      0.970      0.0075
  30% of t from 0..19, posterior variance     0.984      0.931      0.0081
  30% of t from 0..19, sigma_t^2 = beta_t     0.979      0.957      0.0082
  ==========================================  =========  =========  =========

  The last two rows are one model sampled both ways: the sharper model with the smaller posterior
  variance lost recall (thin parts drawn too thin), the larger beta_t gives it back.

  Tried and dropped: EMA 0.999 instead of the decay (0.716, 0.0137), batch 1024 with lr 2e-3
  (0.755, 0.0142), Fourier scale 16 (0.489, 0.0157) and 1 (0.729, 0.0104), width 256 at the same
  wall time (0.727, 0.0100; 2.9x the parameters, no better).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from keras_ddpm.networks.mlp import DenoisingMLP
from keras_ddpm.networks.residual_mlp import ResidualMLP

NETWORKS = {"DenoisingMLP": DenoisingMLP, "ResidualMLP": ResidualMLP}


@dataclass(frozen=True)
class Preset:
    """A network and its training hyper-parameters."""

    name: str
    description: str
    network: str  # a key of NETWORKS
    network_kwargs: dict = field(default_factory=dict)
    epochs: int = 400
    batch_size: int = 64
    learning_rate: float = 1e-4
    lr_decay: str = "constant"
    ema_momentum: float = 0.0
    schedule: str = "linear"
    timesteps: int = 1000
    variance: str = "beta"  # Algorithm 2's sigma_t^2: "beta" or "posterior"
    small_t_fraction: float = 0.0  # DiffusionModel: share of t drawn from the first small_t_steps
    small_t_steps: int = 0

    def build_network(self, data_dim: int = 2, seed: int = 0) -> keras.Model:
        """A fresh, unbuilt network for ``data_dim``-dimensional points."""
        kwargs = dict(self.network_kwargs)
        if self.network == "ResidualMLP":
            kwargs.setdefault("seed", seed)  # the fixed Fourier matrix follows the run's seed
        return NETWORKS[self.network](data_dim=data_dim, **kwargs)

    def training_summary(self) -> dict:
        """The hyper-parameters as a flat dict (for reports)."""
        return {"network": self.network, **self.network_kwargs, "epochs": self.epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "lr_decay": self.lr_decay, "ema_momentum": self.ema_momentum,
                "schedule": self.schedule, "timesteps": self.timesteps, "variance": self.variance,
                "small_t_fraction": self.small_t_fraction, "small_t_steps": self.small_t_steps}


PRESETS = {
    "assignment": Preset(
        name="assignment",
        description="the assignment's specification: DenoisingMLP (4 conditional dense blocks of 128, "
                    "learnable sinusoidal embedding 50 -> 128 -> 128), Adam 1e-4, batch 64",
        network="DenoisingMLP",
        epochs=400, batch_size=64, learning_rate=1e-4,
    ),
    "improved": Preset(
        name="improved",
        description="ResidualMLP: random Fourier features of x_t (64 frequencies, scale 2), 3 pre-norm residual "
                    "blocks of width 128 (SiLU, LayerNorm), Adam 1e-3 decayed linearly to 0, batch 256, "
                    "30% of training t from the 20 smallest, sigma_t^2 = beta_t",
        network="ResidualMLP",
        network_kwargs={"width": 128, "num_blocks": 3, "fourier_frequencies": 64, "fourier_scale": 2.0},
        # 900 epochs: ~8 minutes of training with fused steps on the 2-core CPU, where it met the
        # quality targets of issue 4 (precision and recall within 0.05 of their floors, sliced W1
        # below 1.5x its floor); 200 epochs gave precision ~0.85.
        epochs=900, batch_size=256, learning_rate=1e-3, lr_decay="linear", variance="beta",
        small_t_fraction=0.3, small_t_steps=20,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; `ValueError` naming the choices otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
