"""An ONNX graph's events: each node, or each pattern a runtime fuses, as the event a PyTorch trace records
for the same op (see :mod:`roofline.trace.onnx_rules`); :func:`roofline.trace.layers.build_rows` groups them
into layers."""

from __future__ import annotations

import math
from collections import defaultdict

from .onnx_rules import (BIAS_SLOTS, COMPUTE_OPS, INDEX_SLOTS, ITEMSIZE, KINDS, MEMORY_KINDS, QDQ_OPS, SLICES,
                         VIEWS, WEIGHT_DTYPES, Counted, Graph, attention_groups, attr, aten_name, composite_groups,
                         compute_count, data_slots, layer_name, static_roots)
from .onnx_rules import Shape
from .recorder import Event


def count_graph(g: Graph) -> Counted:
    """Every node of ``g`` as events (see the module docstring), in graph order."""
    nodes, shapes = g.nodes, g.shapes
    static = static_roots(nodes, g.constants)
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = defaultdict(list)
    in_data: set[str] = set()
    in_other: set[str] = set()
    bn_stats: set[str] = set()
    for i, node in enumerate(nodes):
        slots = set(data_slots(node))
        for j, x in enumerate(node.input):
            if x:
                consumers[x].append(i)
                (in_data if j in slots else in_other).add(x)
        if node.op_type == "BatchNormalization":
            bn_stats.update(node.input[3:5])
        for o in node.output:
            if o:
                producer[o] = i
    param_only = in_other - in_data  # shapes, axes, scales, zero points

    def weight_root(c: str) -> bool:
        return (c in g.constants and c not in param_only and math.prod(shapes.get(c, ())) > 1
                and (g.dtypes.get(c) in WEIGHT_DTYPES or g.dtypes.get(c) == 6))

    out = Counted([], {}, {}, [])
    attention = attention_groups(g, static, producer, consumers)
    taken = {m for grp in attention for m in grp[0]}
    composites = composite_groups(g, static, producer, consumers, taken)
    group_at: dict[int, tuple] = {grp[0][-1]: ("attention", grp) for grp in attention}
    group_at.update({grp[0][-1]: ("activation", grp) for grp in composites})
    skip = taken | {m for grp in composites for m in grp[0]}
    alias: dict[str, tuple[str, object]] = {}
    dequantized: set[str] = set()  # activations a DequantizeLinear wrote (or a view of one)
    key_numel: dict[str, int] = {}
    kd = out.key_dtype
    for x in g.inputs:
        key_numel[x] = math.prod(shapes[x])
        kd[x] = g.dtypes.get(x, 1)

    def act(t: str) -> tuple[str, int, Shape, object]:
        key, off = alias.get(t, (t, 0))
        n = math.prod(shapes[t])
        return key, min(n, key_numel.get(key, n)), shapes[t], off

    def weight(t: str) -> str | None:
        """The root ``t`` is as a weight (``t`` itself, or a folded tensor made of its constants), or None."""
        if math.prod(shapes.get(t, ())) <= 1:
            return None
        if t in out.roots:
            return t
        if weight_root(t):
            out.roots[t] = (math.prod(shapes[t]), t not in bn_stats, t)
            out.root_dtype[t] = g.dtypes.get(t, 1)
            return t
        srcs = sorted(r for r in static.get(t, ()) if weight_root(r))
        if not srcs or g.dtypes.get(t) not in WEIGHT_DTYPES:
            return None
        for r in srcs:
            out.roots.setdefault(r, (math.prod(shapes[r]), r not in bn_stats, r))
            out.root_dtype.setdefault(r, g.dtypes.get(r, 1))
        out.roots[t] = (math.prod(shapes[t]), False, "folded")
        out.derived[t] = frozenset(srcs)
        out.root_dtype[t] = out.root_dtype[srcs[0]]
        return t

    def record(i: int, op: str, category: str, macs: int, acts: list[str], weights: list[str], outs: list[str],
               info: dict | None = None, aten: str | None = None) -> None:
        recs = []
        for o in outs:
            if o and o in shapes:
                key_numel[o] = n = math.prod(shapes[o])
                kd[o] = g.dtypes.get(o, 1)
                recs.append((o, n, shapes[o]))
        ws = [w for w in (weight(x) for x in weights) if w is not None]
        out.events.append(Event(aten or aten_name(nodes[i].op_type), op, category, layer_name(nodes[i], i), macs,
                                [act(a) for a in acts], ws, recs, info or {}))

    for i, node in enumerate(nodes):
        op = node.op_type
        if i in group_at:
            what, grp = group_at[i]
            if what == "attention":
                members, acts, m1, m2, consts = grp
                macs = sum(compute_count(nodes[m], [shapes[x] for x in nodes[m].input[:2]],
                                         shapes[nodes[m].output[0]], False)[1] for m in (m1, m2))
                record(i, "attention", "compute", macs, acts, consts, [node.output[0]],
                       aten="onnx::" + "+".join(nodes[m].op_type for m in members).lower())
            else:
                # a composite activation is a row of its own: ONNX Runtime fuses a single activation node into
                # the conv before it (Relu, Clip, Sigmoid, HardSwish: Conv with activation=...), not a chain
                # that reads its input twice; it runs x * sigmoid(x) as one QuickGelu kernel and the Erf GELU
                # as one Gelu kernel after the conv (onnxruntime 1.32, CPU provider, optimized graphs read back)
                members, src, k = grp
                ops = [nodes[m].op_type for m in members if nodes[m].op_type not in QDQ_OPS]  # requantized between
                record(i, k, "memory", 0, [src], [], [node.output[0]], aten="onnx::" + "+".join(ops).lower())
            continue
        if i in skip:
            continue
        ins = [x for x in node.input if x]
        if all(x in static for x in ins) or op in ("Shape", "Size"):
            if op in COMPUTE_OPS and all(x in shapes for x in ins) and node.output[0] in shapes:
                try:
                    out.folded_macs += compute_count(node, [shapes[x] for x in node.input if x],
                                                     shapes[node.output[0]], True)[1]
                except (IndexError, ValueError, ZeroDivisionError):
                    pass
            continue
        slots = data_slots(node)
        data = [node.input[j] for j in slots if node.input[j]]
        acts = [x for x in data if x not in static]
        consts = [(j, node.input[j]) for j in slots if node.input[j] in static]
        index_slots = INDEX_SLOTS.get(op, ())
        if (op in VIEWS or op in SLICES or op == "Gather" and node.input[1] in static
                and len(shapes.get(node.input[1], (0,))) == 0) and node.input[0] not in static:
            key, off = alias.get(node.input[0], (node.input[0], 0))
            for o in node.output:
                if o:
                    alias[o] = (key, o if op in SLICES or op == "Gather" else off)
            if op == "QuantizeLinear":
                kd[key] = g.dtypes.get(node.output[0], 3)  # the tensor is stored as what it is quantized to
            if op == "DequantizeLinear" or node.input[0] in dequantized:
                dequantized.update(o for o in node.output if o)
            continue
        weights = [x for j, x in consts if j not in index_slots and (g.dtypes.get(x) in WEIGHT_DTYPES
                                                                    or j in BIAS_SLOTS.get(op, ()))]
        outs = list(node.output)
        if op in COMPUTE_OPS:
            b_slot = {"QLinearMatMul": 3, "QLinearConv": 3, "QGemm": 3}.get(op, 1)
            is_w = node.input[b_slot] in static if len(node.input) > b_slot else False
            k, macs, info = compute_count(node, [shapes.get(x, ()) for x in node.input], shapes[node.output[0]],
                                          is_w and node.input[0] not in static)
            record(i, k, "compute", macs, acts, weights, outs, info)
        elif op in KINDS:
            k = KINDS[op]
            if op == "Clip" and _clip_bounds(g, node) == (0.0, 6.0):
                k = "relu6"
            # an elementwise op on quantized activations is a kernel of its own: ONNX Runtime fuses none into
            # a QLinearConv (QLinearSigmoid, or a float op between a Dequantize and a Quantize kernel), except
            # a Relu or Clip between them, which it drops into the Quantize's range
            own = op.startswith("QLinear") or (op not in ("Relu", "Clip") and any(a in dequantized for a in acts))
            record(i, k, "memory" if op in MEMORY_KINDS or own else "elementwise", 0, acts, weights, outs)
        else:
            out.unsupported[op] += 1
            out.unsupported_events.append(len(out.events))
            record(i, f"onnx.{op}", "unsupported", 0, acts, weights, outs)
    for o in g.outputs:
        if o in shapes and o not in static:
            out.finals.append(alias.get(o, (o, 0))[0])
    # the file's parameters: the weights read (batch norm statistics are no parameters) and those no node reads
    out.model_params = sum(math.prod(shapes[c]) for c in g.constants if weight_root(c) and c not in bn_stats
                           and (c in out.roots or not consumers.get(c)))
    return out


