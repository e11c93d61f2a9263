"""Denoising score matching (Vincent 2011), for one noise level or several (Song & Ermon 2019).

Score matching (Hyvarinen 2005) fits ``s_theta(x) ~ grad_x log p(x)``. Its denoising form (Vincent
2011, eq. 7 / section 4.2) perturbs the data, ``x~ = x + eps`` with ``eps ~ N(0, sigma^2 I)``, and
regresses onto the score of the perturbation kernel, ``grad log q_sigma(x~ | x) = -eps / sigma^2``:

    l(theta; sigma) = 1/2 E_{x ~ p, eps} || s_theta(x~, sigma) + eps / sigma^2 ||^2,

whose minimiser is the score of the *noised* density ``p_sigma = p * N(0, sigma^2 I)``. Song & Ermon
2019 (eqs. 5-6) train one network for all levels ``{sigma_i}`` with the weighting
``lambda(sigma) = sigma^2``, which makes every level's loss O(1):

    L(theta) = 1/L sum_i sigma_i^2 l(theta; sigma_i) = 1/2 E || sigma s_theta(x~, sigma) + eps / sigma ||^2.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ddpm.training.denoising_model import DenoisingModel
from keras_ddpm.utils import checks

WEIGHTINGS = ("none", "sigma2")


def _check_weighting(weighting: str) -> str:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return weighting


def dsm_loss(score, noise, sigma, weighting: str = "none"):
    """The denoising score matching loss above, averaged over the batch.

    Args:
        score: ``s_theta(x~, sigma)`` ``(batch, D)``.
        noise: the perturbation ``eps = x~ - x`` ``(batch, D)``, drawn from ``N(0, sigma^2 I)``
            (not standardised).
        sigma: the noise level, a scalar or one per example ``(batch,)``.
        weighting: ``"none"``: ``1/2 ||s + eps / sigma^2||^2`` (Vincent 2011); ``"sigma2"``: times
            ``sigma^2`` per example, ``1/2 ||sigma s + eps / sigma||^2`` (Song & Ermon 2019).
    """
    _check_weighting(weighting)
    score = ops.convert_to_tensor(score)
    sigma = ops.reshape(ops.cast(sigma, score.dtype), (-1, 1))
    noise = ops.cast(noise, score.dtype)
    if weighting == "none":
        residual = score + noise / ops.square(sigma)
    else:
        residual = sigma * score + noise / sigma
    return 0.5 * ops.mean(ops.sum(ops.square(residual), axis=-1))


@keras.saving.register_keras_serializable(package="keras_ddpm")
class DenoisingScoreMatching(DenoisingModel):
    """Trains a score network by denoising score matching; `fit` it on batches of clean data.

    Each `train_step` draws one level per example uniformly from ``sigmas`` (Song & Ermon 2019,
    section 4.2; a single level gives Vincent 2011's DSM at that ``sigma``), ``eps ~ N(0, sigma^2 I)``,
    and takes a gradient step on `dsm_loss` of ``score_network([x + eps, sigma])`` (the step itself,
    shared with `DiffusionModel`, is `DenoisingModel`'s).

    Args:
        score_network: a model called as ``[x~, sigma]`` (e.g. `NoiseConditionalScoreNetwork`).
        sigmas: the noise levels (each > 0).
        weighting: ``"sigma2"`` (default; ``lambda(sigma) = sigma^2``) or ``"none"``.
        seed: int seed of the `keras.random.SeedGenerator` drawing levels and noise.
    """

    def __init__(self, score_network, sigmas, weighting: str = "sigma2", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.score_network = score_network
        self.sigmas = [float(s) for s in checks.sigma_sequence("sigmas", sigmas)]
        self.weighting = _check_weighting(weighting)
        self.seed = None if seed is None else checks.integer("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    predict_hint = ("evaluate the score with model.score_network.predict([x, sigma]), or sample with "
                    "keras_ddpm.samplers.annealed_langevin_dynamics(model.score_network.score, x_init, sigmas)")

    @property
    def denoiser(self):
        return self.score_network

    def denoiser_input_shapes(self, batch_shape):
        return [batch_shape, (batch_shape[0],)]

    def _perturb(self, x):
        """Levels ``sigma`` ``(batch,)`` and noise ``eps ~ N(0, sigma^2 I)`` ``(batch, D)``."""
        batch = ops.shape(x)[0]
        index = keras.random.randint((batch,), 0, len(self.sigmas), seed=self.seed_generator)
        sigma = ops.take(ops.convert_to_tensor(self.sigmas, dtype=x.dtype), index)
        noise = keras.random.normal(ops.shape(x), dtype=x.dtype, seed=self.seed_generator)
        return sigma, noise * sigma[:, None]

    def _unpack(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return ops.cast(x, self.compute_dtype)

    def batch_loss(self, data, training: bool):
        """`dsm_loss` of the batch at freshly drawn levels and noise."""
        x = self._unpack(data)
        sigma, noise = self._perturb(x)
        score = self.score_network([x + noise, sigma], training=training)
        return dsm_loss(score, noise, sigma, self.weighting)

    def get_config(self):
        return {
            **super().get_config(),
            "score_network": keras.saving.serialize_keras_object(self.score_network),
            "sigmas": self.sigmas,
            "weighting": self.weighting,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["score_network"] = keras.saving.deserialize_keras_object(config["score_network"])
        return cls(**config)


def train_dsm(
    score_network,
    data,
    sigmas,
    steps: int,
    batch_size: int = 1024,
    learning_rate: float = 2e-3,
    weighting: str = "sigma2",
    seed: int = 0,
    epochs: int = 10,
    verbose: int = 0,
    progress: bool = False,
):
    """Fit ``score_network`` by DSM on ``data`` ``(n, D)``: Adam with a cosine-decayed learning rate.

    Runs ``epochs`` epochs of ``steps // epochs`` steps (``epochs`` is capped at ``steps``) over a
    seeded shuffled, repeated `tf.data` pipeline of ``data``. ``verbose`` is `fit`'s; ``progress``
    shows one Keras progress bar over all the epochs instead (loss and time left). Returns the
    trained `DenoisingScoreMatching` wrapper and the per-epoch losses.
    """
    steps = checks.positive_int("steps", steps)
    batch_size = checks.positive_int("batch_size", batch_size)
    learning_rate = checks.positive_float("learning_rate", learning_rate)
    epochs = min(checks.positive_int("epochs", epochs), steps)
    seed = checks.integer("seed", seed)
    data = checks.points("data", data).astype(np.float32)
    steps_per_epoch = steps // epochs
    model = DenoisingScoreMatching(score_network, sigmas, weighting=weighting, seed=seed)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps_per_epoch * epochs, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    dataset = (
        tf.data.Dataset.from_tensor_slices(data)
        .shuffle(min(len(data), 200_000), seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    history = model.fit(
        dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=verbose,
        callbacks=[EpochProgress(epochs)] if progress else None,
    )
    return model, [float(v) for v in history.history["loss"]]


class EpochProgress(keras.callbacks.Callback):
    """One `keras.utils.Progbar` over all the epochs of a `fit`, advanced at the end of each (with its loss)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.bar = keras.utils.Progbar(epochs, unit_name="epoch", stateful_metrics=["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(epoch + 1, values=[("loss", (logs or {}).get("loss", float("nan")))])
