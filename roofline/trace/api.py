"""``roofline.trace``: count MACs, weights and activations of any model, layer by layer."""

from __future__ import annotations

import functools
import gc
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from .. import checks
from ..errors import TraceError, UnsupportedOpError, describe_exception
from ..interrupts import Terminated, is_real
from ..zoo import build_model, model_card, model_name, resolve
from .layers import build_rows
from .recorder import ModuleScope, Recorder, _tensors
from .table import COLUMNS, LayerTable

ModelLike = str | nn.Module


def input_shape_for(model: ModelLike, input_shape: Sequence[int] | None = None,
                    resolution: int | Sequence[int] | None = None, batch: int = 1,
                    width: float | None = None) -> tuple[int, ...]:
    """The (N, C, H, W) input shape a trace uses, validated (sizes checked before anything is built)."""
    batch = checks.integer(batch, "batch", 1, checks.MAX_BATCH)
    if input_shape is not None:
        if resolution is not None:
            raise TraceError("give input_shape or resolution, not both")
        if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
            raise TraceError(f"input shape must be a sequence of integers, got {checks.show(input_shape)}")
        if not input_shape:
            raise TraceError("input shape is empty")
        shape = tuple(checks.integer(s, "input shape entries", 1) for s in input_shape)
        if isinstance(model, str) and (len(shape) != 4 or shape[1] != 3):
            raise TraceError(f"input shape for {model!r} must be (N, 3, H, W), got {shape} "
                             f"(rank {len(shape)})")
        checks.input_elements(shape)
        return shape
    if resolution is None:
        if not isinstance(model, str):
            raise TraceError("give input_shape or resolution for a user model")
        resolution = model_card(model, width).resolution
    res = (resolution, resolution) if not isinstance(resolution, Sequence) else tuple(resolution)
    if len(res) != 2:
        raise TraceError(f"resolution must be a positive integer or (H, W), got {checks.show(resolution)}")
    res = tuple(checks.integer(r, "resolution", 1, checks.MAX_RESOLUTION) for r in res)
    shape = (batch, 3) + res
    checks.input_elements(shape)
    return shape


def trace(model: ModelLike, input_shape: Sequence[int] | None = None, *,
          resolution: int | Sequence[int] | None = None, batch: int = 1, width: float | None = None,
          fuse: bool = True, strict: bool = False) -> LayerTable:
    """Trace ``model`` (a zoo name or any ``nn.Module``) on the meta device.

    Returns a :class:`LayerTable` with one row per deployed layer (``fuse=True``)
    or per aten op. No real compute runs and no weights are allocated. Ops
    without a counting rule are listed in ``table.unsupported``; with
    ``strict=True`` they raise :class:`UnsupportedOpError`.
    Zoo traces are cached per (model, width, input shape, fuse) within a process.
    """
    if not isinstance(model, (str, nn.Module)):
        raise TraceError(f"model must be a zoo name or a torch.nn.Module, got {type(model).__name__}")
    checks.flag(fuse, "fuse")
    checks.flag(strict, "strict")
    shape = input_shape_for(model, input_shape, resolution, batch, width)
    if isinstance(model, str):
        base, w = resolve(model, width)
        table = _trace_zoo(base, w, shape, fuse)
    else:
        table = _trace_module(model, shape, fuse, type(model).__name__)
    if strict and table.unsupported:
        ops = ", ".join(f"{k} (x{v})" for k, v in table.unsupported.items())
        raise UnsupportedOpError(f"no counting rule for: {ops}")
    return table


def _no_gc(fn):
    """Run ``fn`` with the cyclic garbage collector paused.

    Building and tracing allocate thousands of small objects; the collector's
    passes over them took about a third of the trace time. Nothing cyclic is
    left behind that outlives the call for long.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


@functools.lru_cache(maxsize=64)
@_no_gc
def _trace_zoo(base: str, width: float, shape: tuple[int, ...], fuse: bool) -> LayerTable:
    model = build_model(base, width, device="meta")
    return _run(model, model, None, shape, fuse, model_name(base, width))


@_no_gc
def _trace_module(model: nn.Module, shape: tuple[int, ...], fuse: bool, name: str) -> LayerTable:
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    on_meta = all(t.is_meta for t in (*params.values(), *buffers.values()))
    state = None
    if not on_meta:  # swap in meta stand-ins: no real compute, the user's module is not touched
        state = {k: torch.empty_like(v, device="meta") for k, v in (*params.items(), *buffers.items())}
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        return _run(model, model, state, shape, fuse, name)
    finally:
        for m, training in modes:
            m.training = training


def _run(model: nn.Module, owner: nn.Module, state: dict | None, shape: tuple[int, ...],
         fuse: bool, name: str) -> LayerTable:
    if state is None:
        named = [(n, t, True) for n, t in owner.named_parameters()]
        named += [(n, t, False) for n, t in owner.named_buffers()]
    else:
        param_names = {n for n, _ in owner.named_parameters()}
        named = [(n, t, n in param_names) for n, t in state.items()]
    weights = {id(t): (t.numel(), is_param, n) for n, t, is_param in named}
    model_params = sum(t.numel() for _, t, is_param in named if is_param)
    rec = Recorder(weights)
    x = torch.empty(shape, device="meta")
    try:
        with torch.inference_mode(), ModuleScope(rec, model), rec:
            if state is None:
                out = model(x)
            else:
                out = torch.func.functional_call(model, state, (x,))
    except TraceError:
        raise
    except BaseException as e:  # the model's own code: any exception is this model's error
        if isinstance(e, (KeyboardInterrupt, Terminated)) and is_real(e):
            raise
        raise TraceError(f"{name} failed on input shape {tuple(shape)}: {describe_exception(e)}") from e
    outs = _tensors(out if isinstance(out, (list, tuple)) else (out,))
    if isinstance(out, dict):
        outs = _tensors(tuple(out.values()))
    rows = build_rows(rec.events, rec.roots, [rec.key(o) for o in outs], fuse)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return LayerTable(name, tuple(shape), fuse, df, model_params, dict(rec.unsupported))
