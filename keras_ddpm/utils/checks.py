"""Argument validation shared by the whole package (layers, models, data, samplers, score).

Every check raises `ValueError` with a message that names the argument, the offending value and
what was expected, early and before any tensor work is done. (Command-line flags are checked by
the argparse types of `keras_ddpm.utils.cli`, which report the flag's name instead.)
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np


def positive_float(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bound_ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not bound_ok:
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {expected}, got {value!r}")
    return value


def is_integer(value) -> bool:
    """Whether ``value`` is an integer: a Python or NumPy int, an integer-valued float (``3.0``,
    e.g. from a JSON config) or a scalar eager tensor holding one; bools, strings and None are not.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        return False
    try:
        operator.index(value)
        return True
    except (TypeError, AttributeError):  # AttributeError: a float eager tensor
        pass
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number.is_integer()


def integer_at_least(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (see `is_integer` for what counts as an integer)."""
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1 (see `is_integer` for what counts as an integer)."""
    return integer_at_least(name, value, 1)


def integer(name: str, value) -> int:
    """``value`` as an int (e.g. a seed)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def value_range(name: str, pair) -> tuple[float, float]:
    """``(low, high)`` as floats with ``low < high``; `ValueError` naming ``name`` otherwise."""
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (low, high), got {pair!r}") from None
    if not low < high:
        raise ValueError(f"{name} must be (low, high) with low < high, got {pair!r}")
    return low, high


def sigma_sequence(name: str, sigmas, decreasing: bool = False) -> np.ndarray:
    """A non-empty 1-D float64 array of finite noise levels > 0, strictly decreasing if asked."""
    try:
        array = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {sigmas!r}") from None
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one noise level, got an empty sequence")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {array.tolist()}")
    if decreasing and np.any(np.diff(array) >= 0):
        raise ValueError(
            f"{name} must be strictly decreasing (largest noise level first), got {array.tolist()}"
        )
    return array


def points(name: str, x, dim: int | None = None) -> np.ndarray:
    """``x`` as a finite float array of shape ``(n, dim)`` with ``n >= 1``."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n, dim) with n >= 1, got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (the data dimension), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    return array
