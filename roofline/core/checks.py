"""One validation layer for user-supplied values, CLI and API alike.

Each check returns the value in its plain Python form (numpy integers become
``int``) or raises :class:`~roofline.core.errors.InvalidInputError` with one line that
names the value and what is wrong, never a numpy repr.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, RooflineError

# Sizes a trace or sweep may ask for before anything is allocated.
MAX_INPUT_ELEMENTS = 1 << 36      # 68.7 G elements in one input tensor (a 2048 px image is 12.6 M)
MAX_RESOLUTION = 1 << 16
MAX_BATCH = 1 << 16
MAX_RIDGE_POINTS = 100_001
MAX_RIDGE_POINT = 1e6  # MACs per byte: far beyond any accelerator (the paper sweeps to 500)
MIN_WIDTH, MAX_WIDTH = 1 / 64, 4.0
# Plausible ranges of user rates (the same as hardware profiles'): below, a unit is missing; above, a typo.
MAC_RATE = (1e6, 1e17)
BYTE_RATE = (1e6, 1e17)


def show(value: Any) -> str:
    """A value as a user wrote it: plain numbers (no ``np.float64(...)``), short strings quoted."""
    if isinstance(value, Enum):  # Mode.SPEC as the user wrote it: 'spec'
        value = value.value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value: Any, what: str, lo: int = 1, hi: int | None = None) -> int:
    """An exact integer in [lo, hi]; numpy integers are accepted, floats and bools are not."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be an integer, got {value}")
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{what} must be an integer, got {show(value)}") from None
    if v < lo or (hi is not None and v > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise InvalidInputError(f"{what} must be an integer {bound}, got {v}")
    return v


def number(value: Any, what: str, lo: float | None = None, hi: float | None = None, unit: str = "",
           units_hint: str = "", error: type[RooflineError] = InvalidInputError) -> float:
    """A finite positive real number, optionally within a plausible [lo, hi].

    ``units_hint`` ("bytes per second (e.g. 5.12e10, not 51.2 GB/s)") is added to
    out-of-range messages; ``error`` is the exception type to raise.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{what} must be a number, got {show(value)}")
    try:
        v = float(value)
    except OverflowError:
        raise error(f"{what} is too large to be a number") from None
    if not math.isfinite(v) or v <= 0:
        raise error(f"{what} must be a finite positive number, got {show(v)}")
    u = f" {unit}" if unit else ""
    hint = f": units are {units_hint}" if units_hint else ""
    if lo is not None and v < lo:
        raise error(f"{what} = {v:g}{u} is implausibly small (below {lo:g}{u}){hint}")
    if hi is not None and v > hi:
        raise error(f"{what} = {v:g}{u} is implausibly large (above {hi:g}{u}){hint}")
    return v


def flag(value: Any, what: str) -> bool:
    """True or False; numpy bools are accepted (and returned as Python bools), 0/1 and strings are not."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{what} must be True or False, got {show(value)}")
    return bool(value)


def file_path(value: Any, what: str = "path") -> Path:
    """A file name: a string or path-like object, not empty."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidInputError(f"{what} must be a file name (a string or path), got {show(value)}")
    return Path(value)


def choice(value: Any, what: str, options: Iterable[str]) -> str:
    opts = list(options)
    if not isinstance(value, str) or value not in opts:
        raise InvalidInputError(f"{what} must be one of {', '.join(opts)}, got {show(value)}")
    return value


def names(value: Any, what: str = "models") -> list:
    """A non-empty list of names (or traced tables): a bare string is one name, not its characters."""
    if isinstance(value, str):
        raise InvalidInputError(f"{what} must be a list of names, got the string {show(value)} (use [{value!r}])")
    try:
        items = list(value)
    except TypeError:
        raise InvalidInputError(f"{what} must be a list of names, got {show(value)}") from None
    if not items:
        raise InvalidInputError(f"{what}: the list is empty")
    return items


def input_elements(shape: tuple[int, ...], what: str = "input shape") -> int:
    n = math.prod(shape)
    if n > MAX_INPUT_ELEMENTS:
        raise InvalidInputError(f"{what} {'x'.join(map(str, shape))} has {n:.3g} elements; at most "
                                f"{MAX_INPUT_ELEMENTS:.3g} can be traced")
    return n


def threads(value: Any, what: str = "--threads") -> int:
    """A CPU thread count from 1 to four times this machine's CPUs."""
    import os

    hi = 4 * (os.cpu_count() or 1)
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a positive integer, got {value}")
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{what} must be a positive integer, got {show(value)}") from None
    if v < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {v}")
    if v > hi:
        raise InvalidInputError(f"{what} {v} is more than four times this machine's {os.cpu_count()} CPUs "
                                f"(at most {hi})")
    return v


def ascii_number(text: str, what: str) -> str:
    """Numbers on the command line are written in ASCII digits (one policy everywhere)."""
    if not text.isascii():
        raise InvalidInputError(f"{what} {text!r}: write numbers with ASCII digits (0-9)")
    return text


def number_text(text: str, what: str) -> str:
    """A number in a data file (a table cell) follows the command line's rule: ASCII digits, and no ``_``
    separators (Python's float() reads ``1_000`` and ``٥``; a table is not Python)."""
    ascii_number(text, what)
    if "_" in text:
        raise InvalidInputError(f"{what} {text!r}: write numbers with ASCII digits (0-9), without _ separators")
    return text
