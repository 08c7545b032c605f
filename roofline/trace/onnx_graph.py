"""ONNX models: ``roofline.trace("model.onnx")`` (or ``"onnx:PATH"``) reads the graph into the same
:class:`~roofline.trace.table.LayerTable` a PyTorch trace gives, so every command that takes a model takes
an ONNX file.

- The file is checked before anything is counted: a truncated or non-ONNX file, an opset or IR version newer
  than the installed ``onnx`` reads, a missing or short external-data file (weights are never loaded: only
  their shapes are read), an input over the tracer's size limits: one :class:`TraceError` line each.
- Inputs: symbolic dimensions are pinned from ``input_shape`` (one shape for the first input, a tuple of
  shapes for several, or a dict by name); else a dynamic first dimension is the ``batch`` and a 4-d input's
  dynamic height and width are ``resolution``; any other dynamic dimension is an error naming the input.
- Shapes come from ``onnx.shape_inference.infer_shapes(..., data_prop=True)``; where it leaves tensors
  without one, from ONNX Runtime's symbolic shape inference, then from one ONNX Runtime run on zeros that
  exposes every value (the table's ``shapes_from`` says which).
- Counting: :mod:`roofline.trace.onnx_rules` and :mod:`roofline.trace.onnx_events`; rows by
  :func:`roofline.trace.layers.build_rows`, as for PyTorch. Ops without a rule are memory-only rows, listed
  in ``unsupported`` and, with their share of the graph's bytes, in ``unsupported_nodes``.
- Fusion is ONNX Runtime's (the runtime an ONNX file is deployed with): a single activation node after a conv
  or matmul (Relu, Clip, Sigmoid, HardSwish, ...) folds into it, as ONNX Runtime's ``Conv`` with an
  activation runs it; a composite activation written out (x * sigmoid(x), the Erf GELU) is one row of its
  own, as ONNX Runtime runs it as one ``QuickGelu`` or ``Gelu`` kernel after the conv (a PyTorch trace folds
  SiLU and GELU into the layer before them).

``onnx`` (and ``onnxruntime`` for the fallbacks) are the ``onnx`` extra, imported when a file is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..core.errors import TraceError, describe_exception
from .graph_file import GraphLayerTable, check_call, graph_format, graph_path, pin_shape, report_unsupported
from .graph_file import frozen as _frozen
from .graph_file import given_shapes as _given
from .layers import build_rows
from .onnx_events import count_graph, event_bytes, row_of_events
from .onnx_rules import DTYPE_NAMES, ITEMSIZE, Graph
from .onnx_shapes import infer, require_onnx
from .table import COLUMNS

MAX_FILE_BYTES = (1 << 31) - 1  # protobuf's limit on one message: larger models keep weights in external data


def is_onnx_model(model: object) -> bool:
    """Whether ``model`` names an ONNX file: ``onnx:PATH`` or a path ending in ``.onnx``."""
    return graph_format(model) == "onnx"


def onnx_path(model: str | os.PathLike) -> Path:
    """The ONNX file ``model`` names, checked to exist (before any work starts)."""
    if not is_onnx_model(model):
        raise TraceError(f"{os.fspath(model)!r} names no ONNX file (PATH.onnx or onnx:PATH)")
    return graph_path(model)


@dataclass(frozen=True, repr=False)
class OnnxLayerTable(GraphLayerTable):
    """A :class:`GraphLayerTable` read from an ONNX file."""

    FORMAT: ClassVar[str] = "ONNX"

    opset: int = 0

    def own_bytes(self) -> pd.DataFrame:
        """Each row's weight and activation bytes by its own element types (the rows' counts are elements:
        the engine's bytes are those of the target dtype)."""
        size = {v: ITEMSIZE[k] for k, v in DTYPE_NAMES.items()}
        a = [size.get(d, 4) for d, _ in self.row_dtypes]
        w = list(self.weight_itemsize)
        df = self.layers
        return pd.DataFrame({"name": df["name"], "weight_bytes": df["weight_elems"] * w,
                             "in_bytes": df["in_elems"] * a, "out_bytes": df["out_elems"] * a})

    def _file_line(self) -> str:
        return f"ONNX {self.path}: opset {self.opset}, shapes from {self.shapes_from}"


