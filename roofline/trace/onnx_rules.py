"""Counting rules for ONNX graphs: each node becomes the event a PyTorch trace records for the same op, and
:func:`roofline.trace.layers.build_rows` groups the events into layers under the same conventions.

- Compute nodes count MACs as :mod:`roofline.trace.rules` does: Conv and ConvTranspose (with groups), Gemm,
  MatMul (batched), Einsum, and the quantized QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger (and
  ONNX Runtime's QGemm; its QLinearAdd, QLinearMul, QLinear pools, softmax and concat are their float kinds).
  A MatMul, Softmax, MatMul chain (with its scaling, mask and casts) is one attention layer, as
  ``scaled_dot_product_attention`` is.
- Elementwise nodes fold into their producer's epilogue (bias, batch norm, activation, layer scale), except on
  quantized activations (a QLinear op, or one that reads a DequantizeLinear's output): ONNX Runtime runs those
  as kernels of their own after the QLinearConv (a float one between Dequantize and Quantize kernels), but
  drops a Relu or Clip between a Dequantize and a Quantize into the Quantize's range. A chain
  of elementwise nodes that reads one tensor twice (``x * sigmoid(x)``, GELU's erf and tanh forms, Mish,
  hard swish written out) is one activation; in a quantized graph a Quantize -> Dequantize pair between two
  of its nodes belongs to it (the quantizer requantizes GELU node by node; ONNX Runtime then runs its Div
  and Erf in float between Dequantize and Quantize kernels and its Add and Muls as QLinear kernels, what an
  int8 profile's GELU probe, read the same way, runs too).
- Views (Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Expand, Slice, Split, a Gather of one index,
  Identity, Dropout, Cast) and QuantizeLinear / DequantizeLinear on activations cost nothing: their outputs
  alias their inputs (stored as the int8 tensor QuantizeLinear makes), so a Q/DQ pair around a conv or matmul
  leaves one int8 layer.
- Nodes whose inputs are all constant (initializers, Constant nodes, tensor shapes: shape arithmetic,
  a DequantizeLinear of weights, a transposed weight) are folded, as a runtime folds them.
- Any other node is a memory-only row of its own (0 MACs, its bytes moved), listed in ``unsupported``.

Weights: initializers and Constant tensors of more than one element read in a data position (never a
shape, an index or a quantization scale or zero point); batch norm's running mean and variance are read
but are no parameters (as in PyTorch, where they are buffers).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from ..core.taxonomy import kind
from .recorder import Event
from .rules import _matmul_count

Shape = tuple[int, ...]

# ONNX element types: bytes per element and names (TensorProto.DataType)
ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2, 17: 1, 18: 1,
            19: 1, 20: 1, 21: 0.5, 22: 0.5, 23: 0.5}
DTYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
               10: "float16", 11: "float64", 16: "bfloat16", 17: "float8", 18: "float8", 19: "float8",
               20: "float8", 21: "uint4", 22: "int4"}
WEIGHT_DTYPES = frozenset({1, 2, 3, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23})  # int32 only as a bias
_INT8 = frozenset({2, 3, 21, 22})

# elementwise kinds (fold into the producer with one activation input)
ELEMENTWISE_KINDS = {
    "Add": "add", "Sub": "add", "Mul": "mul", "Div": "mul", "Relu": "relu", "ThresholdedRelu": "relu",
    "LeakyRelu": "leaky_relu", "PRelu": "leaky_relu", "Elu": "elu", "Selu": "elu", "Celu": "elu",
    "Sigmoid": "sigmoid", "HardSigmoid": "hsigmoid", "HardSwish": "hswish", "Tanh": "tanh", "Softsign": "tanh",
    "Gelu": "gelu", "Mish": "mish", "Softplus": "exp", "Exp": "exp", "Sqrt": "sqrt", "Neg": "neg",
    "Reciprocal": "pow", "Pow": "pow", "Erf": "pow", "Abs": "pow", "Log": "pow", "Floor": "pow", "Ceil": "pow",
    "Round": "pow", "Sign": "pow", "Sin": "trig", "Cos": "trig", "Clip": "clamp", "Max": "clamp", "Min": "clamp",
    "Shrink": "clamp", "Where": "masked_fill", "Equal": "compare", "Less": "compare", "Greater": "compare",
    "LessOrEqual": "compare", "GreaterOrEqual": "compare", "Not": "compare", "And": "compare", "Or": "compare",
    "BatchNormalization": "bn", "LayerNormalization": "norm", "InstanceNormalization": "norm",
    "GroupNormalization": "norm", "Sum": "add", "Mean": "add", "Mod": "mul",
    # ONNX Runtime's quantized operators (com.microsoft): int8 in, int8 out
    "QLinearAdd": "add", "QLinearMul": "mul", "QLinearSigmoid": "sigmoid", "QLinearLeakyRelu": "leaky_relu",
}
# memory kinds (a row of their own)
MEMORY_KINDS = {
    "GlobalAveragePool": "pool", "GlobalMaxPool": "pool", "AveragePool": "pool", "MaxPool": "pool",
    "LpPool": "pool", "ReduceMean": "pool", "ReduceSum": "pool", "ReduceMax": "pool", "ReduceProd": "pool",
    "ReduceMin": "minmax", "ReduceL1": "norm", "ReduceL2": "norm", "ReduceSumSquare": "norm",
    "ReduceLogSumExp": "softmax", "LpNormalization": "norm", "MeanVarianceNormalization": "norm",
    "Softmax": "softmax", "LogSoftmax": "softmax", "Hardmax": "softmax", "Concat": "concat", "Pad": "pad",
    "Resize": "interpolate", "Upsample": "interpolate", "GridSample": "interpolate", "Gather": "gather",
    "GatherElements": "gather", "GatherND": "gather", "Tile": "repeat", "ScatterND": "scatter",
    "ScatterElements": "scatter", "CumSum": "cumsum", "TopK": "minmax", "ArgMax": "minmax", "ArgMin": "minmax",
    "DepthToSpace": "copy", "SpaceToDepth": "copy", "Trilu": "copy", "Col2Im": "unfold",
    "QLinearGlobalAveragePool": "pool", "QLinearAveragePool": "pool", "QLinearReduceMean": "pool",
    "QLinearSoftmax": "softmax", "QLinearConcat": "concat",
}
KINDS = {**{op: kind(k, "elementwise") for op, k in ELEMENTWISE_KINDS.items()},
         **{op: kind(k, "memory") for op, k in MEMORY_KINDS.items()}}  # every kind is in the op table
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "QLinearConv", "ConvInteger", "Gemm", "MatMul", "QLinearMatMul",
                         "MatMulInteger", "Einsum", "QGemm"})
VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Cast",
                    "CastLike", "Expand", "QuantizeLinear", "DequantizeLinear"})
SLICES = frozenset({"Slice", "Split"})  # views of part of a tensor: a read of their own

# input positions that carry data (activations or weights); the others are shapes, axes, scales, zero points
_DATA = {"QLinearConv": (0, 3, 8), "QLinearMatMul": (0, 3), "ConvInteger": (0, 1), "MatMulInteger": (0, 1),
         "QGemm": (0, 3, 6), "QLinearAdd": (0, 3), "QLinearMul": (0, 3), "Gather": (0, 1), "GatherElements": (0, 1),
         "GatherND": (0, 1), "ScatterND": (0, 2), "ScatterElements": (0, 2), "GridSample": (0, 1), "Concat": None}
INDEX_SLOTS = {"Gather": (1,), "GatherElements": (1,), "GatherND": (1,), "ScatterND": (1,), "ScatterElements": (1,)}
BIAS_SLOTS = {"QLinearConv": (8,), "QGemm": (6,)}  # int32 biases: weights
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# elementwise nodes that may make up one activation (with constant scalars as their other inputs)
_CHAIN = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Erf", "Tanh", "Sigmoid", "Softplus", "Exp", "Log", "Sqrt",
                    "Neg", "Reciprocal", "Relu", "Clip", "HardSigmoid", "HardSwish", "Max", "Min", "Abs"})


def data_slots(node) -> tuple[int, ...]:
    """The positions of ``node``'s inputs that carry data (activations or weights)."""
    op = node.op_type
    n = len(node.input)
    if op in _DATA:
        slots = _DATA[op]
        return tuple(range(n)) if slots is None else tuple(i for i in slots if i < n)
    if op == "QLinearConcat":  # y_scale, y_zero_point, then (tensor, scale, zero point) per input
        return tuple(range(2, n, 3))
    if op in VIEWS or op in SLICES or op in MEMORY_KINDS or op in ("Dropout", "Size", "Shape"):
        return (0,) if n else ()  # the others: shapes, axes, sizes, pads, scales, zero points
    return tuple(range(n))  # elementwise and compute ops, and ops without a rule: every input


