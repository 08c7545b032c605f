"""TFLite models: ``roofline.trace("model.tflite")`` (or ``"tflite:PATH"``) reads the graph into the same
:class:`~roofline.trace.table.LayerTable` a PyTorch trace gives, so every command that takes a model takes a
TFLite file.

- The file (:mod:`roofline.trace.tflite_read`): operators by their builtin code (the deprecated/extended rule:
  the larger of ``deprecated_builtin_code`` and ``builtin_code``), builtin options (strides, padding,
  ``depth_multiplier``, the fused activation), tensors with their types, buffers and quantization. A truncated
  or non-TFLite file, or a missing one: one :class:`TraceError` line.
- Inputs: a dynamic dimension of the signature (``-1``) is pinned from ``input_shape`` (one shape for the first
  input, a tuple of shapes, or a dict by input name; in the file's layout, NHWC), else a dynamic first
  dimension is the ``batch`` and a 4-d input's dynamic height and width are ``resolution``; any other dynamic
  dimension is an error naming the input. Where the inputs differ from the shapes stored in the file, LiteRT's
  interpreter resizes them and gives every tensor's shape (the table's ``shapes_from`` says which).
- Counting (:mod:`roofline.trace.tflite_rules`): one TFLite op is one layer, named from its output tensor; rows
  by :func:`roofline.trace.layers.build_rows`, as for PyTorch. Weights are the constant buffers an op reads as
  data (a buffer shared by several tensors or ops counted once, in the first row that reads it); the rows'
  counts are elements, and :meth:`TfliteLayerTable.own_bytes` gives the bytes by each tensor's own type (int8
  weights and activations 1 B, int32 biases 4 B). Ops without a rule are memory-only rows, listed in
  ``unsupported`` and, with their share of the graph's bytes, in ``unsupported_nodes``.
- Row shapes of 4-d tensors read NCHW, as PyTorch traces show them (the file stores NHWC; the taxonomy reads
  channels from dimension 1); ``input_shape`` is the file's own (NHWC), as ``--input-shape`` takes it.

``tflite`` (the flatbuffer schema) and ``ai-edge-litert`` (LiteRT, for resized inputs) are the ``tflite`` extra,
imported when a file is read.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..core.errors import TraceError
from .graph_file import (GraphLayerTable, check_call, frozen, given_shapes, graph_path, pin_shape,
                         report_unsupported)
from .layers import build_rows
from .recorder import Event
from .table import COLUMNS
from .tflite_read import DTYPE_NAMES, FUSED, INT32, ITEMSIZE, TfliteFile, load, numel, resized_shapes
from .tflite_rules import (ACT_SLOT, BIAS_SLOTS, COMPUTE, FLOAT_OR_INT8, INDEX_SLOTS, KINDS, MEMORY, SHAPE_OPS,
                           VIEWS, aten_name, compute_count, data_slots, layer_names)

PREFIX = "tflite:"


def is_tflite_model(model: object) -> bool:
    """Whether ``model`` names a TFLite file: ``tflite:PATH`` or a path ending in ``.tflite``."""
    from .graph_file import graph_format

    return graph_format(model) == "tflite"


@dataclass(frozen=True, repr=False)
class TfliteLayerTable(GraphLayerTable):
    """A :class:`GraphLayerTable` read from a TFLite file (``shapes_from``: the file, or LiteRT with the inputs
    resized)."""

    FORMAT: ClassVar[str] = "TFLite"

    version: int = 0  # the flatbuffer schema's version
    row_bytes: tuple[tuple[float, float, float], ...] = ()  # each row's (weight, in, out) bytes by the tensors' types
    quantization: str = ""  # float32, float16 weights, int8 (per-channel weights), ...

    def own_bytes(self) -> pd.DataFrame:
        """Each row's weight and activation bytes by its tensors' own element types (the rows' counts are
        elements: the engine's bytes are those of the target dtype)."""
        w, i, o = (list(c) for c in zip(*self.row_bytes)) if self.row_bytes else ([], [], [])
        return pd.DataFrame({"name": self.layers["name"], "weight_bytes": w, "in_bytes": i, "out_bytes": o})

    def _file_line(self) -> str:
        return (f"TFLite {self.path}: schema {self.version}, {self.quantization}, shapes from {self.shapes_from}; "
                f"row shapes NCHW (the file's NHWC)")


# --- inputs --------------------------------------------------------------------------------------------

def pin_inputs(f: TfliteFile, path: Path, input_shape: object, res: tuple[int, int] | None,
               batch: int) -> list[tuple[int, tuple[int, ...]]]:
    """(tensor index, shape) of every graph input, its dynamic dimensions pinned."""
    if not f.inputs:
        raise TraceError(f"{path}: the graph has no inputs")
    names = [f.tensors[i].name for i in f.inputs]
    given = given_shapes(input_shape, names, path)
    pinned = []
    for i, name in zip(f.inputs, names):
        t = f.tensors[i]
        dims = [d if d >= 0 else None for d in t.signature]
        shown = "x".join(str(d) if d is not None else "?" for d in dims)
        shape = pin_shape(path, name, dims, shown, given.get(name), batch, res, (1, 2), "convert the model")
        pinned.append((i, shape))
    return pinned


# --- the table -------------------------------------------------------------------------------------------

_CACHE: dict[tuple, TfliteLayerTable] = {}
_CACHE_SIZE = 16


def trace_tflite(model: str | os.PathLike, input_shape: object = None, *,
                 resolution: int | Sequence[int] | None = None, batch: int = 1, width: float | None = None,
                 fuse: bool = True, strict: bool = False) -> TfliteLayerTable:
    """The :class:`TfliteLayerTable` of a TFLite file (see the module docstring). One op is one layer whatever
    ``fuse`` says (the converter fused what the runtime fuses). Read once per file version and input within a
    process; each call returns a table of its own."""
    batch, fuse, strict, res = check_call(model, input_shape, resolution, batch, width, fuse, strict)
    path = graph_path(model)
    name = os.fspath(model)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, name, frozen(input_shape), res, batch, fuse)
    table = _CACHE.get(key)
    if table is None:
        table = _build(path, name, input_shape, res, batch, fuse)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = table
    table = replace(table, layers=table.layers.copy(), unsupported=dict(table.unsupported))
    report_unsupported(table.unsupported_nodes, name, strict)
    return table


