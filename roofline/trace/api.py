"""``roofline.trace``: count MACs, weights and activations of any model, layer by layer."""

from __future__ import annotations

import collections
import dataclasses
import functools
import gc
import warnings
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from ..core import checks
from ..core.errors import TraceError, UnsupportedOpError, UnsupportedOpWarning, describe_exception
from ..core.interrupts import Terminated, is_real
from ..zoo import build_model, model_name, native_resolution, resolve
from .layers import build_rows
from .recorder import ModuleScope, Recorder, _tensors, rule_table
from .rules import RULES, DataDependentOpError, Rule
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
        resolution = native_resolution(model, width)
    res = (resolution, resolution) if not isinstance(resolution, Sequence) else tuple(resolution)
    if len(res) != 2:
        raise TraceError(f"resolution must be a positive integer or (H, W), got {checks.show(resolution)}")
    res = tuple(checks.integer(r, "resolution", 1, checks.MAX_RESOLUTION) for r in res)
    shape = (batch, 3) + res
    checks.input_elements(shape)
    return shape


Inputs = tuple[tuple[tuple[int, ...], ...], tuple[tuple[str, tuple[int, ...]], ...], tuple[str, ...]]


def _is_shape(v: object) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes)) and all(
        not isinstance(x, (Sequence, torch.Tensor, dict)) for x in v)


def model_inputs(input_shape: object) -> Inputs | None:
    """Several inputs: a tuple of shapes, ``(shape, dtype)`` pairs or example tensors (positional), or a
    dict of them (by name). A bare shape is float32; token ids need ``((1, 77), torch.long)``.

    Returns (positional shapes, named shapes, dtypes in that order), or None for a single shape.
    """
    def one(v: object, what: str) -> tuple[tuple[int, ...], str]:
        if isinstance(v, torch.Tensor):
            return tuple(v.shape), str(v.dtype).replace("torch.", "")
        if (isinstance(v, Sequence) and not isinstance(v, (str, bytes)) and len(v) == 2 and _is_shape(v[0])
                and isinstance(v[1], (str, torch.dtype))):
            dt = v[1] if isinstance(v[1], torch.dtype) else getattr(torch, str(v[1]), None)
            if not isinstance(dt, torch.dtype):
                raise TraceError(f"{what}: unknown dtype {checks.show(v[1])}; use a torch dtype such as "
                                 f"torch.long or 'int64'")
            return one(v[0], what)[0], str(dt).replace("torch.", "")
        if not _is_shape(v) or not v:
            raise TraceError(f"{what} must be a shape (a sequence of integers) or an example tensor, "
                             f"got {checks.show(v)}")
        shape = tuple(checks.integer(s, f"{what} entries", 1) for s in v)
        checks.input_elements(shape, what)
        return shape, "float32"

    if isinstance(input_shape, torch.Tensor) or (
            isinstance(input_shape, Sequence) and len(input_shape) == 2 and _is_shape(input_shape[0])
            and isinstance(input_shape[1], (str, torch.dtype))):  # one tensor, or one (shape, dtype)
        s, dt = one(input_shape, "input")
        return (s,), (), (dt,)
    if isinstance(input_shape, dict):
        named = [(str(k), *one(v, f"input {k!r}")) for k, v in input_shape.items()]
        if not named:
            raise TraceError("input shapes: the dict is empty")
        return (), tuple((k, s) for k, s, _ in named), tuple(dt for _, _, dt in named)
    if isinstance(input_shape, Sequence) and not isinstance(input_shape, (str, bytes)) and input_shape and \
            not _is_shape(input_shape):
        pos = [one(v, f"input {i}") for i, v in enumerate(input_shape)]
        return tuple(s for s, _ in pos), (), tuple(dt for _, dt in pos)
    return None