@dataclass
class Graph:
    """What the rules read of a model: nodes in order, every tensor's shape and element type, constants."""

    nodes: list
    shapes: dict[str, Shape]
    dtypes: dict[str, int]
    constants: set[str]            # initializers and Constant nodes' outputs
    values: dict[str, object]      # small constant values (numpy arrays): Clip's bounds
    inputs: list[str]
    outputs: list[str]


@dataclass
class Counted:
    """The events of a graph and what build_rows needs besides them."""

    events: list[Event]
    roots: dict[str, tuple[int, bool, str]]
    derived: dict[str, frozenset[str]]
    finals: list[tuple[str, int]]
    folded_macs: int = 0
    unsupported: Counter = field(default_factory=Counter)
    unsupported_events: list[int] = field(default_factory=list)
    key_dtype: dict = field(default_factory=dict)
    root_dtype: dict = field(default_factory=dict)
    model_params: int = 0


def static_roots(nodes, constants: set[str]) -> dict[str, frozenset[str]]:
    """Tensors known before the model runs (constants, shapes and what is computed from them alone), each
    with the constants it is made of."""
    static = {c: frozenset((c,)) for c in constants}
    for node in nodes:
        ins = [x for x in node.input if x]
        if node.op_type == "Constant":
            roots = frozenset(node.output[:1])
        elif node.op_type in ("Shape", "Size"):
            roots = frozenset()
        elif all(x in static for x in ins):
            roots = frozenset().union(*(static[x] for x in ins)) if ins else frozenset()
        else:
            continue
        for o in node.output:
            if o:
                static[o] = roots
    return static


