"""Per-layer measured latency: ``torch.profiler`` op times attributed to the trace's rows.

Each aten op's time (CPU time on cpu, the device time of its kernels on cuda) is attributed to
the innermost module scope it ran in and matched in order to the trace's rows of that module.
Synchronised hooks are not used: they add ~80 µs per layer on a GPU.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..engine import Analysis

LAYER_COLUMNS = ["model", "name", "op", "macs", "predicted_us", "measured_us"]


def device_sync(device: str) -> Callable[[], None]:
    """What waits for ``device``'s queued work: ``torch.cuda.synchronize`` on cuda, nothing elsewhere."""
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what the profiler's native library prints on file descriptor 2 (start/stop lines)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _base(aten: str) -> str:
    """``aten.conv2d.default`` / ``aten::conv2d`` -> ``conv2d``."""
    return aten.replace("aten::", "").replace("aten.", "").split(".")[0]


def profile_layers(model: nn.Module, x: torch.Tensor, runs: int, device: str) -> dict[str, list[tuple[str, float]]]:
    """Per module scope, the (aten op, median seconds) of each op it ran, in order, from ``torch.profiler``.

    Each module's forward is wrapped in a ``record_function`` scope by pre/post
    hooks (no synchronisation); an op belongs to its innermost scope.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {id(m): (n or "(model)") for n, m in model.named_modules()}
    open_scopes: list[Any] = []

    def pre(mod: nn.Module, _args: Any) -> None:
        r = record_function(f"roofline::{names[id(mod)]}")
        r.__enter__()
        open_scopes.append(r)

    def post(mod: nn.Module, _args: Any, _out: Any) -> None:
        open_scopes.pop().__exit__(None, None, None)

    handles = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    try:
        model(x)
        device_sync(device)()
        with _quiet_native_stderr(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Profiler clears events.*")
            with profile(activities=activities) as prof:
                for _ in range(runs):
                    model(x)
                device_sync(device)()
    finally:
        for h in handles:
            h.remove()
    samples: dict[str, list[list[tuple[str, float]]]] = {}
    current: dict[str, list[tuple[str, float]]] = {}
    for ev in prof.events():
        parent = ev.cpu_parent
        if parent is None or not parent.name.startswith("roofline::") or ev.name.startswith("roofline::"):
            continue
        scope = parent.name[len("roofline::"):]
        secs = (ev.device_time_total if device == "cuda" else ev.cpu_time_total) / 1e6
        current.setdefault(scope, []).append((ev.name, secs))
    # split each scope's ops into the runs (every run executes the same ops in the same order)
    out: dict[str, list[tuple[str, float]]] = {}
    for scope, ops in current.items():
        per_run = len(ops) // runs if runs else 0
        if per_run == 0 or len(ops) % runs:
            continue
        samples[scope] = [ops[i * per_run:(i + 1) * per_run] for i in range(runs)]
        out[scope] = [(samples[scope][0][j][0], statistics.median(r[j][1] for r in samples[scope]))
                      for j in range(per_run)]
    return out


def match_layers(a: Analysis, scopes: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Pair the analysis rows with the profiled ops of their module, in order, by aten op name."""
    rows = []
    queues = {k: list(v) for k, v in scopes.items()}
    for r in a.layers.itertuples():
        scope = r.name.split("#")[0]
        q = queues.get(scope)
        if not q:
            continue
        want = _base(r.aten)
        while q and _base(q[0][0]) != want:
            q.pop(0)  # ops the trace has no row for (views, flatten, dropout)
        if q:
            _, secs = q.pop(0)
            rows.append({"model": a.model, "name": r.name, "op": r.op, "macs": int(r.macs),
                         "predicted_us": r.latency_s * 1e6, "measured_us": secs * 1e6})
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)