def trace(model: ModelLike, input_shape: Sequence[int] | None = None, *,
          resolution: int | Sequence[int] | None = None, batch: int = 1, width: float | None = None,
          fuse: bool = True, strict: bool = False, rules: Mapping[object, Rule] | None = None) -> LayerTable:
    """Trace ``model`` (a zoo name or any ``nn.Module``) on the meta device.

    Returns a :class:`LayerTable` with one row per deployed layer (``fuse=True``)
    or per aten op. No real compute runs and no weights are allocated, and a
    user's module is left as it was, also when the trace fails. ``input_shape``
    is one shape, or for a model with several inputs a tuple of shapes or example
    tensors (positional) or a dict of them (by name). Ops without a counting rule
    are listed in ``table.unsupported`` and warned about (``UnsupportedOpWarning``,
    once per trace); with ``strict=True`` they raise :class:`UnsupportedOpError`.
    ``rules`` (``{torch.ops.aten.linear: fn}``) counts those ops with ``fn`` in this trace only, over
    the registered rules (see :func:`roofline.trace.rule`); ``fn`` takes the op's arguments and returns
    a :class:`Count`. Zoo traces are cached per (model, width, input shape, fuse) within a process
    (not those with ``rules``); each call returns a table of its own.

    An ONNX file (a path ending in ``.onnx``, or ``onnx:PATH``) or a TFLite file (``.tflite``, ``tflite:PATH``)
    is read into the same table (:func:`roofline.trace.onnx_graph.trace_onnx`,
    :func:`roofline.trace.tflite_graph.trace_tflite`): ``input_shape`` pins its symbolic dimensions, else
    ``batch`` and ``resolution`` pin a dynamic batch, height and width.
    """
    from .graph_file import graph_format, label

    fmt = graph_format(model)
    if fmt is not None:
        if rules is not None:
            raise TraceError(f"rules= counts the aten ops of a PyTorch trace; {label(fmt)} file has none")
        if fmt == "tflite":
            from .tflite_graph import trace_tflite as read
        else:
            from .onnx_graph import trace_onnx as read
        return read(model, input_shape, resolution=resolution, batch=batch, width=width, fuse=fuse, strict=strict)
    if not isinstance(model, (str, nn.Module)):
        raise TraceError(f"model must be a zoo name or a torch.nn.Module, got {type(model).__name__}")
    checks.flag(fuse, "fuse")
    checks.flag(strict, "strict")
    table = rule_table(rules)
    if isinstance(model, nn.Module):
        from .user_model import user_output

        with user_output():  # a user's forward may print: keep stdout for our output
            return _trace(model, input_shape, resolution, batch, width, fuse, strict, table)
    return _trace(model, input_shape, resolution, batch, width, fuse, strict, table)


def _trace(model: ModelLike, input_shape, resolution, batch, width, fuse: bool, strict: bool,
           rules: Mapping[object, Rule]) -> LayerTable:
    inputs = model_inputs(input_shape) if isinstance(model, nn.Module) and input_shape is not None else None
    if inputs is not None:
        if resolution is not None:
            raise TraceError("give input_shape or resolution, not both")
        table = _trace_module(model, inputs, fuse, type(model).__name__, rules)
    else:
        shape = input_shape_for(model, input_shape, resolution, batch, width)
        if isinstance(model, str):
            base, w = resolve(model, width)
            if rules is RULES:  # the registry's counts: cached (a copy, so a caller's edits stay theirs)
                table = _own_copy(_trace_zoo(base, w, shape, fuse))
            else:
                table = _build_zoo(base, w, shape, fuse, rules)
        else:
            table = _trace_module(model, ((shape,), (), ("float32",)), fuse, type(model).__name__, rules)
    if table.unsupported:
        ops = ", ".join(f"{k} (x{v})" for k, v in table.unsupported.items())
        if strict:
            raise UnsupportedOpError(f"no counting rule for: {ops}")
        warnings.warn(UnsupportedOpWarning(f"{table.model}: no counting rule for {ops}; counted as 0 MACs"),
                      stacklevel=2)
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


# pandas 3 copies on write: there a shallow copy is a lazy one (edits of either copy its data first)
_LAZY_COPY = int(pd.__version__.split(".")[0]) >= 3


def _own_copy(table: LayerTable) -> LayerTable:
    """A cached table with its mutable parts (the DataFrame, ``unsupported``) copied."""
    return dataclasses.replace(table, layers=table.layers.copy(deep=not _LAZY_COPY),
                               unsupported=dict(table.unsupported))


@_no_gc
def _build_zoo(base: str, width: float, shape: tuple[int, ...], fuse: bool,
               rules: Mapping[object, Rule]) -> LayerTable:
    model = build_model(base, width, device="meta")
    return _run(model, model, None, ((shape,), (), ("float32",)), fuse, model_name(base, width), rules)


@functools.lru_cache(maxsize=64)
def _trace_zoo(base: str, width: float, shape: tuple[int, ...], fuse: bool) -> LayerTable:
    """The zoo trace with the registered rules; shared: callers get :func:`_own_copy` of it."""
    return _build_zoo(base, width, shape, fuse, RULES)


