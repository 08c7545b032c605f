"""Output: a file or report folder is either fully written or not there at all.

Files go through a temporary file in the same folder and a rename; a character
device or FIFO (``-o /dev/null``) is written directly, never renamed over.
Report folders are built in a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def _special(p: Path) -> bool:
    """An existing target that is not a regular file or folder (a device, a FIFO, a socket)."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _name_limit(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def resolve_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` changes: a symlink is written through (its target replaced, the
    link kept), as cp and editors do."""
    p = Path(path)
    try:
        if p.is_symlink():
            return Path(os.path.realpath(p))
    except OSError:
        pass
    return p


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``path`` cannot be written (missing folder, no permission, a
    name too long for the file system). ``-`` is standard output."""
    if str(path) == "-":
        return Path("-")
    p = resolve_target(path)
    parent0 = p.parent if str(p.parent) else Path(".")
    if parent0.is_dir() and len(os.fsencode(p.name)) > _name_limit(parent0):
        raise OutputError(f"cannot write {str(path)[:80]}...: the file name is longer than the "
                          f"{_name_limit(parent0)} bytes this file system allows")
    try:
        return _check_writable(p)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write {str(path)[:200]}: {e.strerror}") from None


def _check_writable(p: Path) -> Path:
    if _special(p):
        if not os.access(p, os.W_OK):
            raise OutputError(f"cannot write {p}: not writable")
        return p
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: directory {parent} does not exist")
    if p.is_dir():
        raise OutputError(f"cannot write {p}: it is a directory")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {p}: directory {parent} is not writable")
    return p


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    if str(path) == "-":  # standard output, as for most command-line tools
        import sys

        try:
            if isinstance(data, bytes):
                sys.stdout.buffer.write(data)
            else:
                sys.stdout.write(data)
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError) as e:
            raise OutputError(f"cannot write to standard output: {e}") from None
        return Path("-")
    p = check_writable(path)  # through a symlink: its target
    mode = "wb" if isinstance(data, bytes) else "w"
    text_args = {} if mode == "wb" else {"encoding": "utf-8", "newline": ""}
    if _special(p):  # a device or FIFO: write to it, never replace it
        try:
            with open(p, mode, **text_args) as f:
                f.write(data)
        except OSError as e:
            raise OutputError(f"cannot write {p}: {e.strerror}") from None
        return p
    # the temporary name must fit the name limit too: a legal 255-byte name leaves no room for more
    room = _name_limit(p.parent if str(p.parent) else Path(".")) - len(".") - len(".XXXXXXXX.tmp")
    stem = os.fsdecode(os.fsencode(p.name)[:max(room, 1)]) if len(os.fsencode(p.name)) > room else p.name
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    try:
        with os.fdopen(fd, mode, **text_args) as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_not_input(output: str | os.PathLike | None, *inputs: str | os.PathLike | None) -> None:
    """Fail, before anything is written, when ``output`` is one of ``inputs`` (files, or models given as
    ``FILE:FACTORY``): the same path, a hard link to it, or a symlink to it. ``-`` and None are
    skipped, and so are inputs that are not files (a profile or model name)."""
    if output is None or str(output) == "-":
        return
    try:
        out = os.stat(output)  # follows a symlink: a write to it changes its target
    except OSError:
        return  # nothing there yet: it cannot be an input
    for i in inputs:
        if i is None or str(i) == "-":
            continue
        try:
            st = os.stat(i)
        except OSError:  # a model given as FILE:FACTORY (or onnx:FILE, tflite:FILE): its file
            try:
                text = str(i)
                st = (os.stat(text.partition(":")[2]) if text.startswith(("onnx:", "tflite:")) else
                      os.stat(text.rpartition(":")[0]) if ":" in text else None)
            except OSError:
                st = None
        if st is not None and _same_file(out, st):
            raise OutputError(f"output {output} is the input {i}: writing it would replace the input; "
                              f"give another output")


def write_entry(path: str | os.PathLike, data: bytes) -> Path:
    """Write a cache entry: never through a symlink or into anything but a regular file (a FIFO there
    would hang the write). The temporary file is created with O_EXCL|O_NOFOLLOW in the same folder
    and renamed over ``path`` (a rename replaces a link itself, never its target)."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"cannot write {p}: it is a symlink or not a regular file; left alone")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    tmp = p.parent / f".{p.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, flags, 0o644)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def read_entry(path: str | os.PathLike) -> bytes | None:
    """The bytes of a cache entry, or None where there is none. Anything at ``path`` that is not a
    regular file (a symlink, a FIFO, a device) is never opened: :class:`OutputError`."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{p} is a symlink or not a regular file; ignored")
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the lstat
            raise OutputError(f"{p} is not a regular file; ignored")
        return f.read()


def check_report_folder(path: str | os.PathLike) -> Path:
    """Fail early if ``path`` cannot become a report folder."""
    p = Path(path)
    if str(path) == "-":
        raise OutputError("a report folder cannot be standard output: give -o FOLDER")
    parent = p.parent if str(p.parent) else Path(".")
    if p.exists() and not p.is_dir():
        raise OutputError(f"cannot write the report to {p}: it exists and is not a folder")
    if not parent.is_dir():
        raise OutputError(f"cannot write the report to {p}: {parent} does not exist")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process (or cannot tell): alive
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporary folders (``.NAME.PID.XXXXXXXX.tmp``/``.old``) that report runs for
    ``target`` left behind when they were killed: only those whose process is gone."""
    import re

    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]{{8}}\.(tmp|old)")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for e in entries:
        m = pattern.fullmatch(e.name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        if e.is_dir() and not e.is_symlink():
            shutil.rmtree(e, ignore_errors=True)
            removed.append(e)
    return removed


@contextlib.contextmanager
def report_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of ``path`` to build a report in; renamed to ``path`` when the block ends
    without error (replacing an older report there, whose other files are kept), removed otherwise."""
    p = check_report_folder(path)
    remove_stale_temporaries(p)
    try:  # the pid in the name: a later report removes the folder if this process is killed
        tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=p.parent if str(p.parent) else "."))
    except OSError as e:
        raise OutputError(f"cannot write the report to {p}: {e.strerror}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        old = None
        if p.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".old", dir=tmp.parent))
            os.replace(p, old / p.name)
        try:
            os.replace(tmp, p)
        except OSError:
            if old is not None:
                os.replace(old / p.name, p)  # put the older report back
            raise
        if old is not None:
            # files of the old folder that the new report does not write (a user's notes, the profiles
            # the report was made with) move over; only then is the old folder removed
            for entry in (old / p.name).iterdir():
                if not (p / entry.name).exists():
                    os.replace(entry, p / entry.name)
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the report to {p}: {e.strerror}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
