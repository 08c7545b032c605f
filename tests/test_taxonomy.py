"""The op table (roofline.core.taxonomy): it lists exactly the op kinds the counting rules emit, every
class it or a reader names is reachable from some kind, and a few rows checked by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
import torch

from roofline.core import taxonomy as T
from roofline.core.errors import RooflineError
from roofline.trace import rules

FACTORIES = ("_elementwise", "_memory")  # rules.py's rule makers that take the kind as an argument


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _emitted() -> tuple[dict[str, set[str]], list[str]]:
    """(kind -> categories) as rules.py emits them, read from its source; and the dynamic kind
    expressions (f-strings) it found, by function."""
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    dynamic: list[str] = []
    factory_category: dict[str, str | None] = {}  # factory -> its default category (None: none)

    def add(kind: str, category: str) -> None:
        found.setdefault(kind, set()).add(category)

    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        params = [a.arg for a in fn.args.args]
        assigned = {}  # local name -> the values assigned to it
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
        for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Count"):
            args = call.args + [k.value for k in call.keywords]
            cat_node = call.args[3] if len(call.args) > 3 else next(
                (k.value for k in call.keywords if k.arg == "category"), None)
            kind_node = args[0]
            category = _str(cat_node)
            if isinstance(cat_node, ast.Name) and cat_node.id in params:  # a factory: _memory(op, category)
                defaults = dict(zip(params[::-1], fn.args.defaults[::-1]))
                factory_category[fn.name] = _str(defaults.get(cat_node.id))
                continue
            assert category, f"{fn.name}: Count with a category that is not a string: {ast.unparse(cat_node)}"
            if isinstance(kind_node, ast.Name) and kind_node.id in params:
                factory_category[fn.name] = category  # a factory: _elementwise(op)
                continue
            if isinstance(kind_node, ast.Attribute) and kind_node.attr == "op":
                continue  # passes on another Count's kind (attention's backends)
            values = assigned.get(kind_node.id, []) if isinstance(kind_node, ast.Name) else [kind_node]
            assert values, f"{fn.name}: Count's kind {ast.unparse(kind_node)} is neither a string nor assigned one"
            for v in values:
                branches = [v.body, v.orelse] if isinstance(v, ast.IfExp) else [v]
                for b in branches:
                    if isinstance(b, ast.JoinedStr):
                        dynamic.append(fn.name)
                    else:
                        assert _str(b), f"{fn.name}: Count's kind {ast.unparse(b)} is not a string"
                        add(_str(b), category)
    assert set(factory_category) == set(FACTORIES), factory_category
    # the factories' call sites: a string, or each key of the dict a loop goes over
    dicts = {n.targets[0].id: n.value for n in tree.body
             if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict) and isinstance(n.targets[0], ast.Name)}
    loop_of = {}  # a factory call inside ``for k, v in D.items()`` -> (k, D)
    for loop in ast.walk(tree):
        if isinstance(loop, ast.For) and getattr(getattr(loop.iter, "func", None), "attr", "") == "items":
            for n in ast.walk(loop):
                loop_of[n] = (loop.target.elts[0].id, loop.iter.func.value.id)
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") in FACTORIES):
        category = _str(call.args[1]) if len(call.args) > 1 else factory_category[call.func.id]
        assert category, ast.unparse(call)
        first = call.args[0]
        if _str(first):
            add(_str(first), category)
        elif isinstance(first, ast.Name) and loop_of.get(call, ("",))[0] == first.id:
            for key in dicts[loop_of[call][1]].keys:
                add(_str(key), category)
        else:
            assert isinstance(first, ast.Name) and first.id == "op", ast.unparse(call)  # op = kind(op, ...)
    return found, dynamic


def _conv_kinds() -> set[str]:
    """The kinds of the conv rules, which name them with an f-string: run them on meta tensors."""
    out = set()
    for n in (1, 2, 3):
        x = torch.empty((1, 4) + (8,) * n, device="meta")
        out.add(rules.conv(x, torch.empty((6, 2) + (3,) * n, device="meta"), groups=2).op)
        out.add(rules.conv_transpose(x, torch.empty((4, 3) + (3,) * n, device="meta")).op)
    return out


def test_the_table_lists_exactly_the_kinds_rules_emit():
    found, dynamic = _emitted()
    assert dynamic == ["_conv_count"]  # a new dynamic kind needs a line in _conv_kinds
    for k in _conv_kinds():
        found.setdefault(k, set()).add("compute")
    assert set(found) == set(T.OPS), (f"emitted, not in the table: {sorted(set(found) - set(T.OPS))}; "
                                      f"in the table, never emitted: {sorted(set(T.OPS) - set(found))}")
    wrong = {k: (sorted(c), T.OPS[k].categories) for k, c in found.items() if c != set(T.OPS[k].categories)}
    assert not wrong, f"kind: (categories rules count it in, the table's): {wrong}"
    assert found["norm"] == {"elementwise", "memory"}  # layer norm fuses; a vector norm has a row of its own
    assert {"conv1d", "conv_transpose3d", "dwconv2d", "hardtanh", "relu6", "minmax"} <= set(found)


def test_rule_makers_refuse_kinds_the_table_does_not_list():
    with pytest.raises(RooflineError, match="'erf'"):
        rules._elementwise("erf")
    with pytest.raises(RooflineError, match="counted as compute"):
        rules._memory("conv2d")
    assert rules._memory("norm")().category == "memory"


def test_every_named_class_is_reachable_from_an_op_kind():
    from roofline.measure.probes import probes
    from roofline.present.plots import OP_GROUPS

    efficiency = {T.compute_class(k, g) for k, v in T.OPS.items() if "compute" in v.categories for g in (1, 2)}
    efficiency |= {T.memory_class(k) for k, v in T.OPS.items() if "compute" not in v.categories}
    assert efficiency == set(T.COMPUTE_CLASSES) | set(T.MEMORY_CLASSES) == set(T.CLASS_TEXT)
    assert set(T.EFFICIENCY_CLASSES) == efficiency - {"conv"}  # dense conv is the reference
    assert {v.efficiency for v in T.OPS.values()} | {T.GROUPED} == efficiency

    measured = {c for k in [*T.OPS, *T.VARIANTS] for kernel in ("1x1", "3x3") for g in (1, 2)
                for c in T.class_candidates(k, kernel, g)}
    assert measured == T.MEASURED_CLASSES
    probe_classes = {p.op for p in probes(1)}
    assert probe_classes <= measured, sorted(probe_classes - measured)
    assert {"conv1x1", "grouped", "grouped_narrow", "maxpool", "mean", "dwconv_mult", "fc_conv", "activation"} <= probe_classes
    memory_probes = {"bn", "activation", "gelu", "silu", "hswish", "add", "pool", "maxpool", "mean", "norm",
                     "softmax"}
    assert probe_classes & T.BYTE_RATE_CLASSES == memory_probes  # fitted as byte rates; the rest MAC rates
    assert all(v.of in T.OPS for v in T.VARIANTS.values())

    assert {v.group for v in T.OPS.values()} == set(T.VIEW_GROUPS) == set(OP_GROUPS)
    assert not {"erf", "log", "softplus"} & (set(T.OPS) | measured)  # no rule emits them


def test_hand_checked_rows():
    assert T.compute_class("dwconv2d", 64) == "dwconv"
    assert T.compute_class("conv2d", 2) == "grouped" and T.compute_class("conv2d", 1) == "conv"
    assert T.compute_class("conv2d", float("nan")) == "conv"
    assert T.compute_class("fc") == T.compute_class("matmul") == "matmul"
    assert T.class_candidates("gelu") == ("gelu", "activation")
    assert T.class_candidates("tanh") == ("tanh", "silu", "activation")
    assert T.class_candidates("relu6") == ("activation",)
    assert T.class_candidates("conv2d", "1x1", 1) == ("conv1x1", "conv2d")
    assert T.class_candidates("conv2d", "3x3", 1) == ("conv2d",)
    assert T.class_candidates("conv2d", "3x3", 4) == ("grouped", "conv2d")
    assert T.class_candidates("conv1d", "3", 4) == ("conv1d",)  # measured by name; grouped only in 2-d
    assert T.class_candidates("maxpool") == ("maxpool", "pool")
    assert T.class_candidates("aten.erf.default") == ("aten.erf.default",)  # no rule: its own name
    assert T.op_class("conv2d", "") == "conv1x1" and T.op_class("conv2d", "5x5") == "conv2d"
    assert T.memory_class("softmax") == "norm" and T.class_candidates("softmax") == ("softmax", "norm")
    assert T.memory_class("hswish") == "elementwise" and T.memory_class("gelu") == "activation"
    assert T.memory_class("concat") == "movement" and T.memory_class("aten.foo.default") == "elementwise"
    assert [T.op_group(k) for k in ("conv_transpose2d", "dwconv2d", "fc", "matmul", "softmax", "x")] == [
        "conv", "dwconv", "fc", "attention", "memory", "memory"]
    assert T.measured_class({"silu", "elementwise"}, "sigmoid") == "silu"
    assert T.measured_class({"elementwise"}, "roll", memory_only=True) == "elementwise"
    assert T.measured_class({"elementwise"}, "roll") is None
    layers = pd.DataFrame({"op": ["pool", "pool", "dwconv2d", "dwconv2d", "fc", "fc"],
                           "aten": ["aten.max_pool2d.default", "aten.mean.dim", "", "", "aten.conv2d.default",
                                    "aten.linear.default"],
                           "in_shape": ["1x8x4x4", "1x8x4x4", "1x8x4x4", "1x8x4x4", "1x8x1x1", "1x8"],
                           "out_shape": ["1x8x2x2", "1x8x1x1", "1x16x2x2", "1x8x4x4", "1x4x1x1", "1x4"]})
    assert T.measured_ops(layers) == ["maxpool", "mean", "dwconv_mult", "dwconv2d", "fc_conv", "fc"]
    # grouped convs: RegNetY-400MF's 48 channels in 6 groups (8 per group) are narrow; 128 in 8 groups (16 per group)
    # are not; 64 -> 32 channels in 4 groups has 8 output channels per group (narrow); without groups, a dense conv
    grouped = pd.DataFrame({"op": ["conv2d"] * 4, "kernel": ["3x3"] * 4, "groups": [6, 8, 4, 1],
                            "in_shape": ["1x48x56x56", "1x128x28x28", "1x64x8x8", "1x8x8x8"],
                            "out_shape": ["1x48x56x56", "1x128x28x28", "1x32x8x8", "1x8x8x8"]})
    assert T.measured_ops(grouped) == ["grouped_narrow", "conv2d", "grouped_narrow", "conv2d"]
    assert T.class_candidates("grouped_narrow", "3x3", 6) == ("grouped_narrow", "grouped", "conv2d")
    assert T.class_candidates("grouped_narrow", "1x1", 6) == ("grouped_narrow", "grouped", "conv1x1")
    assert T.measured_class({"grouped", "conv2d"}, "grouped_narrow", "3x3", 6) == "grouped"  # an older profile


def test_a_traced_model_reads_the_table():
    from torch import nn

    from roofline.engine.efficiency import layer_classes
    from roofline.trace import trace

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Hardswish(), nn.Conv2d(8, 8, 3, groups=8), nn.GELU(),
                          nn.Conv2d(8, 8, 1, groups=2), nn.Softmax(1))
    layers = trace(model, input_shape=(1, 3, 10, 10), fuse=False).layers
    assert list(layers["op"]) == ["conv2d", "hswish", "dwconv2d", "gelu", "conv2d", "softmax"]
    assert list(layer_classes(layers)) == ["conv", "elementwise", "dwconv", "activation", "grouped", "norm"]
    assert [T.op_group(o) for o in layers["op"]] == ["conv", "memory", "dwconv", "memory", "conv", "memory"]


def test_onnx_rules_emit_only_kinds_of_the_table():
    """The ONNX rules (roofline.trace.onnx_rules, one table of op types) name kinds the op table lists, in the
    category they count them in; their compute kinds are those the PyTorch rules emit for the same ops."""
    from roofline.trace import onnx_rules

    for op, k in onnx_rules.ELEMENTWISE_KINDS.items():
        assert "elementwise" in T.OPS[k].categories, op
    for op, k in onnx_rules.MEMORY_KINDS.items():
        assert "memory" in T.OPS[k].categories, op
    for k in ("conv1d", "conv2d", "conv3d", "conv_transpose2d", "dwconv2d", "fc", "matmul", "attention"):
        assert "compute" in T.OPS[k].categories
    assert onnx_rules.aten_name("MaxPool") == "onnx::max_pool"
    assert onnx_rules.aten_name("ReduceMean") == "onnx::reduce_mean"
    layers = pd.DataFrame({"op": ["pool", "pool", "fc"],
                           "aten": ["onnx::max_pool", "onnx::reduce_mean", "onnx::conv"],
                           "in_shape": ["1x8x4x4", "1x8x4x4", "1x8x1x1"], "out_shape": ["1x8x2x2", "1x8x1x1", "1x4x1x1"]})
    assert T.measured_ops(layers) == ["maxpool", "mean", "fc_conv"]  # the variants read ONNX rows as aten rows
