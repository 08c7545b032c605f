"""Counting rules for TFLite operators: each op becomes the event a PyTorch trace records for the same op
(:class:`roofline.trace.recorder.Event`), one op one layer (the converter has already fused what the runtime
fuses: batch norm into the convolution, the activation into the op's ``fused_activation_function``).

- Compute ops count MACs as :mod:`roofline.trace.rules` does: CONV_2D (a filter of fewer input channels than the
  input is a grouped conv; a 1x1 filter on a 1x1 map is an FC layer), DEPTHWISE_CONV_2D (output channels
  ``C_in * depth_multiplier``), FULLY_CONNECTED, BATCH_MATMUL (``fc`` where the second operand is a constant),
  TRANSPOSE_CONV and CONV_3D.
- Elementwise ops (ADD, MUL, the activations, ...) and memory ops (pools, MEAN, SOFTMAX, CONCATENATION, PAD,
  the copies TRANSPOSE, STRIDED_SLICE, SPLIT, QUANTIZE, DEQUANTIZE, CAST, ...) are memory-only rows of their
  own, with their bytes.
- RESHAPE, SQUEEZE and EXPAND_DIMS are views (their output aliases their input: no row), as in PyTorch traces.
- SHAPE and RANK outputs, and ops whose inputs are all constants or shapes, are known before the model runs:
  folded (shape arithmetic, a DEQUANTIZE of float16 weights), as the runtime folds them.
- Any other op is a memory-only row of its own, listed as unsupported.
"""

from __future__ import annotations

import re

from ..core.taxonomy import kind

Shape = tuple[int, ...]

COMPUTE = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV",
                     "CONV_3D"})
ELEMENTWISE = {
    "ADD": "add", "SUB": "add", "ADD_N": "add", "MUL": "mul", "DIV": "mul", "FLOOR_DIV": "mul", "FLOOR_MOD": "mul",
    "SQUARED_DIFFERENCE": "pow", "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "clamp", "RELU_0_TO_1": "clamp",
    "LEAKY_RELU": "leaky_relu", "PRELU": "leaky_relu", "ELU": "elu", "LOGISTIC": "sigmoid", "TANH": "tanh",
    "HARD_SWISH": "hswish", "GELU": "gelu", "EXP": "exp", "LOG": "pow", "SQRT": "sqrt", "RSQRT": "sqrt", "POW": "pow",
    "SQUARE": "pow", "NEG": "neg", "ABS": "pow", "FLOOR": "pow", "CEIL": "pow", "ROUND": "pow", "SIGN": "pow",
    "SIN": "trig", "COS": "trig", "MAXIMUM": "clamp", "MINIMUM": "clamp", "SELECT": "masked_fill",
    "SELECT_V2": "masked_fill", "EQUAL": "compare", "NOT_EQUAL": "compare", "LESS": "compare",
    "LESS_EQUAL": "compare", "GREATER": "compare", "GREATER_EQUAL": "compare", "LOGICAL_AND": "compare",
    "LOGICAL_OR": "compare", "LOGICAL_NOT": "compare",
}
MEMORY = {
    "AVERAGE_POOL_2D": "pool", "MAX_POOL_2D": "pool", "L2_POOL_2D": "pool", "MEAN": "pool", "SUM": "pool",
    "REDUCE_MAX": "pool", "REDUCE_PROD": "pool", "REDUCE_MIN": "minmax", "ARG_MAX": "minmax", "ARG_MIN": "minmax",
    "TOPK_V2": "minmax", "SOFTMAX": "softmax", "LOG_SOFTMAX": "softmax", "L2_NORMALIZATION": "norm",
    "LOCAL_RESPONSE_NORMALIZATION": "norm", "CONCATENATION": "concat", "PACK": "stack", "PAD": "pad",
    "PADV2": "pad", "MIRROR_PAD": "pad", "RESIZE_BILINEAR": "interpolate", "RESIZE_NEAREST_NEIGHBOR": "interpolate",
    "GATHER": "gather", "GATHER_ND": "gather", "EMBEDDING_LOOKUP": "gather", "SCATTER_ND": "scatter",
    "TILE": "repeat", "BROADCAST_TO": "repeat", "CUMSUM": "cumsum", "TRANSPOSE": "copy", "STRIDED_SLICE": "copy",
    "SLICE": "copy", "SPLIT": "copy", "SPLIT_V": "copy", "UNPACK": "copy", "DEPTH_TO_SPACE": "copy",
    "SPACE_TO_DEPTH": "copy", "BATCH_TO_SPACE_ND": "copy", "SPACE_TO_BATCH_ND": "copy", "REVERSE_V2": "copy",
    "QUANTIZE": "copy", "DEQUANTIZE": "copy", "CAST": "copy", "ZEROS_LIKE": "copy", "FILL": "copy",
}
KINDS = {**{op: kind(k, "elementwise") for op, k in ELEMENTWISE.items()},
         **{op: kind(k, "memory") for op, k in MEMORY.items()}}  # every kind is in the op table
