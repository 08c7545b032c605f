"""Deployed graph files as models: an ONNX file (``PATH.onnx``, ``onnx:PATH``) or a TFLite file
(``PATH.tflite``, ``tflite:PATH``) is a model wherever a model is taken. One check (:func:`is_graph_file`) and one
existence check (:func:`graph_path`) for every dispatch point; :func:`roofline.trace.trace` reads either format into a
:class:`~roofline.trace.table.LayerTable` (:mod:`roofline.trace.onnx_graph`, :mod:`roofline.trace.tflite_graph`,
which import this module: it imports neither).

Nothing here imports a format's reader: ``onnx`` and ``tflite`` are extras, imported when a file is read."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core import checks
from ..core.errors import TraceError, UnsupportedOpError, UnsupportedOpWarning
from .table import LayerTable

# format -> (prefix, suffix, the name the format goes by in messages)
FORMATS = {"onnx": ("onnx:", ".onnx", "ONNX"), "tflite": ("tflite:", ".tflite", "TFLite")}


@dataclass(frozen=True, repr=False)
class GraphLayerTable(LayerTable):
    """A :class:`LayerTable` read from a graph file, with what the file says besides the counts."""

    path: str = ""
    shapes_from: str = ""  # which inference gave the shapes
    # (node name, op, share of the graph's bytes) of each node counted memory-only for want of a rule
    unsupported_nodes: tuple[tuple[str, str, float], ...] = ()
    row_dtypes: tuple[tuple[str, str], ...] = ()  # each row's own (activation, weight) element types
    weight_itemsize: tuple[float, ...] = ()  # each row's bytes per weight element (int8 weights, int32 bias: mixed)

    @property
    def dtype(self) -> str:
        """The graph's activation type, by elements: ``int8`` for a quantized graph."""
        counts: dict[str, int] = {}
        for (a, _), n in zip(self.row_dtypes, self.layers["out_elems"].tolist()):
            counts[a] = counts.get(a, 0) + int(n)
        return max(counts, key=counts.get) if counts else "float32"

    def _file_line(self) -> str:
        """What the header says about the file (the format's own facts)."""
        return f"{self.path}: shapes from {self.shapes_from}"

    def _header(self) -> str:
        text = super()._header() + "\n  " + self._file_line()
        if self.unsupported_nodes:
            text += "\n  memory-only without a rule: " + unsupported_text(self.unsupported_nodes)
        return text


def label(fmt: str) -> str:
    """``an ONNX``, ``a TFLite``: the format's name with its article, for messages."""
    name = FORMATS[fmt][2]
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"


