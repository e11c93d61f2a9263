"""Checkpoints that fail clearly: validated `.keras` files and resume-backup folders.

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

The callbacks that write these files (`PeriodicCheckpoint`, `AtomicBackupAndRestore`,
`StopOnNaN`) are in `keras_ddpm.training.callbacks`.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sys
import zipfile

import keras

from keras_ddpm.utils.io import copy_file, is_temporary_file

#: Members every ``.keras`` archive written by ``model.save`` holds.
KERAS_MEMBERS = ("config.json", "model.weights.h5")

BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
BACKUP_SUFFIX = ".bkp"  # BackupAndRestore(double_checkpoint=True) keeps the previous state here
#: The name `AtomicBackupAndRestore` writes the weights under before renaming them into place.
BACKUP_TEMPORARY = re.compile(r"\.tmp-\d+\.weights\.h5")


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
        None when there is nothing to resume: no folder, or a first state that a kill cut off
        while it was written (no earlier state exists; with ``repair=True`` the folder is removed
        and one warning line says that the run starts over).

    Temporary files that a kill during a save left in the folder are removed first.

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
    remove_temporary_files(backup_dir)  # what a kill during a save leaves; never part of a state
    if not os.listdir(backup_dir):
        return None  # created but never written to: nothing to resume, Keras starts at epoch 0
    try:
        return _check_state(weights, metadata)
    except ValueError as latest_problem:
        if not any(os.path.exists(path + BACKUP_SUFFIX) for path in (weights, metadata)):
            # Killed while the first state was written: there is no earlier state to lose.
            if repair:
                print(f"warning: the resume backup in {backup_dir} was cut off while its first epoch was saved "
                      f"({latest_problem}); starting over from epoch 1", file=sys.stderr)
                shutil.rmtree(backup_dir, ignore_errors=True)
            return None
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


def remove_temporary_files(folder) -> list[str]:
    """Delete the temporary files that a kill during an atomic save left in ``folder`` (not below
    it): those of `keras_ddpm.utils.io.atomic_path` and of `AtomicBackupAndRestore`, recognised by
    their exact name patterns, so no other file is touched. Returns the paths removed."""
    folder = os.fspath(folder)
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if (is_temporary_file(name) or BACKUP_TEMPORARY.fullmatch(name)) and os.path.isfile(path):
            try:
                os.remove(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def _one_line(err) -> str:
    return " ".join(str(err).split())[:300]
