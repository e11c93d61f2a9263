"""Atomic file writing: write to a temporary file in the same folder, then rename over the target.

A reader (or a resumed run) therefore sees either the old file or the complete new one, never a
truncated file, even if the process is killed mid-write.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


#: The names `atomic_path` gives its temporary files: ``.{stem}.{8 random characters}.tmp{ext}``.
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9_]+)*")


def is_temporary_file(name: str) -> bool:
    """Whether the file name ``name`` is one `atomic_path` writes before renaming it into place
    (left behind only when the process was killed in between)."""
    return bool(_TEMPORARY.fullmatch(os.path.basename(name)))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success rename it to ``path``, else delete it.

    The temporary name keeps the target's extension (Keras and matplotlib choose formats by it).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
    except OSError as err:  # name the user's path, not the temporary one
        raise _error_for(err, path) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        try:
            os.replace(tmp, path)
        except OSError as err:  # e.g. a folder at ``path``: name the user's path, not the temporary one
            raise _error_for(err, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _error_for(err: OSError, path: str) -> OSError:
    """An error of the kind of ``err`` (missing, denied, a file in the way) that names ``path``."""
    if isinstance(err, (FileExistsError, NotADirectoryError)):  # a regular file where a folder must be
        return NotADirectoryError(f"cannot write {path}: a file stands in its path")
    if isinstance(err, IsADirectoryError):
        return IsADirectoryError(f"cannot write {path}: it is an existing folder")
    return type(err)(f"cannot write {path} ({err.strerror or err})")


def save_model(model, path) -> str:
    """`model.save(path)` (a ``.keras`` file) done atomically; creates the folder if needed."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return os.fspath(path)


def copy_file(source, path) -> str:
    """Copy ``source`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    return os.fspath(path)


def save_npy(path, array) -> str:
    """`np.save` done atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, np.asarray(array))
    return os.fspath(path)


def write_csv(path, rows, fields) -> str:
    """Write ``rows`` (dicts) as a CSV file with the columns ``fields``, atomically; keys of a row
    that are not in ``fields`` are left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def write_text(path, text: str) -> str:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    return os.fspath(path)
