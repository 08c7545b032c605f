"""Traces cached on disk, and many traces at once in parallel.

A trace depends only on the model, its input, its width, whether layers are
fused, and the versions of the code that built and counted it (the package
versions, and a hash of the counting code's source: an edited rule is a new
key); so a table of a thousand measurements is traced once, and every later fit
reads the counts back. Traces with per-call rules (``trace(..., rules=...)``)
never pass through this cache.

Entries are ``.npz`` files (read with ``allow_pickle=False``: a cache entry is
data, never code) under ``$ROOFLINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/roofline``,
else ``~/.cache/roofline``; ``ROOFLINE_CACHE_DIR=off`` turns the cache off. A
cache that cannot be read or written is a warning, never an error: the trace
is then computed. Entries are written through a new file and a rename, never
through a symlink or into a FIFO or device (the keys are predictable, and the
folder may be shared). The folder is kept under :data:`MAX_MB` (256 MB, or
``$ROOFLINE_CACHE_MAX_MB``): the entries used least recently are removed first.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import json
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import CacheWarning, RooflineError
from ..core.interrupts import die_with_parent
from ..core.io import read_entry, write_entry
from .table import COLUMNS, LayerTable

FORMAT = 1  # bump when the entry layout changes (a change of the counting code changes rules_hash)
# the modules whose source decides a trace's counts: the rules, how ops are recorded and grouped into
# rows, the op kinds they name, and the zoo's model definitions (library models: their versions)
COUNTING_MODULES = ("roofline.trace.rules", "roofline.trace.recorder", "roofline.trace.layers",
                    "roofline.trace.api", "roofline.trace.table", "roofline.core.taxonomy",
                    "roofline.zoo.blocks", "roofline.zoo.builder", "roofline.zoo.specs", "roofline.zoo.registry",
                    "roofline.zoo.libraries")
_STRING_COLUMNS = ("name", "op", "in_shape", "out_shape", "kernel", "stride", "fused", "aten")
_INT_COLUMNS = ("groups", "macs", "params", "weight_elems", "in_elems", "out_elems")
MAX_MB = 256  # the default size cap of the trace cache; ROOFLINE_CACHE_MAX_MB overrides it


@dataclass(frozen=True)
class TraceRequest:
    """One trace: a model name (zoo, ``timm:``, ``torchvision:``) at an input size, width and fusion."""

    model: str
    resolution: int | None = None
    batch: int = 1
    width: float | None = None
    fuse: bool = True


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    env = os.environ.get("ROOFLINE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env) / "traces"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "roofline" / "traces"


@cache
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("roofline", "torch", "timm", "torchvision"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out


@cache
def rules_hash() -> str:
    """A hash of the source of the counting code (:data:`COUNTING_MODULES`), computed once per process."""
    h = hashlib.sha256()
    for name in COUNTING_MODULES:
        module = importlib.import_module(name)
        source = module.__loader__.get_source(name) if module.__loader__ is not None else None
        if source is None:  # no source to read (a bytecode-only install): its compiled code instead
            source = Path(module.__file__).read_bytes().hex() if getattr(module, "__file__", None) else name
        h.update(name.encode() + b"\0" + source.encode() + b"\0")
    return h.hexdigest()[:16]


def cache_key(req: TraceRequest) -> str:
    """A hash of everything the trace depends on: the request, the entry format, the versions and the
    counting code's source (:func:`rules_hash`)."""
    doc = {"model": req.model, "resolution": req.resolution, "batch": req.batch, "width": req.width,
           "fuse": req.fuse, "format": FORMAT, "rules": rules_hash(), **_versions()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _is_file_model(model: str) -> bool:
    from .graph_file import is_graph_file

    return is_graph_file(model)


def _warn(message: str) -> None:
    warnings.warn(CacheWarning(message), stacklevel=3)


def load(req: TraceRequest, folder: Path | None = None) -> LayerTable | None:
    """The cached trace, or None (missing, or unreadable: then a warning, and the entry is ignored). ONNX files
    are never cached: the file is its own record (and may change under the same name); reading it is quick."""
    folder = cache_dir() if folder is None else folder
    if folder is None or _is_file_model(req.model):
        return None
    path = folder / f"{cache_key(req)}.npz"
    try:
        data = read_entry(path)  # never opens a symlink, FIFO or device
        if data is None:
            return None
        _touch(path)
        import io

        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            cols = {c: z[c] for c in COLUMNS}
        if meta.get("request") != [req.model, req.resolution, req.batch, req.width, req.fuse]:
            raise ValueError("the entry is for another trace")
        n = {len(v) for v in cols.values()}
        if len(n) != 1:
            raise ValueError("columns of different lengths")
        df = pd.DataFrame({c: (cols[c].astype(str) if c in _STRING_COLUMNS else cols[c]) for c in COLUMNS})
        df["memory_only"] = df["memory_only"].astype(bool)
        return LayerTable(meta["model"], tuple(meta["input_shape"]), bool(meta["fuse"]), df,
                          int(meta["model_params"]), {str(k): int(v) for k, v in meta["unsupported"].items()},
                          tuple(tuple(s) for s in meta["other_inputs"]), int(meta["folded_macs"]))
    except Exception as e:  # noqa: BLE001 - any damage to an entry means: ignore it, trace again
        _warn(f"trace cache entry {path} is unreadable ({type(e).__name__}: {str(e)[:120]}); ignored")
        return None


def store(req: TraceRequest, table: LayerTable, folder: Path | None = None) -> None:
    """Write the trace to the cache; a failure is a warning."""
    if _is_file_model(req.model):
        return
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return
    meta = {"request": [req.model, req.resolution, req.batch, req.width, req.fuse], "model": table.model,
            "input_shape": list(table.input_shape), "fuse": table.fuse, "model_params": int(table.model_params),
            "unsupported": table.unsupported, "other_inputs": [list(s) for s in table.other_inputs],
            "folded_macs": int(table.folded_macs)}
    df = table.layers
    arrays = {"meta": np.array(json.dumps(meta))}
    for c in COLUMNS:
        if c in _STRING_COLUMNS:
            arrays[c] = np.array([str(v) for v in df[c]], dtype=str) if len(df) else np.array([], dtype="<U1")
        elif c in _INT_COLUMNS:
            arrays[c] = df[c].to_numpy(np.int64)
        else:
            arrays[c] = df[c].to_numpy(bool)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_entry(folder / f"{cache_key(req)}.npz", buf.getvalue())
    except (OSError, RooflineError) as e:
        _warn(f"cannot write the trace cache in {folder} ({e}); traces are not kept")
        return
    _added(folder, len(buf.getvalue()))


def _touch(path: Path) -> None:
    """Mark an entry as used now (its mtime: the cache's least-recently-used order)."""
    try:
        os.utime(path, follow_symlinks=False)
    except (OSError, NotImplementedError):
        pass


def max_bytes() -> int:
    """The size cap of the trace cache in bytes: ``$ROOFLINE_CACHE_MAX_MB`` (megabytes, 10**6 bytes),
    else :data:`MAX_MB`. A value that is not a non-negative number is a warning, and the default."""
    env = os.environ.get("ROOFLINE_CACHE_MAX_MB")
    if env is None or not env.strip():
        return MAX_MB * 10**6
    try:
        mb = float(env)
        if not (mb >= 0 and mb != float("inf")):
            raise ValueError
    except ValueError:
        _warn(f"ROOFLINE_CACHE_MAX_MB={env[:40]!r} is not a size in MB; using {MAX_MB}")
        return MAX_MB * 10**6
    return int(mb * 10**6)


def entries(folder: Path | None = None) -> list[tuple[Path, int, float]]:
    """The cache's entries as (path, size in bytes, last use), regular files only."""
    import stat

    folder = cache_dir() if folder is None else folder
    out = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                if not e.name.endswith(".npz"):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out.append((Path(e.path), st.st_size, st.st_mtime))
    except (OSError, TypeError):
        return []
    return out


_size: dict[Path, int] = {}  # per folder: the bytes this process thinks it holds (None: not looked yet)


def _added(folder: Path, n: int) -> None:
    """After a write: remove the least recently used entries once the folder is over its cap. The
    folder is listed on the first write of a process and again only when the running total passes
    the cap."""
    total = _size.get(folder)
    total = sum(size for _, size, _ in entries(folder)) if total is None else total + n
    cap = max_bytes()
    if total > cap:
        total = prune(folder, cap)
    _size[folder] = total


def prune(folder: Path | None = None, cap: int | None = None) -> int:
    """Remove the least recently used entries until the folder holds at most 80 % of ``cap`` bytes
    (default :func:`max_bytes`); returns the bytes left."""
    folder = cache_dir() if folder is None else folder
    cap = max_bytes() if cap is None else cap
    found = sorted(entries(folder), key=lambda e: e[2])
    total = sum(size for _, size, _ in found)
    if total <= cap:
        return total
    for path, size, _ in found:
        if total <= cap * 0.8:
            break
        try:
            path.unlink()
            total -= size
        except FileNotFoundError:
            total -= size
        except OSError:
            pass
    return total


def clear(folder: Path | None = None) -> tuple[int, int]:
    """Remove every entry (and temporary file) of the trace cache; returns (entries, bytes) removed."""
    folder = cache_dir() if folder is None else folder
    if folder is None:
        return 0, 0
    n = size = 0
    for path, b, _ in entries(folder):
        try:
            path.unlink()
            n, size = n + 1, size + b
        except OSError:
            pass
    try:
        for e in folder.iterdir():
            if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file() and not e.is_symlink():
                e.unlink(missing_ok=True)
    except OSError:
        pass
    _size.pop(folder, None)
    return n, size


def trace_request(req: TraceRequest, use_cache: bool = True) -> LayerTable:
    """The trace of ``req``: from the cache where it is there, else traced (and stored)."""
    from .api import trace

    table = load(req) if use_cache else None
    if table is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unsupported ops are reported through table.unsupported
            table = trace(req.model, resolution=req.resolution, batch=req.batch, width=req.width, fuse=req.fuse)
        if use_cache:
            store(req, table)
    return table


def _worker(req: TraceRequest, use_cache: bool) -> tuple[LayerTable | None, str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        try:
            return trace_request(req, use_cache), "", [str(w.message) for w in caught]
        except RooflineError as e:
            return None, str(e), [str(w.message) for w in caught]
        except Exception as e:  # noqa: BLE001 - a library model's own failure: this row's error
            return None, f"{req.model}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", []


def trace_many(requests: Sequence[TraceRequest], jobs: int = 1, use_cache: bool = True,
               progress: Callable[[str], None] | None = None) -> list[LayerTable | str]:
    """Trace every request (each distinct one once), ``jobs`` at a time; a trace that fails gives its
    error message in its place. Cache warnings are re-issued here, once per message."""
    unique = list(dict.fromkeys(requests))
    results: dict[TraceRequest, LayerTable | str] = {}
    seen: set[str] = set()

    def take(req: TraceRequest, res: tuple[LayerTable | None, str, list[str]]) -> None:
        table, error, warned = res
        for w in warned:
            if w not in seen:
                seen.add(w)
                _warn(w)
        results[req] = table if table is not None else error
        if progress:
            progress(req.model)

    pending = []
    for req in unique:  # cached entries are read here, without starting workers
        table = load(req) if use_cache else None
        if table is not None:
            take(req, (table, "", []))
        else:
            pending.append(req)
    if jobs <= 1 or len(pending) <= 1:
        for req in pending:
            take(req, _worker(req, use_cache))
    else:
        # fork where there is one: workers start with torch imported, and a script or notebook that
        # calls this is not re-imported (spawn and forkserver re-run an unguarded __main__)
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with warnings.catch_warnings(), concurrent.futures.ProcessPoolExecutor(
                max_workers=min(jobs, len(pending)), mp_context=ctx, initializer=die_with_parent,
                initargs=(os.getpid(),)) as pool:  # a killed fit leaves no worker running
            warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads running
            futures = {pool.submit(_worker, req, use_cache): req for req in pending}
            for f in concurrent.futures.as_completed(futures):
                take(futures[f], f.result())
    return [results[r] for r in requests]
