"""Argument checks shared by the whole library: is this a positive int, a finite number, ...?

Two kinds of helper, both at the bottom of the layering (they import only `chainrule.errors`):

- predicates, `is_int(value)`, `is_real(value)`, `is_positive_int(value)`, ...: True or False,
  for callers that word their own error message or collect several problems into one;
- checks, `positive_finite(owner, name, value)`, ...: the value converted (float, int or bool),
  or a ConfigError worded "{owner}: {name} must be ..., got {value!r}".

And two for messages about memory: `physical_memory()` and `show_bytes(n)`.

A bool is never a number here (`lr=True` is refused), while NumPy scalars are (np.int64(3) is an
int, np.float32(0.5) a real).
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from chainrule.errors import ConfigError

__all__ = [
    "boolean", "is_finite_real", "is_int", "is_positive_int", "is_real", "nonnegative_finite",
    "nonnegative_int", "open_unit_interval", "physical_memory", "positive_finite",
    "positive_int", "show", "show_bytes", "unit_interval",
]


# --- predicates -------------------------------------------------------------------------------
def is_int(value: object) -> bool:
    """True for Python and NumPy integers, False for bool and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_positive_int(value: object) -> bool:
    """An integer (see `is_int`) ≥ 1."""
    return is_int(value) and bool(value > 0)


def is_real(value: object) -> bool:
    """True for int, float and NumPy numbers, False for bool and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_real(value: object) -> bool:
    """A real number (see `is_real`) that is neither infinite nor NaN."""
    return is_real(value) and math.isfinite(value)


def show(value: object) -> str:
    """`value` as an error message quotes it: repr, with NumPy scalars as Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def show_bytes(n: float) -> str:
    """A number of bytes as a message gives it, in binary units: "512 bytes", "238 GiB"."""
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20),
                        ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the OS does not tell (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


# --- checks that raise ConfigError ------------------------------------------------------------
def positive_finite(owner: str, name: str, value: object) -> float:
    """`value` as a float, or ConfigError unless it is a finite number > 0."""
    if not (is_finite_real(value) and value > 0):
        raise ConfigError(f"{owner}: {name} must be a positive finite number, got {show(value)}")
    return float(value)


def nonnegative_finite(owner: str, name: str, value: object) -> float:
    """`value` as a float, or ConfigError unless it is a finite number ≥ 0."""
    if not (is_finite_real(value) and value >= 0):
        raise ConfigError(
            f"{owner}: {name} must be a non-negative finite number, got {show(value)}"
        )
    return float(value)


def unit_interval(owner: str, name: str, value: object) -> float:
    """`value` as a float, or ConfigError unless 0 ≤ value < 1 (momentum, betas, alpha)."""
    if not (is_real(value) and 0 <= value < 1):
        raise ConfigError(f"{owner}: {name} must be a number in [0, 1), got {show(value)}")
    return float(value)


def open_unit_interval(owner: str, name: str, value: object) -> float:
    """`value` as a float, or ConfigError unless 0 < value < 1 (a decay factor)."""
    if not (is_real(value) and 0 < value < 1):
        raise ConfigError(f"{owner}: {name} must be a number in (0, 1), got {show(value)}")
    return float(value)


def positive_int(owner: str, name: str, value: object) -> int:
    """`value` as an int, or ConfigError unless it is an integer ≥ 1."""
    if not is_positive_int(value):
        raise ConfigError(f"{owner}: {name} must be a positive integer, got {show(value)}")
    return int(value)


def nonnegative_int(owner: str, name: str, value: object) -> int:
    """`value` as an int, or ConfigError unless it is an integer ≥ 0."""
    if not (is_int(value) and value >= 0):
        raise ConfigError(f"{owner}: {name} must be a non-negative integer, got {show(value)}")
    return int(value)


def boolean(owner: str, name: str, value: object) -> bool:
    """`value`, or ConfigError unless it is True or False."""
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{owner}: {name} must be True or False, got {show(value)}")
    return bool(value)
