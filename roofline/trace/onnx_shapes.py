"""The shapes of an ONNX graph's tensors, once its inputs are pinned: onnx's shape inference with data
propagation, then ONNX Runtime's symbolic shape inference where it leaves tensors without one, then one ONNX
Runtime run on zeros that exposes every value still missing."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from ..core.errors import RooflineError, TraceError, describe_exception
from .onnx_rules import static_roots

EXTRA = 'reading ONNX models needs the onnx extra: pip install "roofline[onnx]"'


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise RooflineError(EXTRA) from None
    return onnx


def _record(vi, shapes: dict, dtypes: dict) -> None:
    t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if t is None:
        return
    if t.elem_type:
        dtypes.setdefault(vi.name, t.elem_type)
    if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
        shapes[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)


def _constants(model) -> tuple[dict, dict, dict]:
    """Shapes, element types and small values of the initializers and Constant nodes."""
    from onnx import numpy_helper

    shapes, dtypes, values = {}, {}, {}

    def add(name: str, t) -> None:
        shapes[name], dtypes[name] = tuple(int(d) for d in t.dims), t.data_type
        if math.prod(t.dims) <= 8 and t.data_location != 1:
            try:
                values[name] = numpy_helper.to_array(t)
            except Exception:  # noqa: BLE001  a value that does not decode is only not known
                pass

    for t in model.graph.initializer:
        add(t.name, t)
    for node in model.graph.node:
        if node.op_type != "Constant" or not node.output:
            continue
        for a in node.attribute:
            if a.HasField("t"):
                add(node.output[0], a.t)
            elif a.name in ("value_float", "value_int"):
                shapes[node.output[0]], dtypes[node.output[0]] = (), 1 if a.name == "value_float" else 7
            elif a.name in ("value_floats", "value_ints"):
                n = len(a.floats) if a.name == "value_floats" else len(a.ints)
                shapes[node.output[0]], dtypes[node.output[0]] = (n,), 1 if a.name == "value_floats" else 7
    return shapes, dtypes, values


def _without_weights(model):
    """A copy of ``model`` whose large weights hold no values (their shapes are what inference reads; copying
    the values into it took most of the time of a large model's read)."""
    onnx = require_onnx()
    light = onnx.ModelProto()
    light.ir_version, light.producer_name = model.ir_version, model.producer_name
    light.opset_import.extend(model.opset_import)
    light.graph.name = model.graph.name
    light.graph.input.extend(model.graph.input)
    light.graph.output.extend(model.graph.output)
    light.graph.node.extend(model.graph.node)
    for t in model.graph.initializer:
        if math.prod(t.dims) > 64 and t.data_type not in (6, 7):  # int32 and int64 tensors may be shapes: kept
            stub = light.graph.initializer.add()
            stub.name, stub.data_type = t.name, t.data_type
            stub.dims.extend(t.dims)
        else:
            light.graph.initializer.append(t)
    return light


def _needed(model, static) -> set[str]:
    """The tensors the rules read shapes of: every value but shape arithmetic's."""
    out = set()
    for node in model.graph.node:
        for x in list(node.input) + list(node.output):
            if x and (x not in static or static[x]):
                out.add(x)
    return out


def infer(model, path: Path, pinned: list[tuple[str, tuple[int, ...]]]) -> tuple[dict, dict, dict, str]:
    """(shapes, element types, small values, which inference gave them) of every tensor the rules read."""
    onnx = require_onnx()
    shapes, dtypes, values = _constants(model)
    for name, s in pinned:
        shapes[name] = s
    del model.graph.value_info[:]  # what an exporter wrote there may hold the symbolic sizes
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_weights(model), data_prop=True)
    except Exception:  # noqa: BLE001  an inference error leaves the fallbacks to find the shapes
        inferred = model
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        _record(vi, shapes, dtypes)
    static = static_roots(model.graph.node, set(values) | set(shapes) - {n for n, _ in pinned})
    needed = _needed(model, static)
    source = "onnx shape inference"
    missing = sorted(n for n in needed if n not in shapes)
    if missing:
        try:
            sym = _symbolic(model)
        except Exception:  # noqa: BLE001  onnxruntime missing, or its inference fails on this graph
            sym = None
        known = len(shapes)
        for vi in list(sym.graph.value_info) + list(sym.graph.output) if sym is not None else ():
            if vi.name not in shapes:
                _record(vi, shapes, dtypes)
        if len(shapes) > known:
            source += " and ONNX Runtime's symbolic inference"
        missing = sorted(n for n in needed if n not in shapes)
    if missing:
        run_for_shapes(model, path, pinned, dtypes, missing, shapes)
        source += " and an ONNX Runtime run on zeros"
        missing = sorted(n for n in needed if n not in shapes)
    if missing:
        raise TraceError(f"{path}: no shape for {len(missing)} tensors ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}) after ONNX's and ONNX Runtime's shape inference "
                         f"and a run")
    return shapes, dtypes, values, source


def _symbolic(model):
    """ONNX Runtime's symbolic shape inference, run step by step as its ``infer_shapes`` runs it, less the file
    that writes into the working folder (and the error it raises) where some shapes stay unknown: what it found
    is kept, and nothing is written."""
    import logging

    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference, get_opset

    if (get_opset(model) or 0) < 7:
        return None
    log = logging.getLogger("onnxruntime.tools.symbolic_shape_infer")
    level = log.level
    log.setLevel(logging.ERROR)  # its guesses ("treat as equal") would print; unresolved sizes stay unknown
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sym = SymbolicShapeInference(2**31 - 1, True, False, 0)  # int_max, auto_merge, guess_output_rank, verbose
            sym._preprocess(model)
            while sym.run_:
                sym._infer_impl()
            sym._update_output_from_vi()
    finally:
        log.setLevel(level)
    return sym.out_mp_


def run_for_shapes(model, path: Path, pinned, dtypes: dict, missing: list[str], shapes: dict) -> None:
    """Run the model once on zeros with every missing value made an output, and read their shapes."""
    onnx = require_onnx()
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        raise TraceError(f"{path}: onnx's shape inference leaves {len(missing)} tensors without a shape "
                         f"({missing[0]}, ...); ONNX Runtime would find them: pip install \"roofline[onnx]\"") from None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    onnx.load_external_data_for_model(m, str(path.parent))
    outputs = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in missing if n not in outputs)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        feeds = {n: np.zeros(s, dtype=onnx.helper.tensor_dtype_to_np_dtype(dtypes.get(n, 1))) for n, s in pinned}
        got = sess.run(missing, feeds)
    except Exception as e:  # noqa: BLE001  the runtime's own failure on this graph
        raise TraceError(f"{path}: {len(missing)} tensors have no inferred shape ({missing[0]}, ...) and ONNX "
                         f"Runtime could not run the model to find them: {describe_exception(e)}") from None
    for n, v in zip(missing, got):
        shapes[n] = tuple(int(d) for d in np.shape(v))
        dtypes.setdefault(n, onnx.helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype))
