"""Reading a TFLite file: the flatbuffer through the ``tflite`` package's generated schema classes (tensors,
their types, buffers and quantization; operators with their builtin codes and options), and, where the inputs
are resized (a dynamic signature, another batch), every tensor's shape through LiteRT's interpreter
(``ai-edge-litert``: ``resize_tensor_input``, then one run on zeros).

The file is checked before anything is counted: a missing file identifier (not a TFLite model), a flatbuffer
cut short (a truncated file: every table read, every buffer's bytes within the file), a schema version newer
than 3, no subgraph or no operators: one :class:`TraceError` line each. The file is mapped, never read whole.
"""

from __future__ import annotations

import importlib
import math
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import RooflineError, TraceError, describe_exception

EXTRA = 'reading TFLite models needs the tflite extra: pip install -e ".[tflite]"'
SCHEMA_VERSION = 3  # the TFLite flatbuffer schema's version (schema.fbs)
IDENTIFIER = b"TFL3"

# TensorType: bytes per element and names
ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 1, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2, 17: 0.5,
            18: 2}
DTYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
               8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 15: "uint32", 16: "uint16",
               17: "int4", 18: "bfloat16"}
INT32 = 2
FUSED = {1: "relu", 2: "clamp", 3: "relu6", 4: "tanh", 5: "sign"}  # ActivationFunctionType -> op kind
_OPTION_FIELDS = ("Padding", "StrideW", "StrideH", "DepthMultiplier", "FusedActivationFunction", "FilterWidth",
                  "FilterHeight", "AdjX", "AdjY", "KeepNumDims", "DilationWFactor", "DilationHFactor",
                  "StrideD", "DilationDFactor")


def require_tflite():
    try:
        import tflite
    except ImportError:
        raise RooflineError(EXTRA) from None
    return tflite


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # -1 where a dimension is dynamic
    dtype: int
    buffer: int  # the buffer index (0: none)
    constant: bool  # its buffer holds data
    per_channel: bool = False  # quantized with one scale per channel
    quantized: bool = False


@dataclass
class Op:
    code: int  # the builtin code, by the deprecated/extended rule (-1: a custom op)
    name: str  # CONV_2D, or the custom op's name
    inputs: list[int]  # tensor indices, -1 where an optional input is absent
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class TfliteFile:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    buffer_bytes: dict[int, int]  # bytes of each buffer that holds data
    version: int
    subgraphs: int
    description: str


def _names() -> dict[int, str]:
    from tflite.utils import BUILTIN_OPCODE2NAME

    return dict(BUILTIN_OPCODE2NAME)


def _options(op, tflite) -> dict:
    """The builtin options an op carries (those the rules read), by field name."""
    kind = op.BuiltinOptionsType()
    if not kind:
        return {}
    names = {v: k for k, v in vars(tflite.BuiltinOptions).items() if isinstance(v, int) and not k.startswith("_")}
    cls_name = names.get(kind)
    if cls_name is None:
        return {}
    try:
        cls = getattr(importlib.import_module(f"tflite.{cls_name}"), cls_name)
    except (ImportError, AttributeError):
        return {}
    table = op.BuiltinOptions()
    if table is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    return {f: getattr(obj, f)() for f in _OPTION_FIELDS if hasattr(obj, f)}


def _vector_end(table, slot: int) -> int:
    """Where the vector in ``slot`` of ``table`` ends (0 without one)."""
    o = table.Offset(slot)
    return table.Vector(o) + table.VectorLen(o) if o else 0


def load(path: Path) -> TfliteFile:
    """Every tensor and operator of the file's first subgraph (the model; others are control flow's), checked."""
    tflite = require_tflite()
    size = path.stat().st_size
    if size < 8:
        raise TraceError(f"{path} is not a TFLite model ({size} bytes), or is truncated")
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if buf[4:8] != IDENTIFIER:
        raise TraceError(f"{path} is not a TFLite model (no {IDENTIFIER.decode()} file identifier)")
    try:
        return _read(tflite, buf, size, path)
    except RooflineError:
        raise
    except struct.error:  # an offset past the end
        raise TraceError(f"{path} is a truncated or damaged TFLite model: its tables point past its end (byte "
                         f"{size:,})") from None
    except Exception as e:  # noqa: BLE001  whatever else a damaged flatbuffer raises
        raise TraceError(f"{path} is a truncated or damaged TFLite model ({describe_exception(e)})") from None
    finally:
        try:
            buf.close()
        except BufferError:  # a view of it still held: closed when collected
            pass