def layer_name(node, i: int) -> str:
    """A node's name as a module path: ``/stage1/ir_0/dw/Conv`` -> ``stage1.ir_0.dw`` (the exporter's scopes,
    less the op's own label); ``/features/features.0/Conv`` -> ``features.0``; ``/Concat`` -> ``(model)``;
    other names as they are."""
    name = node.name or f"{node.op_type}_{i}"
    if not name.startswith("/"):
        return name
    parts = [p for p in name.split("/") if p]
    if len(parts) <= 1:
        return "(model)"  # an op of the model's own forward, as PyTorch traces name it
    path: list[str] = []
    for p in parts[:-1]:  # a scope repeats its parent's name for a child of a Sequential: blocks, blocks.5
        if path and p.startswith(path[-1] + "."):
            path[-1] = p
        else:
            path.append(p)
    return ".".join(path)


def aten_name(op_type: str) -> str:
    """The ``aten`` column of an ONNX row: ``onnx::max_pool`` (snake case: readers look for ``max_pool``,
    ``mean`` and ``conv`` in it as in aten names)."""
    return "onnx::" + re.sub(r"(?<!^)(?=[A-Z])", "_", op_type).lower()


def attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            if a.ints:
                return list(a.ints)
            if a.type == 2:  # INT
                return a.i
            if a.type == 1:  # FLOAT
                return a.f
            if a.type == 3:  # STRING
                return a.s.decode()
            return default
    return default


# --- compute rules ---------------------------------------------------------------------------------