def _meta_clone(model: nn.Module) -> nn.Module:
    """A copy of ``model``'s module tree whose parameters and buffers are meta stand-ins, built without
    touching ``model`` (other threads may be tracing or running it): each module is a new object of its
    class with its own attribute dicts; modules and tensors it refers to (in attributes, lists, tuples
    and dicts) are their copies and stand-ins; other objects are shared, not copied (no weights are
    copied, and a deepcopy of a large model took as long as its trace)."""
    memo: dict[int, object] = {}
    for m in model.modules():
        for t in (*m._parameters.values(), *m._buffers.values()):
            if t is not None and id(t) not in memo:
                meta = torch.empty_like(t, device="meta")
                memo[id(t)] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    for m in model.modules():
        memo[id(m)] = object.__new__(type(m))

    def remap(v: object, depth: int = 0) -> object:
        if id(v) in memo:
            return memo[id(v)]
        if depth < 4 and type(v) in (list, tuple, dict, collections.OrderedDict):
            if isinstance(v, dict):
                return type(v)((k, remap(x, depth + 1)) for k, x in v.items())
            return type(v)(remap(x, depth + 1) for x in v)
        return v

    for m in model.modules():
        memo[id(m)].__dict__.update({k: remap(v) for k, v in m.__dict__.items()})
    return memo[id(model)]


@_no_gc
def _trace_module(model: nn.Module, inputs: Inputs, fuse: bool, name: str,
                  rules: Mapping[object, Rule]) -> LayerTable:
    """Trace a copy of ``model`` on the meta device (:func:`_meta_clone`): the user's module is never
    changed, so other threads can trace or run it at the same time."""
    clone = _meta_clone(model)
    clone.eval()
    return _run(clone, clone, None, inputs, fuse, name, rules)


def _describe_inputs(inputs: Inputs) -> str:
    """``input shape (1, 3, 224, 224)``, or for several inputs each with its dtype (a float where the
    model wants indices is the usual cause of a failure) and how to give another."""
    positional, named, dtypes = inputs
    items = [(f"input {i}", s) for i, s in enumerate(positional)] + [(f"input {k!r}", s) for k, s in named]
    if len(items) == 1 and dtypes[0] == "float32":
        return f"input shape {tuple(items[0][1])}"
    listed = ", ".join(f"{w} {tuple(s)} {dt}" for (w, s), dt in zip(items, dtypes))
    return (f"inputs {listed} (a shape alone is float32: give (shape, torch.long) or an example tensor "
            f"for token ids)")


def _run(model: nn.Module, owner: nn.Module, state: dict | None, inputs: Inputs,
         fuse: bool, name: str, rules: Mapping[object, Rule]) -> LayerTable:
    if state is None:
        named = [(n, t, True) for n, t in owner.named_parameters()]
        named += [(n, t, False) for n, t in owner.named_buffers()]
    else:
        param_names = {n for n, _ in owner.named_parameters()}
        named = [(n, t, n in param_names) for n, t in state.items()]
    # integer buffers are index tables (relative-position indices), not weights: gathers read them
    index = {id(t) for _, t, is_param in named if not is_param and not t.is_floating_point()}
    weights = {id(t): (t.numel(), is_param, n) for n, t, is_param in named if id(t) not in index}
    model_params = sum(t.numel() for _, t, is_param in named if is_param)
    rec = Recorder(weights, index, rules)
    positional, named_inputs, dtypes = inputs
    dts = iter(dtypes)
    args = tuple(torch.empty(s, device="meta", dtype=getattr(torch, next(dts))) for s in positional)
    kwargs = {k: torch.empty(s, device="meta", dtype=getattr(torch, next(dts))) for k, s in named_inputs}
    shape = positional[0] if positional else named_inputs[0][1]
    try:
        with torch.inference_mode(), ModuleScope(rec, model), rec:
            if state is None:
                out = model(*args, **kwargs)
            else:
                out = torch.func.functional_call(model, state, args, kwargs)
    except TraceError:
        raise
    except DataDependentOpError as e:
        raise TraceError(f"{name}: {e} is data-dependent (its output size depends on tensor values, which "
                         f"a trace on the meta device cannot know); trace the part before it") from None
    except BaseException as e:  # the model's own code: any exception is this model's error
        if isinstance(e, (KeyboardInterrupt, Terminated)) and is_real(e):
            raise
        raise TraceError(f"{name} failed on {_describe_inputs(inputs)}: {describe_exception(e)}") from e
    outs = _tensors(out if isinstance(out, (list, tuple)) else (out,))
    if isinstance(out, dict):
        outs = _tensors(tuple(out.values()))
    rows = build_rows(rec.events, rec.roots, [rec.key(o) for o in outs], fuse, rec.derived,
                      rec.written_into_views)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    extra = tuple(positional[1:]) + tuple(s for _, s in named_inputs[0 if positional else 1:])
    return LayerTable(name, tuple(shape), fuse, df, model_params, dict(rec.unsupported), extra,
                      rec.folded_macs)
