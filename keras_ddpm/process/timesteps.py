"""Distributions of the training timesteps ``t`` of Algorithm 1 (Ho et al. 2020).

Algorithm 1 draws ``t ~ Uniform{1..T}`` (here 0-based: ``Uniform{0..T-1}``, index ``t`` is the
paper's step ``t + 1``). Drawing ``t`` from another distribution ``p(t)`` is, in expectation, the
eq. 14 loss weighted by ``T p(t)``: another choice of the per-timestep weights that the "simple"
loss already makes (section 3.4). The distribution is an object passed to `DiffusionModel`, as
improved-diffusion's ``ScheduleSampler`` is passed to its training loop:

- `UniformTimesteps`: Algorithm 1 exactly.
- `SmallTimestepMixture`: with probability ``fraction`` from the ``steps`` smallest timesteps,
  else uniform: ``p(t) = (1 - f)/T + f/S [t < S]``. It trains the last reverse steps, where the
  noise is as fine as the finest details of the data, on more examples.

Each distribution draws its numbers from a `keras.random.SeedGenerator` inside the compiled
training step (`keras_ddpm.process.rng`), has `probabilities` for checking it against a
histogram, and is serializable (`get_config`), so a saved `DiffusionModel` keeps it.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from keras_ddpm.process import rng
from keras_ddpm.utils import checks


class TimestepDistribution:
    """The distribution ``p(t)`` over the 0-based timesteps ``0..T-1`` that training draws from."""

    def check(self, timesteps: int) -> "TimestepDistribution":
        """Raise `ValueError` if the distribution does not fit a schedule of ``timesteps`` steps."""
        checks.integer_at_least("timesteps", timesteps, 1)
        return self

    def sample(self, batch, timesteps: int, seed_generator) -> "keras.KerasTensor":
        """``(batch,)`` int32 timesteps, drawn with ``seed_generator``."""
        raise NotImplementedError

    def probabilities(self, timesteps: int) -> np.ndarray:
        """``p(t)`` for ``t = 0..T-1``, a float64 array that sums to 1."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="keras_ddpm")
class UniformTimesteps(TimestepDistribution):
    """``t ~ Uniform{0..T-1}``: Algorithm 1's draw."""

    def sample(self, batch, timesteps, seed_generator):
        return rng.randint((batch,), 0, timesteps, seed_generator)

    def probabilities(self, timesteps):
        self.check(timesteps)
        return np.full(timesteps, 1.0 / timesteps)


@keras.saving.register_keras_serializable(package="keras_ddpm")
class SmallTimestepMixture(TimestepDistribution):
    """``t`` from ``Uniform{0..steps-1}`` with probability ``fraction``, else ``Uniform{0..T-1}``.

    ``p(t) = (1 - f)/T + f/S [t < S]`` with ``f = fraction``, ``S = steps``.

    Args:
        fraction: ``f`` in ``[0, 1)``; 0 draws exactly as `UniformTimesteps` does (but spends
            two more draws of the generator per batch).
        steps: ``S``, the number of smallest timesteps (0-based ``0..S-1``); an integer in
            ``1..T``, checked against the schedule's T by `check` (which `DiffusionModel` calls).
    """

    def __init__(self, fraction: float, steps: int):
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 <= fraction < 1.0:
            raise ValueError(f"small_t_fraction must be in [0, 1), got {fraction!r}")
        self.fraction = float(fraction)
        self.steps = int(steps) if checks.is_integer(steps) else steps  # checked against T by `check`

    def check(self, timesteps):
        super().check(timesteps)
        if not checks.is_integer(self.steps) or not 1 <= self.steps <= timesteps:
            raise ValueError(f"small_t_steps must be an integer in 1..{timesteps} (T), got {self.steps}")
        return self

    def sample(self, batch, timesteps, seed_generator):
        t = rng.randint((batch,), 0, timesteps, seed_generator)
        small = rng.randint((batch,), 0, self.steps, seed_generator)
        pick = rng.uniform((batch,), seed_generator) < self.fraction
        return ops.where(pick, small, t)

    def probabilities(self, timesteps):
        self.check(timesteps)
        p = np.full(timesteps, (1.0 - self.fraction) / timesteps)
        p[: self.steps] += self.fraction / self.steps
        return p

    def get_config(self):
        return {"fraction": self.fraction, "steps": self.steps}


def timestep_distribution(small_t_fraction: float = 0.0, small_t_steps: int = 0) -> TimestepDistribution:
    """`UniformTimesteps` for ``small_t_fraction == 0``, else `SmallTimestepMixture` (the flags
    ``--small-t-fraction`` and ``--small-t-steps`` of the scripts and presets)."""
    if small_t_fraction == 0:
        return UniformTimesteps()
    return SmallTimestepMixture(small_t_fraction, small_t_steps)