def conv_count(node, x: Shape, w: Shape, out: Shape, transposed: bool = False) -> tuple[str, int, dict]:
    n_sp = len(w) - 2
    groups = int(attr(node, "group", 1))
    k = tuple(w[2:])
    strides = tuple(attr(node, "strides", [1] * n_sp))
    batch, cin = x[0], x[1]
    if transposed:  # weight (C_in, C_out / groups, *k)
        macs = batch * cin * math.prod(x[2:]) * w[1] * math.prod(k)
        op = f"conv_transpose{n_sp}d"
    else:
        macs = batch * w[0] * math.prod(out[2:]) * (cin // groups) * math.prod(k)
        if n_sp == 2 and groups == cin and cin > 1:
            op = "dwconv2d"
        elif n_sp == 2 and math.prod(k) == 1 and math.prod(out[2:]) == 1 and groups == 1:
            op = "fc"  # a 1x1 conv on a 1x1 map is a fully connected layer (SE, pooled heads)
        else:
            op = f"conv{n_sp}d"
    info = {"kernel": "x".join(map(str, k)), "stride": "x".join(map(str, strides)), "groups": groups}
    return op, int(macs), info


def einsum_macs(node, shapes: list[Shape]) -> int:
    """One MAC per point of the product's index space (each letter's size once)."""
    eq = str(attr(node, "equation", "")).replace(" ", "").split("->")[0]
    sizes: dict[str, int] = {}
    for term, shape in zip(eq.split(","), shapes):
        letters = [c for c in term if c.isalpha()]
        if "..." in term:
            ell = len(shape) - len(letters)
            sizes.update({f"...{i}": s for i, s in enumerate(shape[term.index("."):][:ell])})
            shape = shape[:term.index(".")] + shape[term.index(".") + ell:]
        sizes.update(zip(letters, shape))
    return math.prod(sizes.values()) if len(shapes) > 1 else 0


def compute_count(node, shapes: list[Shape], out: Shape, weight_b: bool) -> tuple[str, int, dict]:
    """(kind, MACs, info) of a compute node; ``shapes`` are its inputs' shapes, ``weight_b`` whether its
    second operand is a weight (an FC layer's) rather than an activation."""
    op = node.op_type
    if op in ("Conv", "ConvTranspose"):
        return conv_count(node, shapes[0], shapes[1], out, op == "ConvTranspose")
    if op == "QLinearConv":
        return conv_count(node, shapes[0], shapes[3], out)
    if op == "ConvInteger":
        return conv_count(node, shapes[0], shapes[1], out)
    if op in ("Gemm", "QGemm"):
        a, b = (shapes[0], shapes[1]) if op == "Gemm" else (shapes[0], shapes[3])
        m, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if attr(node, "transB", 0) else b[1]
        return ("fc" if weight_b else "matmul"), m * k * n, {}
    if op == "Einsum":
        return "matmul", einsum_macs(node, shapes), {}
    a, b = (shapes[0], shapes[3]) if op == "QLinearMatMul" else (shapes[0], shapes[1])
    return ("fc" if weight_b else "matmul"), _matmul_count(a, b).macs, {}


# --- patterns a runtime fuses ----------------------------------------------------------------------

def _scalar(g: Graph, name: str) -> bool:
    return name in g.shapes and math.prod(g.shapes[name]) <= 1


def attention_groups(g: Graph, static, producer, consumers) -> list[tuple]:
    """MatMul -> (scale, mask, cast) -> Softmax -> (cast, dropout) -> MatMul: (member nodes, activation inputs
    [q, k, masks..., v], first MatMul, second MatMul, constant inputs: a bias added to the scores) for each."""
    nodes, found = g.nodes, []
    for s, node in enumerate(nodes):
        if node.op_type != "Softmax" or node.input[0] in static:
            continue
        members, masks, t, m1 = [s], [], node.input[0], None
        while t in producer and len(consumers[t]) == 1:
            p = producer[t]
            pn = nodes[p]
            acts = [x for x in pn.input if x and x not in static]
            if pn.op_type == "MatMul" and len(acts) == 2:
                m1 = p
                break
            if pn.op_type in ("Cast", "Identity") or pn.op_type in ("Mul", "Div", "Add", "Sub") and len(acts) == 1:
                members.append(p)
                t = acts[0]
            elif pn.op_type == "Add" and len(acts) == 2:
                lead = [a for a in acts if a in producer and nodes[producer[a]].op_type in ("MatMul", "Mul", "Div")]
                t = lead[0] if lead else acts[0]
                masks += [a for a in acts if a != t]
                members.append(p)
            else:
                break
        if m1 is None:
            continue
        t, m2 = node.output[0], None
        while len(consumers[t]) == 1:
            c = consumers[t][0]
            cn = nodes[c]
            if cn.op_type in ("Cast", "Dropout", "Identity"):
                members.append(c)
                t = cn.output[0]
            elif cn.op_type == "MatMul" and cn.input[0] == t and cn.input[1] not in static:
                m2 = c
                break
            else:
                break
        if m2 is None:
            continue
        qk = []
        for x in nodes[m1].input[:2]:  # q * sqrt(scale), k * sqrt(scale): the attention's own scaling
            p = producer.get(x)
            pn = nodes[p] if p is not None else None
            if (pn is not None and pn.op_type in ("Mul", "Div") and len(consumers[x]) == 1
                    and sum(y in static for y in pn.input) == 1
                    and all(_scalar(g, y) for y in pn.input if y in static)):
                members.append(p)
                x = next(y for y in pn.input if y not in static)
            qk.append(x)
        consts = [x for m in members for x in nodes[m].input if x in static and not _scalar(g, x)]
        found.append((sorted(members + [m1, m2]), qk + masks + [nodes[m2].input[1]], m1, m2, consts))
    return found


def composite_groups(g: Graph, static, producer, consumers, taken: set[int]) -> list[tuple[list[int], str, str]]:
    """Chains of elementwise nodes from one tensor that read it (or each other) twice: one activation each,
    (member nodes, input tensor, kind). In a quantized (QDQ) graph a QuantizeLinear -> DequantizeLinear pair
    between two of its nodes is part of the chain (a GELU quantized node by node is still one activation)."""
    nodes = g.nodes

    def through(t: str) -> tuple[str, list[int]]:
        """``t`` with the Quantize -> Dequantize pairs it was read through looked past, and their nodes."""
        hops: list[int] = []
        while t in producer and nodes[producer[t]].op_type == "DequantizeLinear":
            q = producer.get(nodes[producer[t]].input[0])
            if q is None or nodes[q].op_type != "QuantizeLinear":
                break
            hops += [producer[t], q]
            t = nodes[q].input[0]
        return t, hops

    def readers(t: str) -> list[int]:
        """The nodes that read ``t``, through the Quantize -> Dequantize pairs that requantize it."""
        out = []
        for c in consumers[t]:
            if nodes[c].op_type != "QuantizeLinear":
                out.append(c)
                continue
            for d in consumers[nodes[c].output[0]]:
                out += consumers[nodes[d].output[0]] if nodes[d].op_type == "DequantizeLinear" else [d]
        return out

    base: dict[str, str] = {}
    members: dict[str, frozenset[int]] = {}
    combines: dict[str, bool] = {}
    for i, node in enumerate(nodes):
        if i in taken or node.op_type not in _CHAIN or not node.output or not node.output[0]:
            continue
        ins = [x for x in node.input if x]
        acts = [x for x in ins if x not in static]
        if not acts or any(not _scalar(g, x) for x in ins if x in static):
            continue
        seen = [through(a) for a in acts]
        bases = {base.get(r, r) for r, _ in seen}
        if len(bases) != 1:
            continue
        out = node.output[0]
        base[out] = bases.pop()
        inner = {h for r, hops in seen if r in members for h in hops}  # pairs between two of its nodes
        members[out] = frozenset().union(*(members.get(r, frozenset()) for r, _ in seen)) | {i} | inner
        combines[out] = len(acts) > 1 or any(combines.get(r, False) for r, _ in seen)
    groups = []
    for t, mem in members.items():
        if not combines[t] or any(members.get(o, frozenset()) >= mem for c in readers(t) for o in nodes[c].output):
            continue  # no activation, or not the chain's end
        end = max(mem)  # a chain node: every pair in it is read by a later member
        if all(c in mem for m in mem if m != end for o in nodes[m].output for c in consumers[o]):
            ops = {nodes[m].op_type for m in mem}
            k = ("gelu" if "Erf" in ops or {"Tanh", "Pow"} <= ops else "mish" if "Softplus" in ops
                 else "silu" if "Sigmoid" in ops else "hswish" if ops & {"HardSigmoid", "Clip", "Relu", "Min"}
                 else "gelu" if "Tanh" in ops else "mul")
            groups.append((sorted(mem), base[t], kind(k, "elementwise")))
    return groups