def _read(tflite, buf, size: int, path: Path) -> TfliteFile:
    model = tflite.Model.GetRootAs(buf, 0)
    version = model.Version()
    if version > SCHEMA_VERSION:
        raise TraceError(f"{path} uses TFLite schema version {version}; version {SCHEMA_VERSION} is read")
    if not model.SubgraphsLength():
        raise TraceError(f"{path} is not a TFLite model (no subgraph), or is truncated")
    buffer_bytes: dict[int, int] = {}
    for b in range(model.BuffersLength()):
        buffer = model.Buffers(b)
        offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
        if offset > 1:  # data after the flatbuffer (files over 2 GB)
            end, n = offset + buffer.Size(), buffer.Size()
        else:
            end, n = _vector_end(buffer._tab, 4), buffer.DataLength()
        if end > size:
            raise TraceError(f"{path} is truncated: buffer {b} needs bytes up to {end:,}, the file has {size:,}")
        if n:
            buffer_bytes[b] = n
    names = _names()
    codes = []
    for c in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(c)
        code = max(oc.DeprecatedBuiltinCode(), oc.BuiltinCode())  # the deprecated/extended rule
        if code == 32:  # CUSTOM: its own name
            custom = oc.CustomCode()
            codes.append((-1, custom.decode(errors="replace") if custom else "CUSTOM"))
        else:
            codes.append((code, names.get(code, f"BUILTIN_{code}")))
    g = model.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        sig = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
        q = t.Quantization()
        scales = q.ScaleLength() if q is not None else 0
        tensors.append(Tensor((t.Name() or b"").decode(errors="replace"), shape, sig, t.Type(), t.Buffer(),
                              t.Buffer() in buffer_bytes, scales > 1, scales > 0))
    ops = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        if op.OpcodeIndex() >= len(codes):
            raise TraceError(f"{path}: operator {k} names operator code {op.OpcodeIndex()}; the file has "
                             f"{len(codes)}: a damaged TFLite model")
        code, name = codes[op.OpcodeIndex()]
        ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if any(x >= len(tensors) for x in ins + outs):
            raise TraceError(f"{path}: operator {k} ({name}) names a tensor the graph does not have: a damaged "
                             f"TFLite model")
        ops.append(Op(code, name, ins, outs, _options(op, tflite)))
    if not ops:
        raise TraceError(f"{path} is not a TFLite model (no operators), or is truncated")
    inputs = [int(x) for x in g.InputsAsNumpy()] if g.InputsLength() else []
    outputs = [int(x) for x in g.OutputsAsNumpy()] if g.OutputsLength() else []
    description = (model.Description() or b"").decode(errors="replace")
    return TfliteFile(tensors, ops, inputs, outputs, buffer_bytes, version, model.SubgraphsLength(), description)


# --- shapes after resizing the inputs ----------------------------------------------------------------

def resized_shapes(path: Path, f: TfliteFile, pinned: list[tuple[int, tuple[int, ...]]]) -> dict[int, tuple]:
    """Every tensor's shape with the inputs resized to ``pinned`` ((tensor index, shape) each): LiteRT's
    interpreter resizes them, allocates, and runs once on zeros, which sets the shapes only a run knows."""
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise RooflineError("resizing the inputs of a TFLite model needs LiteRT (ai-edge-litert), part of the "
                            "tflite extra: pip install -e \".[tflite]\"") from None
    try:
        it = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        for idx, shape in pinned:
            it.resize_tensor_input(idx, list(shape), strict=False)
        it.allocate_tensors()
        details = {d["index"]: d for d in it.get_input_details()}
        for idx, shape in pinned:
            it.set_tensor(idx, np.zeros(shape, dtype=details[idx]["dtype"]))
        it.invoke()
        found = {d["index"]: tuple(int(s) for s in d["shape"]) for d in it.get_tensor_details()}
    except Exception as e:  # noqa: BLE001  the interpreter's RuntimeError and ValueError
        raise TraceError(f"{path}: LiteRT cannot resize the inputs to "
                         f"{', '.join('x'.join(map(str, s)) for _, s in pinned)} ({describe_exception(e)})") from None
    return {i: found.get(i, t.shape) for i, t in enumerate(f.tensors)}


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 1
