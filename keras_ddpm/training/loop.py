"""The training loop shared by every script: a compiled `DiffusionModel`, its callbacks, `fit`.

Output folder layout (all written atomically):

    OUT/loss.csv                    loss per epoch (keras.callbacks.CSVLogger); with validation
                                    points also val_loss and val_loss_tAAA_BBB per bin of t
    OUT/loss.png                    the same as a figure
    OUT/checkpoints/epoch_XXXX.keras  a full model every N epochs, and checkpoints.csv
    OUT/samples/samples_epoch_XXXX.png  samples from a fixed seed every N epochs (if a plotter is given)
    OUT/backup/                     keras.callbacks.BackupAndRestore state while a run is unfinished
                                    (with keep_backup, until `finish_run`: training_complete.json
                                    then marks its state as the final one)
    TENSORBOARD_DIR/                keras.callbacks.TensorBoard scalars (when a folder is given)

Re-running the same command after an interruption (Ctrl-C or SIGKILL) resumes from the last
completed epoch, weights and optimizer state included (`keras_ddpm.training.callbacks.AtomicBackupAndRestore`),
or, killed after training ended, from its final state without training again; a damaged backup
gives one clear error, except a first one cut off while it was written (there is nothing earlier
to keep: the run starts over, saying so). Temporary files that a kill leaves are removed. A NaN or
infinite loss stops training at once (`keras_ddpm.training.callbacks.StopOnNaN`), before anything
of that epoch is saved.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass

import keras

from keras_ddpm.training.callbacks import (
    AtomicBackupAndRestore,
    LossPlotter,
    PeriodicCheckpoint,
    StopOnNaN,
    TimeLimit,
    TimestepLoss,
)
from keras_ddpm.training.checkpoints import check_backup, remove_temporary_files
from keras_ddpm.training.diffusion_model import DiffusionModel
from keras_ddpm.utils import checks
from keras_ddpm.utils.io import write_csv, write_text

LR_DECAYS = ("constant", "linear")
BACKUP_DIR = "backup"  # OUT/backup: the resume state of an unfinished run
COMPLETE_FILE = "training_complete.json"  # in OUT/backup: training ended, the state is its final one


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (optimiser defaults: the assignment's Adam 1e-4)."""

    epochs: int = 100
    learning_rate: float = 1e-4
    lr_decay: str = "constant"  # "constant", or "linear": decay to 0 over all epochs' steps
    ema_momentum: float = 0.0  # 0 turns EMA off; e.g. 0.999 keeps an EMA of the weights
    steps_per_execution: int = 100
    fused_steps: int = 1  # minibatches per stacked batch (DiffusionModel.fused_steps); 1 = plain batches
    jit_compile: bool | None = None  # XLA for the train step; None: on when fused_steps > 1
    checkpoint_every: int = 10
    plot_every: int = 10
    resume: bool = True
    verbose: int | str = "auto"  # as in model.fit

    def __post_init__(self):
        checks.positive_int("epochs", self.epochs)
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, got {self.learning_rate!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"unknown lr decay {self.lr_decay!r}; expected one of {', '.join(LR_DECAYS)}")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1), got {self.ema_momentum!r}")
        for name in ("steps_per_execution", "fused_steps", "checkpoint_every", "plot_every"):
            checks.positive_int(name.replace("_", " "), getattr(self, name))


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
    """Compile ``model`` with `make_optimizer` and build it for ``data_shape`` (one example's shape).

    ``steps_per_epoch`` counts optimizer updates (minibatches), also when they are fused.
    With ``config.fused_steps > 1`` (which must equal ``model.fused_steps``) Keras' own multi-step
    loop is not used (``steps_per_execution=1``: one stack is already many updates) and the train
    step is XLA-compiled unless ``config.jit_compile`` says otherwise (faster per epoch than
    ``steps_per_execution=100``: docs/design-notes.md#fused-training-steps).
    """
    if config.fused_steps != model.fused_steps:
        raise ValueError(f"the config fuses {config.fused_steps} steps, the model {model.fused_steps}")
    fused = config.fused_steps > 1
    jit_compile = fused if config.jit_compile is None else bool(config.jit_compile)
    optimizer = make_optimizer(config, steps_per_epoch)
    model.compile(optimizer=optimizer, steps_per_execution=1 if fused else config.steps_per_execution,
                  jit_compile=jit_compile)
    model.build((None,) + tuple(data_shape))
    return model


def _keep_epochs(csv_path, completed: int) -> None:
    """Rewrite the `keras.callbacks.CSVLogger` file ``csv_path`` with only its rows of the first
    ``completed`` epochs (its ``epoch`` column is 0-based), atomically."""
    if not os.path.exists(csv_path):
        return
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0]) if rows else None
    kept = [row for row in rows if int(row["epoch"]) < completed]
    if fields is not None and len(kept) < len(rows):
        write_csv(csv_path, kept, fields)


def is_resuming(out_dir, resume: bool = True) -> bool:
    """True when `train` into ``out_dir`` continues an unfinished run (its resume backup is there)."""
    return bool(resume) and os.path.isdir(os.path.join(os.fspath(out_dir), BACKUP_DIR))


