"""int8 ONNX graphs as ONNX Runtime's CPU provider runs them fastest: ``quantize_onnx`` quantizes a float ONNX file
with ONNX Runtime's own static quantizer, in the format its x86 kernels fuse.

- Format: QDQ (QuantizeLinear / DequantizeLinear pairs around each quantized op), **U8S8**: uint8 activations,
  int8 per-channel weights, int32 biases. ONNX Runtime's graph optimizer fuses each DQ -> op -> Q into one int8
  kernel (QLinearConv, QLinearAdd, QGemm, QLinearGlobalAveragePool, ...). With int8 activations (S8S8) it left
  a third of MobileNetV2's convs and all its residual adds as float kernels between Dequantize and Quantize
  kernels (onnxruntime 1.32, this CPU; a graph reader cannot see which);
- calibration: MinMax over ``samples`` standard-normal inputs of the graph's shapes (seeded): the ranges only
  set scales, and an int8 kernel's time does not depend on its values;
- an op the quantizer leaves in float (HardSwish, GELU, LayerNormalization) sits in a network between a
  Dequantize and a Quantize kernel; where a graph's input or output has no such pair, one is added, so a
  one-op graph runs as the op runs in an int8 network (:func:`boundary_nodes` names the pair's outer half,
  which a network pays once, at its ends).

The models it quantizes must have distinct weights: an untrained model's equal initializers, merged by the
exporter, are shared by several convs, which the quantizer then leaves in float (8 of MobileNetV2's 52 convs).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ..core.errors import RooflineError
from .onnx_runtime import require_ort

# the uint8 pair added where a float input or output of the graph has none: the scale sets only values
_PAIR_SCALE, _PAIR_ZERO = 0.05, 128


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike, samples: int = 4, seed: int = 0) -> Path:
    """``src`` (a float ONNX file with fixed input shapes) quantized to ``dst`` (see the module docstring)."""
    ort = require_ort()
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(src))
    inits = {i.name for i in model.graph.initializer}
    shapes = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value for d in i.type.tensor_type.shape.dim]
        if not dims or any(d <= 0 for d in dims):
            raise RooflineError(f"quantizing {src} needs fixed input shapes; input {i.name!r} has {dims}")
        shapes[i.name] = tuple(dims)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rng, self.left = np.random.default_rng(seed), samples

        def get_next(self):
            if self.left <= 0:
                return None
            self.left -= 1
            return {k: self.rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs its advice (pre-processing) on every call
    ort.set_default_logger_severity(3)  # and its calibration sessions warn of each initializer they drop
    try:
        with tempfile.TemporaryDirectory(prefix="roofline-quant-") as tmp:
            mid = Path(tmp) / "q.onnx"
            quantize_static(str(src), str(mid), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            out = _pair_ends(onnx.load(str(mid)))
    except RooflineError:
        raise
    except Exception as e:  # the quantizer raises many types for a graph it cannot quantize
        raise RooflineError(f"ONNX Runtime's quantizer could not quantize {src}: {str(e).splitlines()[0][:300]}"
                            ) from None
    finally:
        root.setLevel(level)
    dst = Path(dst)
    onnx.save(out, str(dst))
    return dst


def _pair_ends(model):
    """A Quantize -> Dequantize pair on each float graph input that no QuantizeLinear reads, and on each float
    output that no DequantizeLinear writes."""
    from onnx import TensorProto, helper

    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    readers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    floats = {v.name for v in list(g.input) + list(g.output) if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    pair = ["roofline_pair_scale", "roofline_pair_zero"]
    head, tail = [], []
    for v in g.input:
        if v.name in floats and not any(n.op_type == "QuantizeLinear" for n in readers.get(v.name, [])):
            q, dq = f"{v.name}_roofline_q", f"{v.name}_roofline_dq"
            for n in readers.get(v.name, []):
                n.input[:] = [dq if i == v.name else i for i in n.input]
            head += [helper.make_node("QuantizeLinear", [v.name] + pair, [q], name=f"{v.name}_QuantizeLinear"),
                     helper.make_node("DequantizeLinear", [q] + pair, [dq], name=f"{v.name}_DequantizeLinear")]
    for v in g.output:
        p = producer.get(v.name)
        if v.name in floats and p is not None and p.op_type != "DequantizeLinear":
            raw, q = f"{v.name}_roofline_raw", f"{v.name}_roofline_q"
            p.output[:] = [raw if o == v.name else o for o in p.output]
            for n in readers.get(v.name, []):
                n.input[:] = [raw if i == v.name else i for i in n.input]
            tail += [helper.make_node("QuantizeLinear", [raw] + pair, [q], name=f"{v.name}_QuantizeLinear"),
                     helper.make_node("DequantizeLinear", [q] + pair, [v.name], name=f"{v.name}_DequantizeLinear")]
    if not head and not tail:
        return model
    g.initializer.extend([helper.make_tensor(pair[0], TensorProto.FLOAT, [], [_PAIR_SCALE]),
                          helper.make_tensor(pair[1], TensorProto.UINT8, [], [_PAIR_ZERO])])
    nodes = head + list(g.node) + tail
    del g.node[:]
    g.node.extend(nodes)
    return model


def boundary_nodes(path: str | os.PathLike) -> frozenset[str]:
    """The names of a quantized graph's nodes at its ends: each QuantizeLinear that reads a graph input and each
    DequantizeLinear that writes a graph output (a network converts once, at its ends; a probe around each op)."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    ins, outs = {i.name for i in g.input}, {o.name for o in g.output}
    return frozenset(n.name for n in g.node
                     if (n.op_type == "QuantizeLinear" and n.input[0] in ins)
                     or (n.op_type == "DequantizeLinear" and n.output[0] in outs))


def distinct_weights(module, seed: int = 0):
    """A copy of ``module`` whose parameters and batch-norm statistics are random (seeded; norm scales around 1,
    variances from 0.5 to 1.5), so that no two initializers are equal and the exporter merges none (an
    untrained model's equal ones, shared by several convs, keep those convs in float once quantized)."""
    import copy

    import torch

    g = torch.Generator().manual_seed(seed)
    out = copy.deepcopy(module).eval()
    with torch.no_grad():
        for n, p in out.named_parameters():
            base = 1.0 if n.endswith("weight") and p.dim() == 1 else 0.0
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + base)
        for n, b in out.named_buffers():
            if n.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif n.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
    return out
