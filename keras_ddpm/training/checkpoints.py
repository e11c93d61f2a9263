"""Checkpoints that fail clearly: validated `.keras` files and backup folders, and a NaN stop.

A run killed at any moment (SIGKILL included) must never leave behind a file that a later load
trips over with a stack trace. `keras_ddpm.utils.io` writes every file atomically; this module checks
what is read back and turns every way it can be wrong into one `ValueError` (or
`FileNotFoundError`) naming the file and what to do:

* `load_checkpoint` / `check_checkpoint`: a ``.keras`` file (a zip archive holding
  ``config.json`` and ``model.weights.h5``) that is missing, truncated or corrupt.
* `check_backup`: the state folder of `keras.callbacks.BackupAndRestore`
  (``latest.weights.h5`` + ``training_metadata.json``, and with ``double_checkpoint=True`` the
  previous pair as ``*.bkp``). When the latest pair is damaged but the previous one is sound it
  is put back in place, so a resume always starts from the newest *good* epoch.
* `AtomicBackupAndRestore`: `keras.callbacks.BackupAndRestore` whose state a kill cannot tear,
  checked (and if need be repaired) by `check_backup` before it is restored.
* `StopOnNaN`: stops a diverging ``fit`` as soon as the loss is NaN or infinite, *before* the
  epoch's callbacks run, so neither a checkpoint nor the resume backup ever holds NaN weights,
  and says which checkpoint is the last good one.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import zipfile

import keras

from keras_ddpm.utils.io import copy_file, write_text

#: Members every ``.keras`` archive written by ``model.save`` holds.
KERAS_MEMBERS = ("config.json", "model.weights.h5")

BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
BACKUP_SUFFIX = ".bkp"  # BackupAndRestore(double_checkpoint=True) keeps the previous state here


# -- .keras files ----------------------------------------------------------------------------------
def check_checkpoint(path) -> str:
    """Check that ``path`` is a complete ``.keras`` archive without loading it; return the path.

    Every member's CRC is verified, which catches a truncated or overwritten file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, not a zip archive (truncated or not a ``.keras`` file), a damaged
            member, or a member missing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path} is a folder; expected a .keras file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes): it was never written completely")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"checkpoint {path} is truncated or not a .keras file (not a zip archive); "
            "use another checkpoint"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"checkpoint {path} is corrupt ({err}); use another checkpoint") from None
    if damaged is not None:
        raise ValueError(f"checkpoint {path} is corrupt: member {damaged!r} fails its CRC check")
    missing = [m for m in KERAS_MEMBERS if m not in names]
    if missing:
        raise ValueError(f"checkpoint {path} is not a Keras model file: it has no {', '.join(missing)}")
    return path


def load_checkpoint(path, compile: bool = True):
    """`keras.saving.load_model` of a ``.keras`` checkpoint, with one clear error for any damage.

    Every module of `keras_ddpm.networks` is imported first, which registers every network class
    the project saves, so no ``custom_objects`` are needed.
    """
    _register_project_classes()
    path = check_checkpoint(path)
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as err:  # noqa: BLE001 - any failure here means "this file is unusable"
        raise ValueError(
            f"cannot load checkpoint {path}: {type(err).__name__}: {_one_line(err)}"
        ) from err


def _register_project_classes():
    import importlib
    import pkgutil

    import keras_ddpm.networks

    for module in pkgutil.iter_modules(keras_ddpm.networks.__path__):
        importlib.import_module(f"keras_ddpm.networks.{module.name}")


def latest_checkpoint(directory, pattern: str = "epoch_*.keras"):
    """The newest sound checkpoint in ``directory`` (highest epoch number), or None.

    Damaged files are skipped, so the answer is always loadable.
    """
    def epoch_of(name):
        numbers = re.findall(r"\d+", os.path.basename(name))
        return int(numbers[-1]) if numbers else -1

    for path in sorted(glob.glob(os.path.join(os.fspath(directory), pattern)), key=epoch_of, reverse=True):
        try:
            return check_checkpoint(path)
        except ValueError:
            continue
    return None


# -- BackupAndRestore folders ----------------------------------------------------------------------
def _check_h5(path) -> None:
    """Open an HDF5 weights file and read every dataset (a truncated file fails here)."""
    import h5py

    if not os.path.isfile(path):
        raise ValueError("missing")
    if os.path.getsize(path) == 0:
        raise ValueError("empty (0 bytes)")
    try:
        with h5py.File(path, "r") as handle:
            count = [0]

            def read(_, obj):
                if isinstance(obj, h5py.Dataset):
                    obj[()]
                    count[0] += 1

            handle.visititems(read)
    except Exception as err:  # noqa: BLE001 - h5py raises OSError, KeyError, RuntimeError...
        raise ValueError(f"unreadable HDF5 ({_one_line(err)})") from None
    if not count[0]:
        raise ValueError("holds no weights")


def _check_metadata(path) -> int:
    if not os.path.isfile(path):
        raise ValueError("missing")
    try:
        with open(path, encoding="utf-8") as handle:
            epoch = json.load(handle)["epoch"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"unreadable ({_one_line(err)})") from None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"bad epoch {epoch!r}")
    return epoch


def _check_state(weights, metadata) -> int:
    problems = []
    epoch = None
    for name, check in ((weights, _check_h5), (metadata, _check_metadata)):
        try:
            value = check(name)
            if name == metadata:
                epoch = value
        except ValueError as err:
            problems.append(f"{os.path.basename(name)}: {err}")
    if problems:
        raise ValueError("; ".join(problems))
    return epoch


def check_backup(backup_dir, repair: bool = True):
    """Check a `keras.callbacks.BackupAndRestore` folder before resuming from it.

    Returns:
        The number of completed epochs the backup holds (the resumed run starts there), or
        None when the folder does not exist (nothing to resume).

    With ``repair=True``, a damaged latest state whose previous state (``*.bkp``, written by
    ``double_checkpoint=True``) is sound is replaced by that previous state, atomically; the
    resumed run then repeats one epoch instead of failing.

    Raises:
        ValueError: the folder holds no usable state; the message names each damaged file and
            says how to start over.
    """
    backup_dir = os.fspath(backup_dir)
    if not os.path.exists(backup_dir):
        return None
    if not os.path.isdir(backup_dir):
        raise ValueError(f"resume backup {backup_dir} is not a folder; remove it to start over")
    weights = os.path.join(backup_dir, BACKUP_WEIGHTS)
    metadata = os.path.join(backup_dir, BACKUP_METADATA)
    if not os.listdir(backup_dir):
        return None  # created but never written to: nothing to resume, Keras starts at epoch 0
    try:
        return _check_state(weights, metadata)
    except ValueError as latest_problem:
        try:
            epoch = _check_state(weights + BACKUP_SUFFIX, metadata + BACKUP_SUFFIX)
        except ValueError as previous_problem:
            raise ValueError(
                f"cannot resume: the backup in {backup_dir} is damaged ({latest_problem}; "
                f"previous state: {previous_problem}); delete that folder or pass --no-resume "
                "to start over"
            ) from None
        if repair:
            copy_file(weights + BACKUP_SUFFIX, weights)
            copy_file(metadata + BACKUP_SUFFIX, metadata)
        return epoch


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

    def _check(self, logs, where):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss):
            return
        good = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        kept = f"the last good checkpoint is {good}" if good else "no checkpoint had been saved yet"
        raise TrainingDiverged(
            f"training diverged: the loss is {loss} at {where}; stopped before saving anything "
            f"from this epoch; {kept} (try a lower learning rate)"
        )


def _one_line(err) -> str:
    return " ".join(str(err).split())[:300]
