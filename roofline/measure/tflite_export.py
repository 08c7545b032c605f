"""Convert a PyTorch model to a float32 TFLite graph without TensorFlow: ``roofline validate --runtime litert`` of a
zoo, library or file model.

The model is exported by ``torch.onnx.export`` (:func:`roofline.measure.onnx_runtime.export_onnx`: eval mode, the
fixed input, opset 17, batch norms folded into their convs), then each ONNX node is written as the TFLite op the
TFLite converter writes for it, with the model's own weights, into a :class:`~roofline.measure.tflite_build.TfliteNet`:

- layout: 4-D activations are NHWC, as TFLite keeps them (the graph's input too); a TRANSPOSE is written only where
  an op needs the tensor in PyTorch's order (a reshape that moves data across channels, a matmul);
- convolutions: CONV_2D (grouped ones too), DEPTHWISE_CONV_2D where every input channel has its own filters; a
  ReLU or ReLU6 that alone reads a conv's or a linear layer's output is fused into it, as the converter fuses it;
  padding is SAME or VALID where PyTorch's pads are those, else a PAD op and VALID;
- activations: RELU, RELU6 (a Clip to 0-6), HARD_SWISH, LOGISTIC, TANH; a hard sigmoid as ADD, RELU6 and MUL
  (relu6(x + 3) / 6);
- linear layers: FULLY_CONNECTED (Gemm, MatMul by a constant), BATCH_MATMUL of two activations;
- the rest: ADD, SUB, MUL, DIV, MEAN (global average pools, ReduceMean), AVERAGE_POOL_2D and MAX_POOL_2D,
  CONCATENATION, SOFTMAX, RESHAPE, TRANSPOSE.

An ONNX op without a rule here (layer norm, GELU's Erf, resizes, ...) is one clear error naming it: such a model
needs TensorFlow's converter or ai-edge-torch, neither a dependency. Float32 only: an int8 graph needs a calibrated
quantizer, which is the TFLite converter's job. The converted graph computes what the module computes (tested
against PyTorch's outputs); its speed under LiteRT is what a converted deployment of that graph runs at.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.errors import RooflineError
from .tflite_build import SAME, VALID, TfliteNet

NCHW_TO_NHWC, NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
_UNARY = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH"}  # ONNX -> TFLite
_BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV"}
_FOLD = {"Identity", "Dropout", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Add", "Sub", "Mul",
         "Div", "Slice", "ConstantOfShape", "Equal", "Where", "Expand", "Sqrt"}  # ops evaluated here when every input is a constant


class _Converter:
    def __init__(self, model, name: str, path: Path):
        import onnx
        from onnx import numpy_helper

        self.name = name
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        g = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in [*g.input, *g.value_info, *g.output]:
            dims = vi.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                self.shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
        missing = [o for node in g.node for o in node.output if o and o not in self.shapes and
                   node.op_type not in ("Constant", "Shape")]
        if missing:  # shapes onnx's inference left out (behind shape arithmetic): from one run on zeros
            from ..trace.onnx_shapes import run_for_shapes

            x = g.input[0].name
            run_for_shapes(model, path, [(x, self.shapes[x])], {x: 1}, missing, self.shapes)
        self.users: dict[str, int] = {}
        self.consumer: dict[str, int] = {}  # a tensor -> the index of a node that reads it
        for j, node in enumerate(g.node):
            for i in node.input:
                self.users[i] = self.users.get(i, 0) + 1
                self.consumer[i] = j
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        for o in g.output:
            self.users[o.name] = self.users.get(o.name, 0) + 1
        self.graph = g
        self.net = TfliteNet()
        self.env: dict[str, tuple[int, bool]] = {}  # ONNX tensor -> (TFLite tensor, held NHWC)

    # layout
    def plain(self, name: str) -> int:
        """``name``'s tensor in PyTorch's dimension order (a TRANSPOSE where it is held NHWC)."""
        t, nhwc = self.env[name]
        if not nhwc:
            return t
        n, h, w, c = self.net.shape(t)
        return self.net.add_op("TRANSPOSE", [t, self.net.constant(np.array(NHWC_TO_NCHW))], (n, c, h, w))

    def nhwc(self, name: str) -> int:
        t, held = self.env[name]
        if held:
            return t
        n, c, h, w = self.net.shape(t)
        return self.net.add_op("TRANSPOSE", [t, self.net.constant(np.array(NCHW_TO_NHWC))], (n, h, w, c))

    def operand(self, name: str, nhwc: bool, rank: int) -> int:
        """An elementwise op's input: a constant in the layout of the activation it meets, else the tensor."""
        if name in self.consts:
            c = self.consts[name].astype(np.float32)
            if nhwc and c.ndim == 4:
                c = c.transpose(NCHW_TO_NHWC)
            elif nhwc and c.ndim == 3 and rank == 4:  # (C, 1, 1) broadcast over N, C, H, W
                c = c.transpose(1, 2, 0)
            return self.net.constant(c)
        return self.nhwc(name) if nhwc else self.plain(name)

    def is_nhwc(self, name: str) -> bool:
        return name in self.env and self.env[name][1]

    # conversion
    def run(self) -> bytes:
        g = self.graph
        x = g.input[0]
        n, c, h, w = self.shapes[x.name]
        self.env[x.name] = (self.net.input((n, h, w, c)), True)
        nodes = list(g.node)
        skip: set[int] = set()
        for i, node in enumerate(nodes):
            if i in skip:
                continue
            if node.op_type == "Constant":  # read in __init__
                continue
            if node.op_type == "Shape" and node.input[0] in self.shapes:  # static here: a constant
                self.consts[node.output[0]] = np.array(self.shapes[node.input[0]], np.int64)
                continue
            if node.input and all(i in self.consts for i in node.input if i) and node.op_type in _FOLD:
                self.consts[node.output[0]] = self._fold(node)  # shape arithmetic and shared weights
                continue
            act = "NONE"
            nxt = self._fusable_next(nodes, i)
            if nxt is not None:
                act, out, j = nxt
                skip.add(j)
            else:
                out = node.output[0]
            handler = (getattr(self, f"_{node.op_type}", None) if node.op_type not in _UNARY | _BINARY else
                       (lambda n: self._unary(n, _UNARY[n.op_type])) if node.op_type in _UNARY else
                       (lambda n: self._binary(n, _BINARY[n.op_type])))
            if handler is None:
                raise RooflineError(f"{self.name}: converting to TFLite here has no rule for the ONNX op "
                                    f"{node.op_type} (node {node.name or i}): convert the model with TensorFlow's "
                                    f"converter or ai-edge-torch and pass the .tflite file")
            self.env[out] = handler(node, act) if node.op_type in ("Conv", "Gemm", "MatMul") else handler(node)
            self.net.names.setdefault(self.env[out][0], node.name or out)  # layers read as the module's nodes
        outs = [self.plain(o.name) for o in g.output]
        return self.net.finish(outs)

    def _fold(self, node) -> np.ndarray:
        """A node of constants evaluated here (the shape arithmetic an export leaves behind)."""
        v = [self.consts[i] if i else None for i in node.input]
        op = node.op_type
        if op in ("Identity", "Dropout", "Cast"):
            return v[0] if op != "Cast" else v[0].astype(np.int64 if v[0].dtype.kind in "iu" else np.float32)
        if op == "Gather":
            return np.take(v[0], v[1], axis=int(self._attr(node, "axis", 0)))
        if op == "Unsqueeze":
            axes = v[1] if len(v) > 1 else self._attr(node, "axes")
            out = v[0]
            for a in sorted(int(a) % (out.ndim + len(axes)) for a in axes):
                out = np.expand_dims(out, a)
            return out
        if op == "Squeeze":
            return np.squeeze(v[0], axis=tuple(int(a) for a in v[1])) if len(v) > 1 else np.squeeze(v[0])
        if op == "Concat":
            return np.concatenate([np.atleast_1d(x) for x in v], axis=int(self._attr(node, "axis")))
        if op == "Reshape":
            return v[0].reshape([int(d) for d in v[1]])
        if op == "Slice":
            axes = v[3] if len(v) > 3 and v[3] is not None else range(len(v[1]))
            steps = v[4] if len(v) > 4 and v[4] is not None else [1] * len(v[1])
            index = [slice(None)] * v[0].ndim
            for a, b, e, st in zip(axes, v[1], v[2], steps):
                index[int(a)] = slice(int(b), int(e), int(st))
            return v[0][tuple(index)]
        if op == "ConstantOfShape":
            from onnx import numpy_helper

            value = self._attr(node, "value")
            fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
            return np.full([int(d) for d in v[0]], fill)
        if op == "Equal":
            return np.equal(v[0], v[1])
        if op == "Where":
            return np.where(v[0], v[1], v[2])
        if op == "Expand":
            return v[0] * np.ones([int(d) for d in v[1]], v[0].dtype)
        if op == "Sqrt":
            return np.sqrt(v[0])
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}.get(op)
        if fn is not None:
            return fn(v[0], v[1])
        return (v[0] // v[1]) if v[0].dtype.kind in "iu" else v[0] / v[1]  # Div

    def _fusable_next(self, nodes, i: int) -> tuple[str, str, int] | None:
        """(fused activation, its output, its node's index) where node ``i`` is a conv or linear layer whose output
        one node alone reads, a ReLU or a Clip to 0-6."""
        node = nodes[i]
        if node.op_type not in ("Conv", "Gemm", "MatMul") or self.users.get(node.output[0], 0) != 1:
            return None
        if node.op_type == "MatMul" and (len(node.input) < 2 or node.input[1] not in self.consts):
            return None
        j = self.consumer.get(node.output[0])
        if j is None:  # the graph's output
            return None
        nxt = nodes[j]
        if nxt.op_type == "Relu":
            return "RELU", nxt.output[0], j
        if nxt.op_type == "Clip" and nxt.input[0] == node.output[0] and self._clip(nxt) == (0.0, 6.0):
            return "RELU6", nxt.output[0], j
        return None

    def _attr(self, node, key: str, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == key:
                return helper.get_attribute_value(a)
        return default

    def _clip(self, node) -> tuple[float, float]:
        lo = float(self.consts[node.input[1]]) if len(node.input) > 1 and node.input[1] else -math.inf
        hi = float(self.consts[node.input[2]]) if len(node.input) > 2 and node.input[2] else math.inf
        return lo, hi

    def _padding(self, x: int, node, k: tuple[int, int], stride: int, dilation: int, value: float = 0.0) -> tuple[int, int]:
        """(input, TFLite padding) for a windowed op: SAME or VALID where PyTorch's pads equal them, else a PAD."""
        pads = list(self._attr(node, "pads", [0, 0, 0, 0]))
        if not any(pads):
            return x, VALID
        _, h, w, _ = self.net.shape(x)
        same = []
        for size, kk in ((h, k[0]), (w, k[1])):
            total = max((-(-size // stride) - 1) * stride + (kk - 1) * dilation + 1 - size, 0)
            same.append((total // 2, total - total // 2))
        if [same[0][0], same[1][0], same[0][1], same[1][1]] == pads:
            return x, SAME
        spec = self.net.constant(np.array([[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]]))
        n, h, w, c = self.net.shape(x)
        shape = (n, h + pads[0] + pads[2], w + pads[1] + pads[3], c)
        if value == 0.0:
            y = self.net.add_op("PAD", [x, spec], shape, "PadOptions", {})
        else:
            y = self.net.add_op("PADV2", [x, spec, self.net.constant(np.array([value], np.float32))], shape,
                                "PadV2Options", {})
        self.net.names[y] = f"{node.name}/pad"
        return y, VALID

    def _Conv(self, node, act: str) -> tuple[int, bool]:
        w = self.consts.get(node.input[1])
        if w is None or w.ndim != 4:
            raise RooflineError(f"{self.name}: converting to TFLite here takes 2-D convolutions with constant "
                                f"filters (node {node.name})")
        bias = self.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        strides, dil = self._attr(node, "strides", [1, 1]), self._attr(node, "dilations", [1, 1])
        if len(set(strides)) != 1 or len(set(dil)) != 1:
            raise RooflineError(f"{self.name}: converting to TFLite here takes equal strides and dilations on both "
                                f"axes (node {node.name})")
        groups = int(self._attr(node, "group", 1))
        x, pad = self._padding(self.nhwc(node.input[0]), node, w.shape[2:], strides[0], dil[0])
        cin, cout = self.net.shape(x)[3], w.shape[0]
        if groups == cin and groups > 1:  # one filter set per input channel
            return self.net.depthwise(x, w.shape[2], strides[0], cout // cin, pad, act, w.transpose(1, 2, 3, 0),
                                      bias, dil[0]), True
        return self.net.conv(x, cout, w.shape[2], strides[0], groups, pad, act, w.transpose(0, 2, 3, 1), bias,
                             dil[0]), True

    def _Gemm(self, node, act: str) -> tuple[int, bool]:
        if self._attr(node, "transA", 0) or self._attr(node, "alpha", 1.0) != 1.0 or \
                self._attr(node, "beta", 1.0) != 1.0 or node.input[1] not in self.consts:
            raise RooflineError(f"{self.name}: converting to TFLite here takes a Gemm as a linear layer (node "
                                f"{node.name})")
        w = self.consts[node.input[1]]
        w = w if self._attr(node, "transB", 0) else w.T
        bias = self.consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        return self.net.fc(self._flat(node.input[0]), w.shape[0], act, w, bias), False

    def _flat(self, name: str) -> int:
        """A linear layer's input: a (N, 1, 1, C) map is (N, C) in either order."""
        t, nhwc = self.env[name]
        if nhwc and self.net.shape(t)[1:3] == (1, 1):
            n, _, _, c = self.net.shape(t)
            return self.net.add_op("RESHAPE", [t, self.net.constant(np.array([n, c]))], (n, c), "ReshapeOptions",
                                   {})
        return self.plain(name)

    def _MatMul(self, node, act: str) -> tuple[int, bool]:
        a, b = node.input
        if b in self.consts and self.consts[b].ndim == 2:
            w = self.consts[b].T
            return self.net.fc(self.plain(a), w.shape[0], act, w, None), False
        ta, tb = self.plain(a), self.plain(b)
        return self.net.add_op("BATCH_MATMUL", [ta, tb], self.shapes[node.output[0]], "BatchMatMulOptions",
                               {"AdjX": False, "AdjY": False}), False

    def _unary(self, node, code: str) -> tuple[int, bool]:
        t, nhwc = self.env[node.input[0]]
        return self.net.add_op(code, [t], self.net.shape(t)), nhwc

    def _Clip(self, node):
        lo, hi = self._clip(node)
        if (lo, hi) == (0.0, 6.0):
            return self._unary(node, "RELU6")
        if lo == 0.0 and hi == math.inf:
            return self._unary(node, "RELU")
        raise RooflineError(f"{self.name}: converting to TFLite here takes a Clip to 0-6 or to 0 and above, not "
                            f"{lo:g} to {hi:g} (node {node.name})")

    def _HardSigmoid(self, node):
        """clip(alpha x + beta, 0, 1) = relu6(6 alpha x + 6 beta) / 6."""
        alpha, beta = float(self._attr(node, "alpha", 0.2)), float(self._attr(node, "beta", 0.5))
        t, nhwc = self.env[node.input[0]]
        shape = self.net.shape(t)
        if not math.isclose(6 * alpha, 1.0):
            t = self.net.add_op("MUL", [t, self.net.constant(np.array(6 * alpha, np.float32))], shape, "MulOptions",
                                {"FusedActivationFunction": 0})
        t = self.net.add_op("ADD", [t, self.net.constant(np.array(6 * beta, np.float32))], shape, "AddOptions",
                            {"FusedActivationFunction": 3})  # RELU6 fused into the add
        return self.net.add_op("MUL", [t, self.net.constant(np.array(1 / 6, np.float32))], shape, "MulOptions",
                               {"FusedActivationFunction": 0}), nhwc

    def _binary(self, node, code: str):
        a, b = node.input
        nhwc = self.is_nhwc(a) or self.is_nhwc(b)
        out = self.shapes[node.output[0]]
        ta, tb = self.operand(a, nhwc, len(out)), self.operand(b, nhwc, len(out))
        shape = tuple(out[i] for i in NCHW_TO_NHWC) if nhwc and len(out) == 4 else out
        return self.net.add_op(code, [ta, tb], shape, f"{code.title()}Options",
                               {"FusedActivationFunction": 0} if code != "DIV" else {}), nhwc and len(out) == 4

    def _mean(self, name: str, axes: list[int], keep: bool):
        t, nhwc = self.env[name]
        rank = len(self.net.shape(t))
        axes = sorted(a % rank for a in axes)
        if nhwc:
            axes = sorted(NCHW_TO_NHWC.index(a) for a in axes)
        shape = [1 if i in axes else d for i, d in enumerate(self.net.shape(t))]
        if not keep:
            shape = [d for i, d in enumerate(shape) if i not in axes]
        y = self.net.add_op("MEAN", [t, self.net.constant(np.array(axes))], tuple(shape), "ReducerOptions",
                            {"KeepDims": bool(keep)})
        return y, nhwc and keep

    def _GlobalAveragePool(self, node):
        return self._mean(node.input[0], [2, 3], True)

    def _ReduceMean(self, node):
        axes = self._attr(node, "axes") or (list(self.consts[node.input[1]]) if len(node.input) > 1 else None)
        if axes is None:
            raise RooflineError(f"{self.name}: converting to TFLite here takes a ReduceMean with its axes (node "
                                f"{node.name})")
        return self._mean(node.input[0], list(axes), bool(self._attr(node, "keepdims", 1)))

    def _pool(self, node, code: str):
        k = self._attr(node, "kernel_shape")
        strides = self._attr(node, "strides", [1, 1])
        if len(set(k)) != 1 or len(set(strides)) != 1 or self._attr(node, "ceil_mode", 0) or \
                any(d != 1 for d in self._attr(node, "dilations", [1, 1])):
            raise RooflineError(f"{self.name}: converting to TFLite here takes square pools without ceil mode or "
                                f"dilation (node {node.name})")
        x = self.nhwc(node.input[0])
        if code == "AVERAGE_POOL_2D" and any(self._attr(node, "pads", [0])):
            raise RooflineError(f"{self.name}: converting to TFLite here takes average pools without padding "
                                f"(node {node.name})")
        x, pad = self._padding(x, node, tuple(k), strides[0], 1, value=-3.4e38)
        n, h, w, c = self.net.shape(x)
        size = [(-(-d // strides[0]) if pad == SAME else (d - k[0]) // strides[0] + 1) for d in (h, w)]
        return self.net.add_op(code, [x], (n, *size, c), "Pool2DOptions",
                               {"Padding": pad, "StrideW": strides[0], "StrideH": strides[0], "FilterWidth": k[0],
                                "FilterHeight": k[0], "FusedActivationFunction": 0}), True

    def _MaxPool(self, node):
        return self._pool(node, "MAX_POOL_2D")

    def _AveragePool(self, node):
        return self._pool(node, "AVERAGE_POOL_2D")

    def _reshape(self, name: str, out: tuple[int, ...]):
        t, nhwc = self.env[name]
        if nhwc and self.net.shape(t)[1:3] == (1, 1) and len(out) == 2:
            src = t  # (N, 1, 1, C) and (N, C, 1, 1) hold the same data in the same order
        else:
            src = self.plain(name)
        return self.net.add_op("RESHAPE", [src, self.net.constant(np.array(out))], out, "ReshapeOptions", {}), False

    def _Reshape(self, node):
        return self._reshape(node.input[0], self.shapes[node.output[0]])

    def _Flatten(self, node):
        return self._reshape(node.input[0], self.shapes[node.output[0]])

    def _Squeeze(self, node):
        return self._reshape(node.input[0], self.shapes[node.output[0]])

    def _Unsqueeze(self, node):
        return self._reshape(node.input[0], self.shapes[node.output[0]])

    def _Transpose(self, node):
        perm = list(self._attr(node, "perm"))
        t = self.plain(node.input[0])
        return self.net.add_op("TRANSPOSE", [t, self.net.constant(np.array(perm))], self.shapes[node.output[0]]), False

    def _Concat(self, node):
        axis = int(self._attr(node, "axis"))
        rank = len(self.shapes[node.output[0]])
        nhwc = rank == 4 and all(self.is_nhwc(i) or i in self.consts for i in node.input)
        ts = [self.operand(i, nhwc, rank) for i in node.input]
        axis = axis % rank
        out = self.shapes[node.output[0]]
        if nhwc:
            axis, out = NCHW_TO_NHWC.index(axis), tuple(out[i] for i in NCHW_TO_NHWC)
        return self.net.add_op("CONCATENATION", ts, out, "ConcatenationOptions",
                               {"Axis": axis, "FusedActivationFunction": 0}), nhwc

    def _Softmax(self, node):
        t, nhwc = self.env[node.input[0]]
        rank = len(self.net.shape(t))
        axis = int(self._attr(node, "axis", -1)) % rank
        if nhwc and axis == 1:  # over channels: the last axis in NHWC
            return self.net.add_op("SOFTMAX", [t], self.net.shape(t), "SoftmaxOptions", {"Beta": 1.0}), True
        if axis != rank - 1:
            raise RooflineError(f"{self.name}: converting to TFLite here takes a softmax over the last axis (node "
                                f"{node.name})")
        t = self.plain(node.input[0])
        return self.net.add_op("SOFTMAX", [t], self.net.shape(t), "SoftmaxOptions", {"Beta": 1.0}), False

    def _BatchNormalization(self, node):
        """A batch norm the export left unfolded (one not after a conv), at inference: MUL and ADD per channel."""
        gamma, beta, mean, var = (self.consts[i].astype(np.float64) for i in node.input[1:5])
        scale = gamma / np.sqrt(var + float(self._attr(node, "epsilon", 1e-5)))
        t, nhwc = self.env[node.input[0]]
        shape = self.net.shape(t)
        rank = len(shape)
        bshape = [1] * rank
        bshape[rank - 1 if nhwc else 1] = -1
        m = self.net.add_op("MUL", [t, self.net.constant(scale.astype(np.float32).reshape(bshape))], shape,
                            "MulOptions", {"FusedActivationFunction": 0})
        return self.net.add_op("ADD", [m, self.net.constant((beta - mean * scale).astype(np.float32).reshape(bshape))],
                               shape, "AddOptions", {"FusedActivationFunction": 0}), nhwc

    def _Slice(self, node):
        """STRIDED_SLICE of constant starts, ends, axes and steps."""
        if not all(i in self.consts for i in node.input[1:] if i):
            raise RooflineError(f"{self.name}: converting to TFLite here takes slices of constant bounds (node "
                                f"{node.name})")
        t, nhwc = self.env[node.input[0]]
        shape = self.shapes[node.input[0]]  # PyTorch's order
        rank = len(shape)
        starts, ends = self.consts[node.input[1]], self.consts[node.input[2]]
        axes = self.consts[node.input[3]] if len(node.input) > 3 and node.input[3] else np.arange(len(starts))
        steps = self.consts[node.input[4]] if len(node.input) > 4 and node.input[4] else np.ones(len(starts), int)
        begin, end, stride = [0] * rank, list(shape), [1] * rank
        for a, b, e, st in zip(axes, starts, ends, steps):
            a = int(a) % rank
            begin[a], end[a], stride[a] = (int(x) for x in slice(int(b), int(e), int(st)).indices(shape[a]))
        out = self.shapes[node.output[0]]
        if nhwc:
            begin, end, stride = ([v[i] for i in NCHW_TO_NHWC] for v in (begin, end, stride))
            out = tuple(out[i] for i in NCHW_TO_NHWC)
        c = self.net.constant
        return self.net.add_op("STRIDED_SLICE", [t, c(np.array(begin)), c(np.array(end)), c(np.array(stride))], out,
                               "StridedSliceOptions", {}), nhwc

    def _Expand(self, node):
        """BROADCAST_TO the output's shape (in PyTorch's order)."""
        out = self.shapes[node.output[0]]
        return self.net.add_op("BROADCAST_TO", [self.plain(node.input[0]), self.net.constant(np.array(out))], out), False

    def _Identity(self, node):
        return self.env[node.input[0]]

    _Dropout = _Identity


def convert(module, shape: tuple[int, ...], folder: Path, name: str) -> Path:
    """``module`` (a PyTorch model taking one NCHW image batch of ``shape``) as a float32 TFLite file in
    ``folder``, its input NHWC: ``shape`` with channels last. Raises one clear error for what it cannot convert."""
    import onnx

    from .onnx_runtime import export_onnx

    onnx_file = export_onnx(module, shape, folder, name)
    data = _Converter(onnx.load(str(onnx_file)), name, onnx_file).run()
    path = onnx_file.with_suffix(".tflite")
    path.write_bytes(data)
    return path


def nhwc_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A converted graph's input shape for the NCHW ``shape``."""
    return tuple(shape[i] for i in NCHW_TO_NHWC)