VIEWS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
SHAPE_OPS = frozenset({"SHAPE", "RANK"})  # their outputs are known once the inputs are pinned

# input positions that carry data (activations or weights); the others are shapes, axes, sizes, paddings
_FIRST = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "PAD", "PADV2", "MIRROR_PAD", "MEAN", "SUM", "REDUCE_MAX",
          "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL", "ARG_MAX", "ARG_MIN", "TRANSPOSE",
          "STRIDED_SLICE", "SLICE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "TILE", "BROADCAST_TO",
          "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "CUMSUM", "TOPK_V2", "SPLIT_V", "REVERSE_V2", "UNPACK",
          "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "QUANTIZE", "DEQUANTIZE", "CAST", "SOFTMAX", "LOG_SOFTMAX",
          "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
DATA_SLOTS = {**{op: (0,) for op in _FIRST}, "SPLIT": (1,), "TRANSPOSE_CONV": (1, 2, 3), "GATHER": (0, 1),
              "GATHER_ND": (0, 1), "EMBEDDING_LOOKUP": (0, 1), "SCATTER_ND": (0, 1)}
INDEX_SLOTS = {"GATHER": (1,), "GATHER_ND": (1,), "EMBEDDING_LOOKUP": (0,), "SCATTER_ND": (0,)}
ACT_SLOT = {"TRANSPOSE_CONV": 2}  # where the activation is, when not input 0
BIAS_SLOTS = {"CONV_2D": (2,), "DEPTHWISE_CONV_2D": (2,), "FULLY_CONNECTED": (2,), "TRANSPOSE_CONV": (3,),
              "CONV_3D": (2,)}  # int32 biases of int8 layers: weights
FLOAT_OR_INT8 = frozenset({0, 1, 3, 7, 9, 10, 17, 18})  # TensorTypes a weight may have (int32 only as a bias)


def data_slots(op: str, n: int) -> tuple[int, ...]:
    slots = DATA_SLOTS.get(op)
    return tuple(range(n)) if slots is None else tuple(i for i in slots if i < n)


def aten_name(op: str) -> str:
    """The ``aten`` column of a TFLite row: ``tflite::max_pool_2d`` (readers look for ``max_pool``, ``mean`` and
    ``conv`` in it as in aten names)."""
    return "tflite::" + op.lower()


def _hw(opts: dict) -> str:
    return f"{opts.get('StrideH', 1)}x{opts.get('StrideW', 1)}"


