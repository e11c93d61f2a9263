"""Shared command-line plumbing for the scripts at the top of the repository.

Every script turns bad input into *one* line on stderr and exit code 2, never a
traceback: `ArgumentParser` does that for flags, `run_cli` for errors raised by the
library while the script runs (`ValueError`, `FileNotFoundError`, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

#: Exit code for bad input, the same code argparse uses for bad flags.
EXIT_BAD_INPUT = 2

#: Exceptions that mean "the user gave us something wrong", not "we have a bug".
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


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
    return value


def _bounded_int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
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
