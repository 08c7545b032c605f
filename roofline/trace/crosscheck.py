"""Cross-check a trace against fvcore, the independent reference counter.

fvcore's ``FlopCountAnalysis`` traces the model with real tensors through
``torch.jit`` and counts one "flop" per MAC for convolutions and matrix
products. Its per-module counts include descendants, so they are turned into
exclusive counts before comparing with our rows (named by innermost module).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import torch
from torch import nn

from .layers import COMPUTE_OPS
from .table import LayerTable

FVCORE_COMPUTE = ("conv", "linear", "addmm", "matmul", "bmm", "einsum", "mm", "baddbmm")

_REASONS = {
    "attention": "fvcore has no rule for aten::scaled_dot_product_attention and counts it as 0",
}
_FVCORE_EXTRA = {
    "batch_norm": "fvcore counts batch norm as flops; here it is folded into the conv (0 MACs)",
    "adaptive_avg_pool2d": "fvcore counts pooling as flops; here pooling is a memory-only layer (0 MACs)",
    "upsample_nearest2d": "fvcore counts upsampling as flops; here it is memory-only",
    "layer_norm": "fvcore counts layer norm as flops; here it is memory-only",
    "group_norm": "fvcore counts group norm as flops; here it is memory-only",
}


def fvcore_check(model: nn.Module, table: LayerTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare per-module conv/linear/matmul MACs of ``table`` with fvcore on ``model`` (real CPU).

    Returns ``(per_module, extras)``: every module where either side counts
    compute MACs, with the difference and its reason; and fvcore's counts for
    ops we treat as memory-only.
    """
    from fvcore.nn import FlopCountAnalysis

    x = torch.randn(table.input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            fa = FlopCountAnalysis(model, x)
            fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            inclusive = fa.by_module_and_operator()
    finally:
        model.train(was_training)

    children = {name: [f"{name}.{c}" if name else c for c, _ in m.named_children()]
                for name, m in model.named_modules()}
    exclusive: dict[str, dict[str, int]] = {}
    for name, ops in inclusive.items():
        ex = dict(ops)
        for child in children.get(name, []):
            for op, n in inclusive.get(child, {}).items():
                ex[op] = ex.get(op, 0) - n
        exclusive[name] = ex

    ours: dict[str, int] = defaultdict(int)
    our_ops: dict[str, set[str]] = defaultdict(set)
    layers = table.layers
    for name, op, macs in zip(layers["name"], layers["op"], layers["macs"]):
        if op in COMPUTE_OPS:
            module = name.split("#")[0]
            module = "" if module == "(model)" else module
            ours[module] += int(macs)
            our_ops[module].add(op)

    rows = []
    for module in sorted(set(ours) | {m for m, ops in exclusive.items()
                                      if any(ops.get(o, 0) for o in FVCORE_COMPUTE)}):
        fv = sum(exclusive.get(module, {}).get(o, 0) for o in FVCORE_COMPUTE)
        mine = ours.get(module, 0)
        diff = mine - fv
        reason = ""
        if diff:
            reason = next((r for op, r in _REASONS.items() if op in our_ops[module] and fv < mine),
                          "unexplained")
        rows.append({"module": module or "(model)", "ops": ",".join(sorted(our_ops[module])),
                     "ours_macs": mine, "fvcore_macs": fv, "diff_macs": diff, "reason": reason})
    per_module = pd.DataFrame(rows, columns=["module", "ops", "ours_macs", "fvcore_macs", "diff_macs", "reason"])

    totals: dict[str, int] = defaultdict(int)
    for op, n in inclusive.get("", {}).items():
        if op not in FVCORE_COMPUTE:
            totals[op] += n
    extras = pd.DataFrame(
        [{"fvcore_op": op, "fvcore_flops": n,
          "reason": _FVCORE_EXTRA.get(op, "fvcore counts this op; here it is memory-only (0 MACs)")}
         for op, n in totals.items()], columns=["fvcore_op", "fvcore_flops", "reason"])
    return per_module, extras
