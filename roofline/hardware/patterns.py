"""Several profiles by one name: ``all``, ``kind:KIND`` (every shipped profile of that kind) and globs
(``pixel*``), expanded here and nowhere else. Names and YAML files pass through as given."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import UnknownHardwareError, closest
from .load import builtin_profiles, list_hardware, load_hardware
from .model import KINDS


def is_pattern(text: str) -> bool:
    """Whether ``text`` names several shipped profiles (not a name or an existing file)."""
    text = str(text)
    if text in builtin_profiles() or Path(text).is_file():
        return False
    return text == "all" or text.startswith("kind:") or any(c in text for c in "*?[")


def _kinds() -> dict[str, str]:
    return {n: load_hardware(n).kind for n in list_hardware()}


def _expand_one(text: str) -> list[str]:
    if text == "all":
        return list_hardware()
    if text.startswith("kind:"):
        kind = text[len("kind:"):].strip().lower()
        if kind not in KINDS:
            raise UnknownHardwareError(f"--hw {text!r}: unknown kind {kind!r}; use kind:{', kind:'.join(KINDS)}")
        found = [n for n, k in _kinds().items() if k == kind]
        if not found:
            raise UnknownHardwareError(f"--hw {text!r}: no shipped profile is of kind {kind}")
        return found
    found = [n for n in list_hardware() if fnmatch.fnmatchcase(n, text)]
    if not found:
        raise UnknownHardwareError(f"--hw {text!r} matches no shipped profile; 'roofline hw' lists them")
    return found


def expand_hardware(patterns: Iterable[str] | str) -> list[str]:
    """Profile names and YAML files, each pattern (``all``, ``kind:npu``, ``pixel*``) replaced by the
    shipped profiles it matches, in name order; duplicates dropped, first place kept. A pattern that
    matches nothing raises :class:`UnknownHardwareError`."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    out: list[str] = []
    for p in items:
        for name in (_expand_one(str(p)) if is_pattern(p) else [p]):
            if name not in out:
                out.append(name)
    return out


def single_hardware(text: str) -> str:
    """The one shipped profile ``text`` names: a pattern that matches exactly one, else one clear error
    (an unknown name, or a pattern matching several where one profile is wanted)."""
    files = builtin_profiles()
    if text in files:
        return text
    if not is_pattern(text):
        raise UnknownHardwareError(f"unknown hardware {text!r}{closest(text, files)}; "
                                   f"'roofline hw' lists the profiles, or give a YAML file")
    found = _expand_one(text)
    if len(found) > 1:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        raise UnknownHardwareError(f"--hw {text!r} matches {len(found)} profiles ({shown}); this takes one "
                                   f"profile: name one (analyze, report and space take several --hw)")
    return found[0]