def compute_count(op: str, opts: dict, shapes: list[Shape], out: Shape, weight_b: bool) -> tuple[str, int, dict]:
    """(kind, MACs, info) of a compute op; ``shapes`` are its inputs' shapes (NHWC, as in the file),
    ``weight_b`` whether its second operand is a constant (an FC layer's weights)."""
    if op == "CONV_2D":  # filter (C_out, kh, kw, C_in / groups)
        x, w = shapes[0], shapes[1]
        groups = max(1, x[-1] // w[3]) if w[3] else 1
        macs = out[0] * out[1] * out[2] * out[3] * w[1] * w[2] * w[3]
        k = "fc" if w[1] * w[2] == 1 and out[1] * out[2] == 1 and groups == 1 else "conv2d"
        return k, macs, {"kernel": f"{w[1]}x{w[2]}", "stride": _hw(opts), "groups": groups}
    if op == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, C_in * depth_multiplier)
        x, w = shapes[0], shapes[1]
        cin = x[-1]
        macs = out[0] * out[1] * out[2] * out[3] * w[1] * w[2]
        k = "dwconv2d" if cin > 1 else "conv2d"
        return k, macs, {"kernel": f"{w[1]}x{w[2]}", "stride": _hw(opts), "groups": cin}
    if op == "TRANSPOSE_CONV":  # inputs: output shape, filter (C_out, kh, kw, C_in), input (N, H, W, C_in)
        w, x = shapes[1], shapes[2]
        macs = x[0] * x[1] * x[2] * x[3] * w[0] * w[1] * w[2]
        return "conv_transpose2d", macs, {"kernel": f"{w[1]}x{w[2]}", "stride": _hw(opts), "groups": 1}
    if op == "CONV_3D":  # filter (kd, kh, kw, C_in, C_out)
        w = shapes[1]
        macs = out[0] * out[1] * out[2] * out[3] * out[4] * w[0] * w[1] * w[2] * w[3]
        return "conv3d", macs, {"kernel": f"{w[0]}x{w[1]}x{w[2]}", "stride": "", "groups": 1}
    if op == "FULLY_CONNECTED":  # weights (units, K); the input is read as (-1, K)
        n_out = shapes[1][0]
        rows = 1
        for d in out[:-1]:
            rows *= d
        return ("fc" if weight_b else "matmul"), rows * n_out * shapes[1][1], {}
    # BATCH_MATMUL: (..., M, K) x (..., K, N), either adjoint
    a = shapes[0]
    k_dim = a[-2] if opts.get("AdjX") else a[-1]
    total = 1
    for d in out:
        total *= d
    return ("fc" if weight_b else "matmul"), total * k_dim, {}


_SIGNATURE = ("StatefulPartitionedCall", "PartitionedCall", "serving_default", "Identity")
# the labels TensorFlow gives the op itself (the others in a fused name are its activation, batch norm, padding)
_OWN = re.compile(r"(convolution|depthwise|Conv2D|Conv3D|Conv2DBackpropInput|conv_transpose|DepthwiseConv2dNative|"
                  r"MatMul|BatchMatMul(V2|V3)?|Tensordot|BiasAdd|Add|AddV2|Mul|Sub|RealDiv|Mean|Sum|Max|MaxPool2?d?|"
                  r"AvgPool2?d?|Softmax|concat|ConcatV2|Pad|PadV2|Reshape|Transpose|resize|HardSwish)\d*",
                  re.IGNORECASE)


def _own_part(name: str) -> str:
    """Of a fused op's ``;``-joined names, the op's own (``conv1_relu/Relu6;conv1/convolution`` is
    ``conv1/convolution``): the first whose label is an op's, else the first scoped one, less ``:0``."""
    parts = [p.rsplit(":", 1)[0] for p in name.split(";") if p]
    scoped = [p for p in parts if "/" in p]
    own = [p for p in scoped if _OWN.fullmatch(p.rsplit("/", 1)[1])]
    return (own or scoped or parts or [""])[0]


def layer_names(names: list[str], ops: list[str]) -> list[str]:
    """Layer names from output tensor names: the op's own name among a fused op's ``;``-joined names
    (``conv1_relu/Relu6;conv1/convolution`` is ``conv1/convolution``), less the model's scope (the first part,
    where every scoped name shares it) and the op's own label, as a module path (``block_1.expand``). A name
    that is only the model's own op is ``(model)``; a signature's output (``StatefulPartitionedCall:0``) is
    named by its op (``softmax``)."""
    last = [_own_part(n) for n in names]
    last = [op.lower() if not n or "/" not in n and n.startswith(_SIGNATURE) else n for n, op in zip(last, ops)]
    scoped = [n.split("/") for n in last if "/" in n]
    common = scoped[0][0] if scoped and all(p[0] == scoped[0][0] for p in scoped) and len(scoped) > 1 else None
    out = []
    for n in last:
        parts = [p for p in n.split("/") if p]
        if common is not None and parts and parts[0] == common:
            parts = parts[1:]
            out.append(".".join(parts[:-1]) if len(parts) > 1 else "(model)")
        elif len(parts) > 1:
            out.append(".".join(parts[:-1]))
        else:
            out.append(n)
    return out
