"""Layer 2b, the networks: eps_theta(x_t, t) for DDPM and s_theta(x, sigma) for score models.

Each maps ``[x_t, t]`` (``t``: ``(batch,)`` 0-based integer timesteps) to a tensor shaped like
``x_t``. Networks may also expose the two halves of that call, which lets samplers compute the
time embedding of every timestep once instead of once per step:

- ``embed_time(t)``: the time conditioning for timesteps ``t`` (batch may be 1);
- ``denoise(x_t, embedding)``: the rest of the network.
"""

from keras_ddpm.networks.mlp import DenoisingMLP
from keras_ddpm.networks.residual_mlp import ResidualMLP
from keras_ddpm.networks.score_network import NoiseConditionalScoreNetwork
from keras_ddpm.networks.unet import UNet

__all__ = ["DenoisingMLP", "NoiseConditionalScoreNetwork", "ResidualMLP", "UNet"]