def _nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _quantization(f: TfliteFile, weights: set[int], outs: list[int]) -> str:
    types = Counter(f.tensors[w].dtype for w in weights)
    acts = Counter(f.tensors[o].dtype for o in outs)
    if acts.get(9, 0) + acts.get(3, 0) > acts.get(0, 0):
        per = sum(f.tensors[w].per_channel for w in weights if f.tensors[w].dtype in (3, 9))
        n = sum(1 for w in weights if f.tensors[w].dtype in (3, 9))
        return f"int8 (weights per-channel in {per} of {n} tensors)" if n else "int8"
    if types.get(9, 0) or types.get(3, 0):
        return "float32, int8 weights (dynamic range)"
    if types.get(1, 0):
        return "float32, float16 weights"
    return DTYPE_NAMES.get(acts.most_common(1)[0][0], "float32") if acts else "float32"


def _build(path: Path, name: str, input_shape: object, res: tuple[int, int] | None, batch: int,
           fuse: bool) -> TfliteLayerTable:
    f = load(path)
    pinned = pin_inputs(f, path, input_shape, res, batch)
    T = f.tensors
    if all(T[i].shape == s and all(d >= 0 for d in T[i].signature[1:]) for i, s in pinned):
        shapes, source = {i: t.shape for i, t in enumerate(T)}, "the file"
    else:
        shapes, source = resized_shapes(path, f, pinned), "LiteRT (inputs resized)"
    static: dict[int, frozenset[int]] = {i: frozenset((i,)) for i, t in enumerate(T) if t.constant}
    alias: dict[int, tuple[int, int]] = {}
    key_numel = {i: numel(s) for i, s in pinned}
    kd = {i: T[i].dtype for i, _ in pinned}
    roots: dict[tuple, tuple[int, bool, str]] = {}
    root_tensor: dict[tuple, int] = {}
    events: list[Event] = []
    fused: list[str] = []
    unsupported: Counter = Counter()
    unsupported_events: list[int] = []
    folded_macs = 0
    names = layer_names([T[op.outputs[0]].name if op.outputs else "" for op in f.ops], [op.name for op in f.ops])

    def weight_keys(x: int) -> list[tuple]:
        out = []
        for r in sorted(static.get(x, ())):
            key = ("buffer", T[r].buffer)
            if key not in roots:
                roots[key] = (numel(shapes[r]), True, T[r].name)
                root_tensor[key] = r
            out.append(key)
        return out

    for k, op in enumerate(f.ops):
        ins = [x for x in op.inputs if x >= 0]
        if op.name in SHAPE_OPS:
            for o in op.outputs:
                static[o] = frozenset()
            continue
        if all(x in static for x in ins):  # constants and shapes only: folded (shape arithmetic, weights)
            if op.name in COMPUTE:
                try:
                    folded_macs += compute_count(op.name, op.options,
                                                 [shapes[x] if x >= 0 else () for x in op.inputs],
                                                 shapes[op.outputs[0]], True)[1]
                except (IndexError, ZeroDivisionError):
                    pass
            for o in op.outputs:
                static[o] = frozenset().union(*(static[x] for x in ins)) if ins else frozenset()
            continue
        if op.name in VIEWS and op.inputs[0] not in static:
            for o in op.outputs:
                alias[o] = alias.get(op.inputs[0], (op.inputs[0], 0))
            continue
        slots = data_slots(op.name, len(op.inputs))
        lead = ACT_SLOT.get(op.name, 0)
        order = [j for j in slots if j == lead] + [j for j in slots if j != lead]
        acts = [op.inputs[j] for j in order if op.inputs[j] >= 0 and op.inputs[j] not in static]
        weights: list[tuple] = []
        for j in slots:
            x = op.inputs[j]
            bias = j in BIAS_SLOTS.get(op.name, ())
            if x < 0 or x not in static or j in INDEX_SLOTS.get(op.name, ()):
                continue
            if (numel(shapes[x]) > 1 or bias) and (T[x].dtype in FLOAT_OR_INT8 or bias and T[x].dtype == INT32):
                weights += [w for w in weight_keys(x) if w not in weights]
        info: dict = {}
        macs = 0
        if op.name in COMPUTE:
            weight_b = len(op.inputs) > 1 and op.inputs[1] in static
            try:
                kind, macs, info = compute_count(op.name, op.options,
                                                 [shapes[x] if x >= 0 else () for x in op.inputs],
                                                 shapes[op.outputs[0]], weight_b)
            except (IndexError, ZeroDivisionError):
                raise TraceError(f"{path}: {op.name} {names[k]!r} has operands of shapes "
                                 f"{', '.join('x'.join(map(str, shapes[x])) for x in ins)}, which it cannot take: a "
                                 f"damaged TFLite model") from None
            category = "compute"
        elif op.name in KINDS:
            kind = KINDS[op.name]
            category = "memory" if op.name in MEMORY else "elementwise"
        else:
            kind, category = f"tflite.{op.name}", "unsupported"
            unsupported[kind] += 1
            unsupported_events.append(len(events))
        recs = []
        for o in op.outputs:
            key_numel[o] = n = numel(shapes[o])
            kd[o] = T[o].dtype
            recs.append((o, n, _nchw(shapes[o])))
        act_recs = []
        for x in acts:
            key, off = alias.get(x, (x, 0))
            n = numel(shapes[x])
            act_recs.append((key, min(n, key_numel.get(key, n)), _nchw(shapes[x]), off))
        events.append(Event(aten_name(op.name), kind, category, names[k], macs, act_recs, weights, recs, info))
        act = FUSED.get(op.options.get("FusedActivationFunction", 0))
        fused.append(act or "")
    finals = [alias.get(o, (o, 0))[0] for o in f.outputs if o not in static]
    df = pd.DataFrame(build_rows(events, roots, finals, False), columns=list(COLUMNS))

    # weights: a buffer counted once, in the first row that reads it; bytes by each tensor's own type
    read = set(finals) | {a[0] for ev in events for a in ev.acts}
    seen: set[tuple] = set()
    weight_elems, row_bytes, itemsize, dtypes = [], [], [], []
    total = 0.0
    for ev in events:
        new = [w for w in dict.fromkeys(ev.weights) if w not in seen]
        seen.update(new)
        n = sum(roots[w][0] for w in new)
        wb = sum(roots[w][0] * ITEMSIZE.get(T[root_tensor[w]].dtype, 4) for w in new)
        ib = sum(n_ * ITEMSIZE.get(kd.get(key, 0), 4) for (key, off), n_ in
                 {(a[0], a[3]): a[1] for a in ev.acts}.items())
        ob = sum(n_ * ITEMSIZE.get(kd.get(key, 0), 4) for key, n_, _ in ev.outs if key in read)
        weight_elems.append(n)
        row_bytes.append((wb, ib, ob))
        itemsize.append(wb / n if n else 4.0)
        out_type = kd.get(ev.outs[0][0], 0) if ev.outs else kd.get(ev.acts[0][0], 0) if ev.acts else 0
        w_type = T[root_tensor[ev.weights[0]]].dtype if ev.weights else 0
        dtypes.append((DTYPE_NAMES.get(out_type, "float32"), DTYPE_NAMES.get(w_type, "float32")))
        total += wb + ib + ob
    df["weight_elems"] = weight_elems
    df["fused"] = fused
    total = total or 1.0
    listed = tuple((events[i].module, events[i].op.removeprefix("tflite."), sum(row_bytes[i]) / total)
                   for i in unsupported_events)
    model_params = sum(r[0] for r in roots.values())
    return TfliteLayerTable(name, pinned[0][1], fuse, df, model_params, dict(unsupported),
                            tuple(s for _, s in pinned[1:]), folded_macs, path=str(path), version=f.version,
                            shapes_from=source, unsupported_nodes=listed, row_dtypes=tuple(dtypes),
                            weight_itemsize=tuple(itemsize), row_bytes=tuple(row_bytes),
                            quantization=_quantization(f, {root_tensor[w] for w in roots},
                                                     [o[0] for ev in events for o in ev.outs]))
