"""Shared command-line plumbing for the scripts at the top of the repository.

Every script turns bad input into *one* line on stderr and exit code 2, never a
traceback: `ArgumentParser` does that for flags, `run_cli` for errors raised by the
library while the script runs (`ValueError`, `FileNotFoundError`, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Callable, Sequence

#: Exit code for bad input, the same code argparse uses for bad flags.
EXIT_BAD_INPUT = 2

#: The largest count the compiled graphs take (they count in int32): larger values would wrap around.
INT32_MAX = 2**31 - 1
#: The largest seed (an int64 in the graphs).
INT64_MAX = 2**63 - 1

#: Exceptions that mean "the user gave us something wrong", not "we have a bug".
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _bounded_int(text, minimum=1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _bounded_int(text, minimum=0)


def positive_int32(text: str) -> int:
    """argparse type: an integer in 1..2**31-1 (a count that the compiled graphs hold in an int32)."""
    return _bounded_int(text, minimum=1, maximum=INT32_MAX)


def non_negative_int32(text: str) -> int:
    """argparse type: an integer in 0..2**31-1 (an index that the compiled graphs hold in an int32)."""
    return _bounded_int(text, minimum=0, maximum=INT32_MAX)


def non_negative_int64(text: str) -> int:
    """argparse type: an integer in 0..2**63-1 (a seed that the compiled graphs hold in an int64)."""
    return _bounded_int(text, minimum=0, maximum=INT64_MAX)


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def find_input(given, candidates: Sequence[str], script_dir: str, missing: str, folder: bool = False) -> str:
    """The input a script reads: ``given`` (its flag) if set, else the first of ``candidates``
    that exists relative to the current folder or to ``script_dir``.

    ``folder`` asks for a directory instead of a file. Raises `FileNotFoundError` with the message
    ``missing`` when nothing is found.
    """
    if given:
        return given
    exists = os.path.isdir if folder else os.path.isfile
    for candidate in candidates:
        for base in (os.getcwd(), script_dir):
            full = os.path.join(base, candidate)
            if exists(full):
                return full
    raise FileNotFoundError(missing)


def save_model_path(value: str, flag: str = "--save-model"):
    """The ``.keras`` file a ``--save-model`` flag names, or None for ``none``; checked before training."""
    if value.lower() == "none":
        return None
    if not value.endswith(".keras"):
        raise ValueError(f"{flag} must name a .keras file (or be none), got {value}")
    if os.path.isdir(value):
        raise ValueError(f"{flag} {value} is an existing folder; name a .keras file")
    return output_file(value, flag)


def output_file(path: str, flag: str) -> str:
    """Check, before any work, that the file ``path`` (the value of ``flag``) can be written; return it.

    Refused with a `ValueError` naming the flag and the path: an existing folder, a path under a
    regular file, and a place where no file can be created (checked by creating and removing an
    empty temporary file in the nearest existing folder above ``path``; nothing else is written).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path} is an existing folder; name a file")
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{flag} {path}: {existing} is a file, not a folder; choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".keras-ddpm-write-check.", dir=existing)
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot write a file in {existing} ({err.strerror}); "
                         "choose another path") from None
    os.close(fd)
    os.remove(probe)
    return path


def _bounded_int(text: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {value}")
    return value


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv=None, prog=None) -> int:
    """Run `main(argv)`; user errors become one line on stderr and exit code 2.

    Set ``KERAS_DDPM_DEBUG=1`` to get the full traceback instead.
    """
    prog = prog or (sys.argv[0] if sys.argv else "keras-ddpm")
    if os.environ.get("KERAS_DDPM_DEBUG"):
        return int(main(argv) or 0)
    try:
        return int(main(argv) or 0)
    except USER_ERRORS as err:
        message = str(err) or err.__class__.__name__
        if isinstance(err, FileNotFoundError) and err.filename and str(err.filename) not in message:
            message = f"{message}: {err.filename}"
        print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