# --- reading and checking the file -----------------------------------------------------------------

def load(path: Path):
    """The model (its weights left on disk) and its external data files; every check of the file done."""
    onnx = require_onnx()
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TraceError(f"{path} is {size / 2**30:.1f} GiB; an ONNX file holds at most 2 GiB (larger models keep "
                         f"their weights in external data files)")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001  protobuf's DecodeError and whatever a damaged file raises
        raise TraceError(f"{path} is not an ONNX model, or is truncated ({describe_exception(e)})") from None
    if not model.graph.node or not model.opset_import:
        raise TraceError(f"{path} is not an ONNX model (no graph{' nodes' if model.opset_import else ''}), or is "
                         f"truncated")
    newest = onnx.defs.onnx_opset_version()
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > newest:
            raise TraceError(f"{path} uses ONNX opset {imp.version}, newer than the installed onnx "
                             f"{onnx.__version__} reads (opset {newest} at most): pip install -U onnx")
    if model.ir_version > onnx.IR_VERSION:
        raise TraceError(f"{path} has IR version {model.ir_version}, newer than the installed onnx "
                         f"{onnx.__version__} reads ({onnx.IR_VERSION} at most): pip install -U onnx")
    external = _check_external(model, path)
    try:
        onnx.checker.check_model(str(path))  # by path: external data is looked for beside the file
    except Exception as e:  # noqa: BLE001  onnx.checker.ValidationError and kin
        raise TraceError(f"{path} is not a valid ONNX model: {describe_exception(e)}") from None
    return model, external


def _tensors(model):
    yield from model.graph.initializer
    for node in model.graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t


def _check_external(model, path: Path) -> set[Path]:
    """Every external-data file exists and holds the bytes its tensors name (nothing is read from it); the
    files."""
    onnx = require_onnx()
    files = set()
    for t in _tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        where = info.get("location", "")
        f = path.parent / where
        if not where or not f.is_file():
            raise TraceError(f"{path}: the external data file {where or '(none named)'} of tensor {t.name!r} is "
                             f"missing (looked for {f})")
        try:
            end = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        except ValueError:
            raise TraceError(f"{path}: tensor {t.name!r} names its external data with a malformed offset or "
                             f"length") from None
        if end > f.stat().st_size:
            raise TraceError(f"{path}: the external data file {f} is truncated: tensor {t.name!r} needs bytes "
                             f"up to {end:,}, the file has {f.stat().st_size:,}")
        files.add(f)
    return files


# --- inputs --------------------------------------------------------------------------------------------

