"""The training loop shared by every script: a compiled `DiffusionModel`, its callbacks, `fit`.

Output folder layout (all written atomically):

    OUT/loss.csv                    loss per epoch (keras.callbacks.CSVLogger)
    OUT/loss.png                    the same as a figure
    OUT/checkpoints/epoch_XXXX.keras  a full model every N epochs, and checkpoints.csv
    OUT/samples/samples_epoch_XXXX.png  samples from a fixed seed every N epochs (if a plotter is given)
    OUT/backup/                     keras.callbacks.BackupAndRestore state while a run is unfinished

Re-running the same command after an interruption resumes from the last completed epoch.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import keras

from keras_ddpm.callbacks import LossPlotter, PeriodicCheckpoint
from keras_ddpm.diffusion import DiffusionModel


LR_DECAYS = ("constant", "linear")


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (optimiser defaults: the assignment's Adam 1e-4)."""

    epochs: int = 100
    learning_rate: float = 1e-4
    lr_decay: str = "constant"  # "constant", or "linear": decay to 0 over all epochs' steps
    ema_momentum: float = 0.0  # 0 turns EMA off; e.g. 0.999 keeps an EMA of the weights
    steps_per_execution: int = 100
    checkpoint_every: int = 10
    plot_every: int = 10
    resume: bool = True
    verbose: int | str = "auto"  # as in model.fit

    def __post_init__(self):
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, got {self.learning_rate!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"unknown lr decay {self.lr_decay!r}; expected one of {', '.join(LR_DECAYS)}")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1), got {self.ema_momentum!r}")
        for name in ("steps_per_execution", "checkpoint_every", "plot_every"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be a positive integer, got {value!r}")


def make_optimizer(config: TrainConfig, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """Adam with the configured learning rate (and decay), and Keras' built-in EMA when asked for.

    ``lr_decay="linear"`` uses `keras.optimizers.schedules.PolynomialDecay` (power 1) from the
    learning rate down to 0 over ``epochs * steps_per_epoch`` steps, as the course's sprite
    training does; it needs ``steps_per_epoch``.
    """
    learning_rate = config.learning_rate
    if config.lr_decay == "linear":
        if not steps_per_epoch:
            raise ValueError("a linear learning-rate decay needs steps_per_epoch")
        learning_rate = keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, decay_steps=config.epochs * int(steps_per_epoch), end_learning_rate=0.0
        )
    if config.ema_momentum > 0:
        return keras.optimizers.Adam(learning_rate, use_ema=True, ema_momentum=config.ema_momentum)
    return keras.optimizers.Adam(learning_rate)


def compile_model(model: DiffusionModel, config: TrainConfig, data_shape,
                  steps_per_epoch: int | None = None) -> DiffusionModel:
    optimizer = make_optimizer(config, steps_per_epoch)
    model.compile(optimizer=optimizer, steps_per_execution=config.steps_per_execution)
    model.build((None,) + tuple(data_shape))
    return model


def train(model: DiffusionModel, dataset, out_dir, config: TrainConfig, extra_callbacks=(),
          validation_data=None) -> keras.callbacks.History:
    """`model.fit` with the standard callbacks writing into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "loss.csv")
    backup_dir = os.path.join(out_dir, "backup")
    checkpoint_dir = os.path.join(out_dir, "checkpoints")
    resuming = config.resume and os.path.isdir(backup_dir)
    if not resuming:  # a fresh run: forget an earlier run's unfinished state and its logs
        shutil.rmtree(backup_dir, ignore_errors=True)
        for stale in (csv_path, os.path.join(checkpoint_dir, "checkpoints.csv")):
            if os.path.exists(stale):
                os.remove(stale)
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(csv_path, append=True),
        PeriodicCheckpoint(checkpoint_dir, config.checkpoint_every),
        LossPlotter(csv_path, os.path.join(out_dir, "loss.png"), config.plot_every),
        *extra_callbacks,
    ]
    return model.fit(
        dataset,
        epochs=config.epochs,
        callbacks=callbacks,
        validation_data=validation_data,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=config.verbose,
    )
