"""Atomic file output: a file is either fully written or not there at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import RooflineError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``path`` cannot be written (missing folder, no permission)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise RooflineError(f"cannot write {p}: directory {parent} does not exist")
    if p.is_dir():
        raise RooflineError(f"cannot write {p}: it is a directory")
    if not os.access(parent, os.W_OK):
        raise RooflineError(f"cannot write {p}: directory {parent} is not writable")
    return p


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    p = check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise RooflineError(f"cannot write {p}: {e.strerror}") from e
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise RooflineError(f"cannot write {p}: {e.strerror}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