def pin_inputs(model, path: Path, input_shape: object, resolution: tuple[int, int] | None,
               batch: int) -> list[tuple[str, tuple[int, ...]]]:
    """Set every graph input's dimensions (in ``model``); return (name, shape) of each."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in inits]
    if not inputs:
        raise TraceError(f"{path}: the graph has no inputs")
    given = _given(input_shape, [vi.name for vi in inputs], path)
    pinned = []
    for vi in inputs:
        if not vi.type.HasField("tensor_type"):
            raise TraceError(f"{path}: input {vi.name!r} is not a tensor (sequences and maps are not read)")
        tt = vi.type.tensor_type
        ranked = tt.HasField("shape")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        shown = "x".join(str(d) if d is not None else (tt.shape.dim[i].dim_param or "?") for i, d in enumerate(dims))
        shape = pin_shape(path, vi.name, dims, shown, given.get(vi.name), batch, resolution, (2, 3),
                          "re-export the model", ranked)
        del tt.shape.dim[:]
        for s in shape:
            tt.shape.dim.add().dim_value = s
        pinned.append((vi.name, shape))
    return pinned



# --- the table -------------------------------------------------------------------------------------------

_CACHE: dict[tuple, tuple[OnnxLayerTable, tuple]] = {}  # and the external data files' states it was read with
_CACHE_SIZE = 16


def trace_onnx(model: str | os.PathLike, input_shape: object = None, *, resolution: int | Sequence[int] | None = None,
               batch: int = 1, width: float | None = None, fuse: bool = True, strict: bool = False) -> OnnxLayerTable:
    """The :class:`OnnxLayerTable` of an ONNX file (see the module docstring). Read once per file version,
    input and fusion within a process; each call returns a table of its own."""
    batch, fuse, strict, res = check_call(model, input_shape, resolution, batch, width, fuse, strict)
    path = onnx_path(model)
    name = os.fspath(model)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, name, _frozen(input_shape), res, batch, fuse)
    table, files = _CACHE.get(key, (None, ()))
    if table is None or any(_state(f) != s for f, s in files):
        table, external = _build(path, name, input_shape, res, batch, fuse)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (table, tuple((f, _state(f)) for f in external))
    table = replace(table, layers=table.layers.copy(), unsupported=dict(table.unsupported))
    report_unsupported(table.unsupported_nodes, name, strict)
    return table


def _state(f: Path) -> tuple[int, int] | None:
    try:
        st = f.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _build(path: Path, name: str, input_shape: object, res: tuple[int, int] | None, batch: int,
           fuse: bool) -> tuple[OnnxLayerTable, set[Path]]:
    model, external = load(path)
    pinned = pin_inputs(model, path, input_shape, res, batch)
    shapes, dtypes, values, source = infer(model, path, pinned)
    consts = {t.name for t in model.graph.initializer} | {
        n.output[0] for n in model.graph.node if n.op_type == "Constant" and n.output}
    g = Graph(list(model.graph.node), shapes, dtypes, consts, values, [n for n, _ in pinned],
              [o.name for o in model.graph.output])
    c = count_graph(g)
    df = pd.DataFrame(build_rows(c.events, c.roots, c.finals, fuse, c.derived), columns=list(COLUMNS))
    where = row_of_events(c.events, fuse)
    act_type: dict[int, int] = {}
    weight_type: dict[int, int] = {}
    weight_roots: dict[int, set[str]] = {}
    for ev, r in zip(c.events, where):
        keys = [k for k, _, _ in ev.outs] or [a[0] for a in ev.acts]
        if keys:
            act_type[r] = c.key_dtype.get(keys[0], 1)
        if ev.weights and r not in weight_type:
            weight_type[r] = c.root_dtype.get(ev.weights[0], 1)
        weight_roots.setdefault(r, set()).update(ev.weights)

    def itemsize(r: int) -> float:  # the row's weights' bytes per element, weighted by their sizes
        roots = weight_roots.get(r, ())
        n = sum(c.roots[w][0] for w in roots)
        return sum(c.roots[w][0] * ITEMSIZE.get(c.root_dtype.get(w, 1), 4) for w in roots) / n if n else 4.0

    dtypes_of = tuple((DTYPE_NAMES.get(act_type.get(r, 1), "float32"),
                       DTYPE_NAMES.get(weight_type.get(r, 1), "float32")) for r in range(len(df)))
    total = sum(event_bytes(ev, c) for ev in c.events) or 1.0
    listed = tuple((c.events[i].module, c.events[i].op.removeprefix("onnx."), event_bytes(c.events[i], c) / total)
                   for i in c.unsupported_events)
    opset = max((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), default=0)
    unsupported = {f"onnx.{k}": v for k, v in c.unsupported.items()}
    return OnnxLayerTable(name, pinned[0][1], fuse, df, c.model_params, unsupported,
                          tuple(s for _, s in pinned[1:]), c.folded_macs, path=str(path), opset=opset,
                          shapes_from=source, unsupported_nodes=listed, row_dtypes=dtypes_of,
                          weight_itemsize=tuple(itemsize(r) for r in range(len(df)))), external