def finish_run(out_dir) -> None:
    """Mark the run in ``out_dir`` as finished: delete the resume backup that `train` kept with
    ``keep_backup=True``, so that the same command run again starts a new run."""
    shutil.rmtree(os.path.join(os.fspath(out_dir), BACKUP_DIR), ignore_errors=True)


def training_complete(out_dir) -> int | None:
    """The epochs a finished training in ``out_dir`` completed, if its backup says it finished
    (see `train`'s ``keep_backup``); None otherwise."""
    try:
        with open(os.path.join(os.fspath(out_dir), BACKUP_DIR, COMPLETE_FILE), encoding="utf-8") as handle:
            epochs = json.load(handle)["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return epochs if checks.is_integer(epochs) and epochs >= 0 else None


def train(model: DiffusionModel, dataset, out_dir, config: TrainConfig, extra_callbacks=(),
          validation_data=None, validation_points=None, validation_labels=None, validation_bins: int = 10,
          tensorboard_dir=None, seed: int = 0, time_limit: float | None = None,
          keep_backup: bool = False) -> keras.callbacks.History:
    """`model.fit` with the standard callbacks writing into ``out_dir``.

    Args:
        validation_data: passed to `fit` as is (Keras' own ``val_loss``, with fresh random t and
            noise each time).
        validation_points: held-out examples (an array) for the `TimestepLoss` callback instead:
            ``val_loss`` and ``val_loss_tAAA_BBB`` per bin of timesteps each epoch, with fixed t
            and noise so epochs are comparable. Give one of the two, not both.
        validation_labels: the class ids of ``validation_points``, for a class-conditional model.
        validation_bins: number of timestep bins for ``validation_points``.
        tensorboard_dir: log the epoch's scalars there with `keras.callbacks.TensorBoard`.
        seed: seeds the fixed t and noise of ``validation_points``.
        time_limit: seconds; stop after the first epoch that ends past it (`TimeLimit`), and save
            that epoch's checkpoint and plots as the last ones.
        keep_backup: keep the resume backup when training ends, marked complete, for work that
            follows training (sampling, export, reports): a run killed during that work and run
            again restores the final weights and optimizer state without training any epoch again.
            Call `finish_run` once everything is done.
    """
    if validation_data is not None and validation_points is not None:
        raise ValueError("give validation_data or validation_points, not both (both would log val_loss)")
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "loss.csv")
    backup_dir = os.path.join(out_dir, BACKUP_DIR)
    checkpoint_dir = os.path.join(out_dir, "checkpoints")
    if not is_resuming(out_dir, config.resume):  # a fresh run: forget an earlier run's unfinished state and its logs
        shutil.rmtree(backup_dir, ignore_errors=True)
        for stale in (csv_path, os.path.join(checkpoint_dir, "checkpoints.csv")):
            if os.path.exists(stale):
                os.remove(stale)
        if tensorboard_dir is not None:
            shutil.rmtree(tensorboard_dir, ignore_errors=True)
    else:  # the epochs after the backup's will be trained again: drop their rows, so each is logged once
        _keep_epochs(csv_path, check_backup(backup_dir) or 0)
    for folder in (out_dir, checkpoint_dir, os.path.join(out_dir, "samples")):
        remove_temporary_files(folder)  # left by a kill during an atomic write
    epochs = config.epochs
    completed = training_complete(out_dir) if is_resuming(out_dir, config.resume) else None
    if completed is not None:  # fit restores the final state from the backup and trains no epoch
        print(f"training in {out_dir} is complete ({completed} epochs): restoring its final state from "
              f"{backup_dir} and going on with what follows training")
        epochs = completed
    # StopOnNaN first: on a NaN loss it stops before any callback saves that epoch's weights.
    callbacks = [StopOnNaN(checkpoint_dir)]
    if validation_points is not None:  # first, so that every later callback sees its logs
        callbacks.append(TimestepLoss(validation_points, model.schedule.timesteps, validation_bins, seed=seed,
                                      labels=validation_labels))
    if time_limit is not None:
        callbacks.append(TimeLimit(time_limit))
    callbacks += [
        keras.callbacks.CSVLogger(csv_path, append=True),
        PeriodicCheckpoint(checkpoint_dir, config.checkpoint_every),
        LossPlotter(csv_path, os.path.join(out_dir, "loss.png"), config.plot_every),
        *extra_callbacks,
    ]
    if tensorboard_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(os.fspath(tensorboard_dir), write_graph=False,
                                                     profile_batch=0, update_freq="epoch"))
    # The backup last: it records an epoch only once its log row, checkpoint and plots are written,
    # so a kill in between repeats that epoch rather than losing its outputs. It is written so that
    # a kill never tears it, and a damaged one is one clear error (see AtomicBackupAndRestore).
    callbacks.append(AtomicBackupAndRestore(backup_dir, delete_checkpoint=not keep_backup))
    history = model.fit(
        dataset,
        epochs=epochs,
        callbacks=callbacks,
        validation_data=validation_data,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=config.verbose,
    )
    if keep_backup and completed is None:
        write_text(os.path.join(backup_dir, COMPLETE_FILE),
                   json.dumps({"epochs": check_backup(backup_dir, repair=False) or 0}))
    return history