def graph_format(model: object) -> str | None:
    """``onnx`` or ``tflite`` where ``model`` names a graph file (by prefix or suffix), else None."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        return None
    low = model.strip().lower()
    for fmt, (prefix, _, _) in FORMATS.items():  # a prefix says the format whatever the path ends in
        if model.startswith(prefix):
            return fmt
    for fmt, (_, suffix, _) in FORMATS.items():
        if low.endswith(suffix):
            return fmt
    return None


def is_graph_file(model: object) -> bool:
    """Whether ``model`` names a graph file: ``onnx:PATH``, ``PATH.onnx``, ``tflite:PATH`` or ``PATH.tflite``."""
    return graph_format(model) is not None


def graph_path(model: str | os.PathLike) -> Path:
    """The file ``model`` names, checked to exist (before any work starts)."""
    fmt = graph_format(model)
    if fmt is None:
        raise TraceError(f"{os.fspath(model)!r} names no graph file (PATH.onnx, onnx:PATH, PATH.tflite, tflite:PATH)")
    prefix, suffix, label = FORMATS[fmt]
    text = os.fspath(model)
    path = text[len(prefix):] if text.startswith(prefix) else text
    if not path.strip():
        raise TraceError(f"{text!r} names no file: give {prefix}PATH or a path ending in {suffix}")
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"{label} file {path} does not exist" if not p.exists() else f"{label} model {path} is "
                         f"not a file")
    return p


def strip_prefix(text: str) -> str:
    """``text`` less a graph format's prefix (the file's path), else as it is."""
    for prefix, _, _ in FORMATS.values():
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def given_shapes(input_shape: object, names: list[str], path: Path) -> dict[str, tuple[int, ...]]:
    """``input_shape`` as {input name: shape}: one shape (the first input), a tuple of shapes, or a dict."""
    def shape(v: object, what: str) -> tuple[int, ...]:
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or not v:
            raise TraceError(f"{what} must be a shape (a sequence of integers), got {checks.show(v)}")
        return tuple(checks.integer(s, f"{what} entries", 1) for s in v)

    if input_shape is None:
        return {}
    if isinstance(input_shape, Mapping):
        unknown = [k for k in input_shape if k not in names]
        if unknown:
            raise TraceError(f"{path} has no input {unknown[0]!r} (inputs: {', '.join(names)})")
        return {str(k): shape(v, f"input {k!r}") for k, v in input_shape.items()}
    if isinstance(input_shape, Sequence) and input_shape and all(
            isinstance(v, Sequence) and not isinstance(v, (str, bytes)) for v in input_shape):
        if len(input_shape) > len(names):
            raise TraceError(f"{len(input_shape)} input shapes for {path}, which has {len(names)} input"
                             f"{'s' if len(names) > 1 else ''} ({', '.join(names)})")
        return {n: shape(v, f"input {n!r}") for n, v in zip(names, input_shape)}
    return {names[0]: shape(input_shape, "input shape")}


def frozen(v: object) -> object:
    """``v`` as a hashable cache key part."""
    if isinstance(v, Mapping):
        return ("dict",) + tuple((str(k), frozen(x)) for k, x in v.items())
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        return tuple(frozen(x) for x in v)
    return v


def check_resolution(resolution: object) -> tuple[int, int] | None:
    """``resolution`` (an integer or (H, W)) as (H, W), checked; None stays None."""
    if resolution is None:
        return None
    r = (resolution, resolution) if not isinstance(resolution, Sequence) else tuple(resolution)
    if len(r) != 2:
        raise TraceError(f"resolution must be a positive integer or (H, W), got {checks.show(resolution)}")
    return tuple(checks.integer(x, "resolution", 1, checks.MAX_RESOLUTION) for x in r)  # type: ignore[return-value]


def pin_shape(path: Path, name: str, dims: list[int | None], shown: str, want: tuple[int, ...] | None, batch: int,
              res: tuple[int, int] | None, hw_axes: tuple[int, int], remake: str,
              ranked: bool = True) -> tuple[int, ...]:
    """One graph input's shape, its dynamic dimensions (None in ``dims``) pinned: from the shape given
    (``want``), else batch in the first dimension and ``res`` in ``hw_axes`` (NCHW for ONNX, NHWC for TFLite).
    ``remake`` ends the messages for a fixed dimension that differs (how to get a file at the size asked)."""
    if want is not None:
        if ranked and len(want) != len(dims):
            raise TraceError(f"{path}: input {name!r} has rank {len(dims)} ({shown}); the shape given, "
                             f"{'x'.join(map(str, want))}, has rank {len(want)}")
        bad = [j for j, (w, d) in enumerate(zip(want, dims)) if d is not None and d != w]
        if bad:
            raise TraceError(f"{path}: input {name!r} is fixed at {shown}; the shape given, "
                             f"{'x'.join(map(str, want))}, differs in dimension {bad[0]} ({remake} with that size, or "
                             f"with a dynamic one)")
        shape = list(want)
    else:
        shape = list(dims)
        if shape and shape[0] is None:
            shape[0] = batch
        elif batch != 1 and shape and shape[0] != batch:
            raise TraceError(f"{path}: input {name!r} is fixed at batch {shape[0]} ({shown}); batch {batch} differs")
        if res is not None and len(shape) == 4:
            for j, r in zip(hw_axes, res):
                if shape[j] is None:
                    shape[j] = r
                elif shape[j] != r:
                    raise TraceError(f"{path}: input {name!r} is fixed at {shown}; resolution "
                                     f"{'x'.join(map(str, res))} differs ({remake} at that size, or with a dynamic "
                                     f"one)")
        if not ranked or None in shape:
            raise TraceError(f"{path}: input {name!r} has a dynamic shape ({shown if ranked else 'unknown'}); give "
                             f"its shape: --input-shape (input_shape= in Python)")
    shape_t = tuple(shape)
    checks.input_elements(shape_t, f"input {name!r}")
    return shape_t  # type: ignore[return-value]


def unsupported_text(nodes: Sequence[tuple[str, str, float]], shown: int = 8) -> str:
    """The ops a graph has no counting rule for, by name with their share of the graph's bytes."""
    ops = ", ".join(f"{op} {n!r} ({share:.1%} of the graph's bytes)" for n, op, share in nodes[:shown])
    more = len(nodes) - shown
    return f"{ops}{f' and {more} more' if more > 0 else ''}"


def check_call(model: object, input_shape: object, resolution: object, batch: object, width: object, fuse: object,
               strict: object) -> tuple[int, bool, bool, tuple[int, int] | None]:
    """A graph trace's arguments checked: (batch, fuse, strict, (H, W) or None)."""
    if width is not None:
        raise TraceError(f"width scales zoo models; {os.fspath(model)} is {label(graph_format(model) or 'onnx')} "
                         f"file with its own widths")
    batch = checks.integer(batch, "batch", 1, checks.MAX_BATCH)
    fuse, strict = checks.flag(fuse, "fuse"), checks.flag(strict, "strict")
    if input_shape is not None and resolution is not None:
        raise TraceError("give input_shape or resolution, not both")
    return batch, fuse, strict, check_resolution(resolution)


def report_unsupported(nodes: Sequence[tuple[str, str, float]], name: str, strict: bool) -> None:
    """Ops without a counting rule: an error under ``strict``, else one warning naming each with its share of
    the graph's bytes (they were counted as memory-only)."""
    if not nodes:
        return
    text = unsupported_text(nodes)
    if strict:
        raise UnsupportedOpError(f"{name}: no counting rule for {text}")
    warnings.warn(UnsupportedOpWarning(f"{name}: no counting rule for {text}; counted as memory-only (0 MACs, "
                                       f"their bytes moved)"), stacklevel=4)
