"""Project exception types.

Every error a user can cause is raised once, as a :class:`RooflineError`, in the
layer that knows what is wrong; the CLI turns it into one line and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RooflineError(Exception):
    """Base class for errors caused by bad input (not by a bug)."""


class UnknownModelError(RooflineError, KeyError):
    """A model name that the zoo does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownHardwareError(RooflineError, KeyError):
    """A hardware profile name that is neither built in nor a file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ProfileError(RooflineError, ValueError):
    """A hardware profile that fails validation (names the file and field)."""


class TraceError(RooflineError):
    """A model that cannot be traced (bad input shape, missing factory, ...)."""


class UnsupportedOpError(TraceError):
    """Raised under ``strict=True`` when an op has no counting rule."""


class UnsupportedOpWarning(UserWarning):
    """Ops without a counting rule were counted as 0 MACs (``LayerTable.unsupported`` lists them)."""


class CacheWarning(UserWarning):
    """The trace cache could not be read or written; the traces were computed instead."""


class InvalidInputError(RooflineError, ValueError):
    """A user-supplied value of the wrong type, out of range, or too large to compute with."""


class OutputError(RooflineError, OSError):
    """An output file or folder that cannot be written."""


def describe_exception(e: BaseException) -> str:
    """``Type: first line of the message`` of an exception from a user's code."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def closest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ' (did you mean ...?)' suffix listing the closest choices, or ''.

    Choices that start with what was typed come first (``pixel8`` -> ``pixel8-edgetpu``), then those
    that contain it, then the closest by edit distance."""
    options = list(dict.fromkeys(str(c) for c in choices))
    key = str(name).strip().lower()
    found: list[str] = []
    if key:
        found += [c for c in options if c.lower().startswith(key)]
        found += [c for c in options if key in c.lower() and c not in found]
    found += [c for c in difflib.get_close_matches(str(name), options, n=n, cutoff=0.5) if c not in found]
    matches = found[:n]
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