def _clip_bounds(g: Graph, node) -> tuple[float | None, float | None]:
    if len(node.input) > 1:  # opset 11+: bounds as inputs
        vals = []
        for x in node.input[1:3]:
            v = g.values.get(x) if x else None
            vals.append(float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None)
        return tuple(vals + [None] * (2 - len(vals)))  # type: ignore[return-value]
    lo, hi = attr(node, "min"), attr(node, "max")
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def row_of_events(events: list[Event], fuse: bool) -> list[int]:
    """The row of :func:`roofline.trace.layers.build_rows` each event lands in (its grouping, replayed)."""
    layer_of: dict[object, int] = {}
    rows: list[int] = []
    n = 0
    for ev in events:
        ext = {a[0] for a in ev.acts}
        target = layer_of.get(next(iter(ext))) if fuse and ev.category == "elementwise" and len(ext) == 1 else None
        if target is None:
            target, n = n, n + 1
        rows.append(target)
        for k, _, _ in ev.outs:
            layer_of[k] = target
    return rows


def event_bytes(ev: Event, c: Counted) -> float:
    """The bytes one event moves, by its tensors' own element types."""
    kd = c.key_dtype
    return (sum(n * ITEMSIZE.get(kd.get(k, 1), 4) for k, n, _, _ in ev.acts)
            + sum(n * ITEMSIZE.get(kd.get(k, 1), 4) for k, n, _ in ev.outs)
            + sum(c.roots[w][0] * ITEMSIZE.get(c.root_dtype.get(w, 1), 4) for w in set(ev.weights)))
