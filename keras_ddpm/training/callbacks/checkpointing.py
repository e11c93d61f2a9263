"""Callbacks that keep a run's state safe: periodic ``.keras`` checkpoints (`PeriodicCheckpoint`), a
resume backup that a kill cannot tear (`AtomicBackupAndRestore`), and a stop on a NaN loss before
anything of that epoch is saved (`StopOnNaN`). The file checks they rely on are in
`keras_ddpm.training.checkpoints`.
"""

from __future__ import annotations

import csv
import json
import math
import os

import keras

from keras_ddpm.training.callbacks.schedule import EveryNEpochs
from keras_ddpm.training.checkpoints import (
    BACKUP_SUFFIX,
    check_backup,
    check_checkpoint,
)
from keras_ddpm.utils.io import copy_file, save_model, write_csv, write_text


class PeriodicCheckpoint(EveryNEpochs):
    """Save the whole model (``.keras``: config, weights, optimizer state) every N epochs.

    Every checkpoint is kept (``epoch_0010.keras``, ``epoch_0020.keras``, ...; the last epoch is
    always saved) so that models from different stages of training can be compared, and each is
    written atomically. ``checkpoints.csv`` in the same folder lists epoch, file and the epoch's
    logged metrics (the training loss, and the validation loss when there is one).
    """

    def __init__(self, directory, every_n_epochs: int = 10, filename: str = "epoch_{epoch:04d}.keras"):
        super().__init__(every_n_epochs)
        self.directory = os.fspath(directory)
        self.filename = filename
        self.index_path = os.path.join(self.directory, "checkpoints.csv")

    def on_due_epoch(self, epoch, logs):
        path = save_model(self.model, os.path.join(self.directory, self.filename.format(epoch=epoch)))
        rows = self._read_index()
        rows = [r for r in rows if int(r["epoch"]) != epoch]
        rows.append({"epoch": epoch, "file": os.path.basename(path), **{k: float(v) for k, v in logs.items()}})
        self._write_index(rows)

    def _read_index(self):
        if not os.path.exists(self.index_path):
            return []
        with open(self.index_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def _write_index(self, rows):
        fields = list(dict.fromkeys(k for row in rows for k in row))
        write_csv(self.index_path, sorted(rows, key=lambda r: int(r["epoch"])), fields)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` (``double_checkpoint=True``) that survives SIGKILL at any moment.

    Keras 3.15 writes ``latest.weights.h5`` in place and then ``training_metadata.json``: a kill
    in the middle leaves a truncated file (its fallback to the ``*.bkp`` pair catches a broken HDF5
    file but not a broken JSON file), or new weights next to the previous epoch number, so the
    resumed run trains one epoch twice. Here each file is written under a temporary name and
    renamed into place, weights first, so the pair on disk is always a complete epoch (the one
    remaining window is between two renames), and `check_backup` validates the folder, falling
    back to the previous pair, before Keras restores it. Same arguments as Keras' callback.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=True,
                         delete_checkpoint=delete_checkpoint)

    def on_train_begin(self, logs=None):
        check_backup(self.backup_dir)  # one clear error, or the newest sound state put in place
        super().on_train_begin(logs)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        for path in (self._weights_path, self._training_metadata_path):
            if os.path.exists(path):
                copy_file(path, path + BACKUP_SUFFIX)
        tmp = os.path.join(self.backup_dir, f".tmp-{os.getpid()}.weights.h5")  # Keras wants .weights.h5
        try:
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, self._weights_path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        write_text(self._training_metadata_path,
                   json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))


# -- divergence ------------------------------------------------------------------------------------
class TrainingDiverged(RuntimeError):
    """Raised by `StopOnNaN`: the loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop ``fit`` the moment the training loss is NaN or infinite, keeping the last good state.

    Unlike `keras.callbacks.TerminateOnNaN`'s default (which lets the epoch finish, so a periodic
    checkpoint or the resume backup may save NaN weights, and `BackupAndRestore` deletes its
    backup at the end), this raises `TrainingDiverged` from ``on_train_batch_end``: no later
    callback of that epoch runs, every checkpoint on disk is from before the divergence, and
    the backup (if any) still holds the last good epoch. The message says where training stopped
    and which checkpoint is the last good one.

    Put it first in the callback list. With ``steps_per_execution=k`` Keras reports the loss
    every k steps, so the stop comes at most k steps late; the weights of that epoch are never
    saved either way.

    Args:
        checkpoint_dir: folder of the periodic ``.keras`` checkpoints, named in the message.
    """

    def __init__(self, checkpoint_dir=None):
        super().__init__()
        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"epoch {self._epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"end of epoch {epoch + 1}")

    def _last_good_checkpoint(self):
        """The newest sound checkpoint that this run wrote: listed in the folder's
        ``checkpoints.csv`` (which `keras_ddpm.training.loop.train` deletes when a run starts afresh,
        so an earlier run's files in a reused folder are never named) and not after this epoch."""
        if not self.checkpoint_dir:
            return None
        index = os.path.join(self.checkpoint_dir, "checkpoints.csv")
        try:
            with open(index, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) <= self._epoch]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for row in sorted(rows, key=lambda r: int(r["epoch"]), reverse=True):
            try:
                return check_checkpoint(os.path.join(self.checkpoint_dir, row["file"]))
            except (ValueError, FileNotFoundError):
                continue
        return None

    def _check(self, logs, where):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss):
            return
        good = self._last_good_checkpoint()
        kept = (f"the last good checkpoint of this run is {good}" if good
                else "no checkpoint of this run had been saved yet")
        raise TrainingDiverged(
            f"training diverged: the loss is {loss} at {where}; stopped before saving anything "
            f"from this epoch; {kept} (try a lower learning rate)"
        )
