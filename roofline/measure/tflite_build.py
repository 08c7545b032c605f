"""Write small TFLite graphs without TensorFlow: the probes, peaks and synthetic networks that
``roofline profile --runtime litert`` times under LiteRT.

A :class:`TfliteNet` adds ops one at a time (NHWC tensors, as TFLite keeps them) and :meth:`TfliteNet.finish`
serializes the model with the builder functions the ``tflite`` package generates from TFLite's schema
(``tflite.Conv2DOptionsStart``, ``tflite.Conv2DOptionsAddStrideW``, ...; the tflite extra). Weights are random (a
kernel's speed does not depend on their values).

``int8``: every activation is int8 with one scale and zero point, convolution filters int8 per output channel
(zero point 0, as the converter writes them and XNNPACK's QS8 kernels take them), fully connected weights int8
per tensor, biases int32 at the input scale times the filter scale: a fully quantized graph, as the TFLite
converter writes one with ``Optimize.DEFAULT`` and a representative dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOAT32, INT32, INT8 = 0, 2, 9
_ACT = {"NONE": 0, "RELU": 1, "RELU6": 3}
SAME, VALID = 0, 1
ACT_SCALE = 0.05  # every int8 activation's scale (zero point 0)
_VERSIONS = {"BROADCAST_TO": 2}  # builtins whose version 1 LiteRT does not register
_SIGMOID = (1 / 256, -128)  # the scale and zero point TFLite requires of int8 LOGISTIC and SOFTMAX outputs


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    type: int
    buffer: int
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0


@dataclass
class _Op:
    code: str  # a builtin operator's name in the schema: CONV_2D
    inputs: list[int]
    outputs: list[int]
    options: str = ""  # its builtin options table: Conv2DOptions
    fields: dict[str, float] = field(default_factory=dict)  # that table's fields: {"StrideW": 2}


def _out(size: int, k: int, s: int, padding: int) -> int:
    return -(-size // s) if padding == SAME else (size - k) // s + 1


class TfliteNet:
    """A TFLite graph built op by op; each method takes and returns tensor indices."""

    def __init__(self, int8: bool = False, seed: int = 0):
        self.int8 = int8
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty one every activation points at
        self.ops: list[_Op] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []  # the graph's outputs (default: the last op's)
        self.names: dict[int, str] = {}  # tensor -> its name in the file (default t<index>)
        self.rng = np.random.default_rng(seed)

    # tensors
    def _act(self, shape: tuple[int, ...], quant: tuple[float, int] = (ACT_SCALE, 0)) -> int:
        if self.int8:
            self.tensors.append(_Tensor(tuple(shape), INT8, 0, (quant[0],), (quant[1],)))
        else:
            self.tensors.append(_Tensor(tuple(shape), FLOAT32, 0))
        return len(self.tensors) - 1

    def _const(self, data: np.ndarray, scale: tuple[float, ...] = (), axis: int = 0) -> int:
        self.buffers.append(np.ascontiguousarray(data).tobytes())
        t = {np.dtype("float32"): FLOAT32, np.dtype("int8"): INT8, np.dtype("int32"): INT32}[data.dtype]
        self.tensors.append(_Tensor(tuple(data.shape), t, len(self.buffers) - 1, scale, (0,) * len(scale), axis))
        return len(self.tensors) - 1

    def _weights(self, shape: tuple[int, ...], channels: int, axis: int) -> tuple[int, np.ndarray]:
        """Random weights; int8: per channel along ``axis`` (``channels`` scales)."""
        if not self.int8:
            return self._const((self.rng.standard_normal(shape) * 0.1).astype(np.float32)), np.ones(0)
        scales = np.full(channels, 0.01)
        return self._const(self.rng.integers(-127, 128, shape, dtype=np.int8), tuple(scales), axis), scales

    def _bias(self, n: int, w_scales: np.ndarray) -> int:
        if not self.int8:
            return self._const(np.zeros(n, np.float32))
        return self._const(np.zeros(n, np.int32), tuple(float(ACT_SCALE * s) for s in w_scales), 0)

    def constant(self, data: np.ndarray) -> int:
        """A constant tensor of ``data`` (float32 or int32; float64 and int64 are narrowed)."""
        data = np.asarray(data)
        data = data.astype(np.float32 if data.dtype.kind == "f" else np.int32) if data.dtype.itemsize == 8 else data
        return self._const(data)

    def add_op(self, code: str, inputs: list[int], shape: tuple[int, ...], options: str = "",
               fields: dict | None = None) -> int:
        """Any builtin op ``code`` of ``inputs`` (tensor indices) with output ``shape``, its options table and
        fields (a float graph's: no quantization)."""
        return self._op(code, inputs, tuple(int(d) for d in shape), options, fields)

    def shape(self, t: int) -> tuple[int, ...]:
        return self.tensors[t].shape

    def _quant(self, x: int) -> tuple[float, int]:
        """``x``'s scale and zero point (pools keep their input's: XNNPACK's int8 max pool requires it)."""
        t = self.tensors[x]
        return (t.scale[0], t.zero_point[0]) if t.scale else (ACT_SCALE, 0)

    def input(self, shape: tuple[int, ...]) -> int:
        t = self._act(shape)
        self.inputs.append(t)
        return t

    # ops
    def _op(self, code: str, inputs: list[int], shape: tuple[int, ...], options: str = "",
            fields: dict | None = None, quant: tuple[float, int] = (ACT_SCALE, 0)) -> int:
        y = self._act(shape, quant)
        self.ops.append(_Op(code, inputs, [y], options, fields or {}))
        return y

    def _given(self, weights: np.ndarray | None, bias: np.ndarray | None, shape: tuple[int, ...], channels: int,
               axis: int) -> tuple[int, int]:
        """A filter and bias: ``weights`` and ``bias`` as given (float), else random ones of ``shape``."""
        if weights is None:
            wt, sc = self._weights(shape, channels, axis)
            return wt, self._bias(channels, sc if self.int8 else np.ones(channels))
        weights = np.asarray(weights, np.float32)
        return self._const(weights), self._const(np.zeros(channels, np.float32) if bias is None
                                                 else np.asarray(bias, np.float32))

    def conv(self, x: int, cout: int, k: int, stride: int = 1, groups: int = 1, padding: int = SAME,
             act: str = "NONE", weights: np.ndarray | None = None, bias: np.ndarray | None = None,
             dilation: int = 1) -> int:
        """CONV_2D (grouped where ``groups`` > 1: a filter of ``C_in / groups`` input channels); ``weights``
        (C_out, k_h, k_w, C_in / groups) and ``bias`` where given (float graphs), else random ones."""
        n, h, w, cin = self.shape(x)
        kh, kw = (k, k) if weights is None else np.shape(weights)[1:3]
        wt, b = self._given(weights, bias, (cout, k, k, cin // groups), cout, 0)
        shape = (n, _out(h, (kh - 1) * dilation + 1, stride, padding),
                 _out(w, (kw - 1) * dilation + 1, stride, padding), cout)
        return self._op("CONV_2D", [x, wt, b], shape, "Conv2DOptions",
                        {"Padding": padding, "StrideW": stride, "StrideH": stride, "FusedActivationFunction": _ACT[act],
                         "DilationWFactor": dilation, "DilationHFactor": dilation})

    def depthwise(self, x: int, k: int, stride: int = 1, multiplier: int = 1, padding: int = SAME,
                  act: str = "NONE", weights: np.ndarray | None = None, bias: np.ndarray | None = None,
                  dilation: int = 1) -> int:
        """DEPTHWISE_CONV_2D; ``weights`` (1, k_h, k_w, C_out) and ``bias`` where given, else random ones."""
        n, h, w, cin = self.shape(x)
        cout = cin * multiplier
        kh, kw = (k, k) if weights is None else np.shape(weights)[1:3]
        wt, b = self._given(weights, bias, (1, k, k, cout), cout, 3)
        shape = (n, _out(h, (kh - 1) * dilation + 1, stride, padding),
                 _out(w, (kw - 1) * dilation + 1, stride, padding), cout)
        return self._op("DEPTHWISE_CONV_2D", [x, wt, b], shape, "DepthwiseConv2DOptions",
                        {"Padding": padding, "StrideW": stride, "StrideH": stride, "DepthMultiplier": multiplier,
                         "FusedActivationFunction": _ACT[act], "DilationWFactor": dilation,
                         "DilationHFactor": dilation})

    def fc(self, x: int, units: int, act: str = "NONE", weights: np.ndarray | None = None,
           bias: np.ndarray | None = None) -> int:
        """FULLY_CONNECTED over the last dimension, the others kept; ``weights`` (units, C_in) and ``bias`` where
        given, else random ones."""
        shape = self.shape(x)
        if weights is None:
            wt, sc = self._weights((units, shape[-1]), 1, 0)
            b = self._bias(units, np.repeat(sc, units) if self.int8 else np.ones(units))
        else:
            wt, b = self._given(weights, bias, (units, shape[-1]), units, 0)
        return self._op("FULLY_CONNECTED", [x, wt, b], (*shape[:-1], units), "FullyConnectedOptions",
                        {"FusedActivationFunction": _ACT[act], "KeepNumDims": True})

    def batch_matmul(self, a: int, b: int) -> int:
        sa, sb = self.shape(a), self.shape(b)
        return self._op("BATCH_MATMUL", [a, b], (*sa[:-1], sb[-1]), "BatchMatMulOptions",
                        {"AdjX": False, "AdjY": False})

    def binary(self, code: str, a: int, b: int) -> int:
        """ADD or MUL (``b`` broadcast to ``a``'s shape: squeeze-excitation's scaling is MUL by a 1x1 map)."""
        return self._op(code, [a, b], self.shape(a), f"{code.title()}Options", {"FusedActivationFunction": 0})

    def concat(self, a: int, b: int) -> int:
        """CONCATENATION along channels (int8: both inputs and the output at one scale, as XNNPACK takes it)."""
        sa, sb = self.shape(a), self.shape(b)
        return self._op("CONCATENATION", [a, b], (*sa[:-1], sa[-1] + sb[-1]), "ConcatenationOptions",
                        {"Axis": len(sa) - 1, "FusedActivationFunction": 0}, self._quant(a))

    def pad(self, x: int, p: int) -> int:
        """PAD of ``p`` pixels on each side of height and width (as Keras' ZeroPadding2D converts)."""
        n, h, w, c = self.shape(x)
        pads = self._const(np.array([[0, 0], [p, p], [p, p], [0, 0]], np.int32))
        return self._op("PAD", [x, pads], (n, h + 2 * p, w + 2 * p, c), "PadOptions", {}, self._quant(x))

    def float_input(self, shape: tuple[int, ...]) -> int:
        """A float32 graph input (an int8 graph's, before its QUANTIZE)."""
        self.tensors.append(_Tensor(tuple(shape), FLOAT32, 0))
        self.inputs.append(len(self.tensors) - 1)
        return len(self.tensors) - 1

    def quantize(self, x: int) -> int:
        """QUANTIZE of a float32 tensor to int8 (the first op of a converted int8 graph with a float input)."""
        self.tensors.append(_Tensor(self.shape(x), INT8, 0, (ACT_SCALE,), (0,)))
        y = len(self.tensors) - 1
        self.ops.append(_Op("QUANTIZE", [x], [y]))
        return y

    def unary(self, code: str, x: int) -> int:
        """RELU, HARD_SWISH, LOGISTIC, GELU or SOFTMAX (over the last dimension)."""
        quant = _SIGMOID if code in ("LOGISTIC", "SOFTMAX") else (ACT_SCALE, 0)
        options = {"SOFTMAX": ("SoftmaxOptions", {"Beta": 1.0}), "GELU": ("GeluOptions", {"Approximate": False})}
        opts, fields = options.get(code, ("", {}))
        return self._op(code, [x], self.shape(x), opts, fields, quant)

    def pool(self, code: str, x: int, k: int, stride: int, padding: int = SAME) -> int:
        n, h, w, c = self.shape(x)
        return self._op(code, [x], (n, _out(h, k, stride, padding), _out(w, k, stride, padding), c), "Pool2DOptions",
                        {"Padding": padding, "StrideW": stride, "StrideH": stride, "FilterWidth": k, "FilterHeight": k,
                         "FusedActivationFunction": 0}, self._quant(x))

    def mean(self, x: int) -> int:
        """MEAN over height and width, dimensions kept."""
        n, _, _, c = self.shape(x)
        axes = self._const(np.array([1, 2], np.int32))
        return self._op("MEAN", [x, axes], (n, 1, 1, c), "ReducerOptions", {"KeepDims": True}, self._quant(x))

    # serialization
    def finish(self, outputs: list[int] | None = None) -> bytes:
        """The model as a ``.tflite`` flatbuffer, its outputs ``outputs`` (default :attr:`outputs`, else the
        last op's)."""
        import flatbuffers
        import tflite as T

        outputs = outputs or self.outputs or [self.ops[-1].outputs[0]]
        fb = flatbuffers.Builder(1 << 16)

        def vec_i32(values) -> int:
            return fb.CreateNumpyVector(np.asarray(values, dtype=np.int32))

        def vec_tables(start, offsets: list[int]) -> int:
            start(fb, len(offsets))
            for o in reversed(offsets):
                fb.PrependUOffsetTRelative(o)
            return fb.EndVector()

        def table(name: str, fields: dict) -> int:
            """A table of the schema by its fields' names: ``table("Conv2DOptions", {"StrideW": 2})``."""
            getattr(T, f"{name}Start")(fb)
            for k, v in fields.items():
                getattr(T, f"{name}Add{k}")(fb, v)
            return getattr(T, f"{name}End")(fb)

        codes = list(dict.fromkeys(op.code for op in self.ops))
        bufs = [table("Buffer", {"Data": fb.CreateNumpyVector(np.frombuffer(d, dtype=np.uint8))} if d else {})
                for d in self.buffers]
        tensors = []
        for i, t in enumerate(self.tensors):
            fields = {"Shape": vec_i32(t.shape), "Type": t.type, "Buffer": t.buffer, "Name": fb.CreateString(self.names.get(i, f"t{i}"))}
            if t.scale:
                sc = fb.CreateNumpyVector(np.asarray(t.scale, dtype=np.float32))
                zp = fb.CreateNumpyVector(np.asarray(t.zero_point, dtype=np.int64))
                fields["Quantization"] = table("QuantizationParameters",
                                               {"Scale": sc, "ZeroPoint": zp, "QuantizedDimension": t.axis})
            tensors.append(table("Tensor", fields))
        ops = []
        for op in self.ops:
            fields = {"OpcodeIndex": codes.index(op.code), "Inputs": vec_i32(op.inputs), "Outputs": vec_i32(op.outputs)}
            if op.options:
                opt = table(op.options, op.fields)
                fields |= {"BuiltinOptionsType": getattr(T.BuiltinOptions, op.options), "BuiltinOptions": opt}
            ops.append(table("Operator", fields))
        sub = table("SubGraph", {"Tensors": vec_tables(T.SubGraphStartTensorsVector, tensors),
                                 "Inputs": vec_i32(self.inputs), "Outputs": vec_i32(outputs),
                                 "Operators": vec_tables(T.SubGraphStartOperatorsVector, ops)})
        opcodes = []
        for c in codes:  # builtin codes above 127 have the placeholder 127 in the deprecated field
            code = getattr(T.BuiltinOperator, c)
            opcodes.append(table("OperatorCode", {"DeprecatedBuiltinCode": min(code, 127), "BuiltinCode": code,
                                                  "Version": _VERSIONS.get(c, 1)}))
        model = table("Model", {"Version": 3, "OperatorCodes": vec_tables(T.ModelStartOperatorCodesVector, opcodes),
                                "Subgraphs": vec_tables(T.ModelStartSubgraphsVector, [sub]),
                                "Buffers": vec_tables(T.ModelStartBuffersVector, bufs)})
        fb.Finish(model, file_identifier=b"TFL3")
        return bytes(fb.Output())
