"""TFLite files as models (issue 27, item 2): MobileNet V1 and V2 and a small ResNet converted with the TFLite
converter, float and int8 (tests/fixtures/tflite, made by tests/fixtures/make_tflite_fixtures.py), against the
zoo's same architecture and a PyTorch twin; a graph built here byte by byte with counts worked out by hand; every
command that takes a model; and the bad inputs (one line, exit 2).

Keras' MobileNet V1 and V2 at width 0.25 are the zoo's architectures (the same channels: Keras rounds
``int(c * 0.25)`` up to multiples of 8 for V2 and keeps ``int(c * 0.25)`` for V1, both 8, 16, 32, ..., 256; the
same 1280-channel head conv for V2), with two differences that move no MAC of the body: the fixtures' classifier
has 10 classes (the zoo's 1000; V1's is a 1x1 convolution on the pooled map, an FC layer all the same), and
Keras ends with a softmax (a memory-only row) where the zoo returns logits."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import roofline
from roofline.core.errors import RooflineError, TraceError, UnsupportedOpError, UnsupportedOpWarning

tflite = pytest.importorskip("tflite")
import flatbuffers  # noqa: E402  (a dependency of tflite)

from roofline.trace.graph_file import is_graph_file  # noqa: E402
from roofline.trace.tflite_graph import is_tflite_model, trace_tflite  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tflite"
MOBILENETS = {"mnv1": "mnv1_025_96", "mnv2": "mnv2_025_96"}
# MACs of the zoo's MobileNets at width 0.25, 96 pixels, 10 classes (the fixtures' architecture)
ZOO_MACS = {"mnv1": 7_491_712, "mnv2": 6_610_592}


def fixture(name: str) -> Path:
    return FIXTURES / f"{name}.tflite"


def _needs_litert():
    pytest.importorskip("ai_edge_litert")


# --- converted models against the zoo -----------------------------------------------------------------

@pytest.mark.parametrize("quant", ["float", "int8"])
@pytest.mark.parametrize("arch", ["mnv1", "mnv2"])
def test_converted_mobilenet_equals_the_zoo(arch, quant):
    from roofline.zoo.builder import build_arch
    from roofline.zoo.specs import ARCHS

    t = roofline.trace(str(fixture(f"{MOBILENETS[arch]}_{quant}")))
    zoo = roofline.trace(build_arch(ARCHS[arch], 0.25, num_classes=10), (1, 3, 96, 96))
    assert t.macs == zoo.macs == ZOO_MACS[arch]
    # the zoo's own name at 1000 classes: the same body, a classifier 990 classes wider
    classes = roofline.trace(arch, width=0.25, resolution=96)
    features = {"mnv1": 256, "mnv2": 1280}[arch]
    assert classes.macs - t.macs == features * (1000 - 10)
    # one row per conv and FC layer, in order, with the zoo's op classes and MACs
    mine, theirs = t.layers[~t.layers["memory_only"]], zoo.layers[~zoo.layers["memory_only"]]
    assert list(mine["op"]) == list(theirs["op"]) and list(mine["macs"]) == list(theirs["macs"])
    convs = mine["op"] != "fc"  # V1's classifier is a 1x1 conv: 1x10x1x1 out, the zoo's Linear 1x10
    assert list(mine[convs]["groups"]) == list(theirs[convs.to_numpy()]["groups"])
    assert list(mine[convs]["out_shape"]) == list(theirs[convs.to_numpy()]["out_shape"])  # NCHW, as PyTorch
    assert t.dtype == ("int8" if quant == "int8" else "float32")
    assert t.input_shape == (1, 96, 96, 3) and t.shapes_from == "the file"


def _resnet_twin():
    """tests/fixtures/make_tflite_fixtures.py's resnet_tiny in PyTorch."""
    from torch import nn

    def cbr(cin, cout, k, s, relu=True):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))

    class Block(nn.Module):
        def __init__(self, cin, c, s):
            super().__init__()
            self.body = nn.Sequential(cbr(cin, c, 3, s), cbr(c, c, 3, 1, relu=False))
            self.proj = cbr(cin, c, 1, s, relu=False) if s != 1 or cin != c else nn.Identity()

        def forward(self, x):
            return (self.body(x) + self.proj(x)).relu()

    return nn.Sequential(cbr(3, 16, 3, 2), nn.MaxPool2d(3, 2, 1), Block(16, 16, 1), Block(16, 32, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


@pytest.mark.parametrize("quant", ["float", "int8"])
def test_converted_resnet_equals_its_pytorch_twin(quant):
    t = roofline.trace(fixture(f"resnet_tiny_64_{quant}"))
    twin = roofline.trace(_resnet_twin(), (1, 3, 64, 64))
    # by hand: stem 32*32*16*27, two 16x16x16 3x3 convs, 8*8*32 * (16*9 + 32*9 + 16), FC 32*10
    assert t.macs == twin.macs == 442_368 + 2 * 589_824 + 294_912 + 589_824 + 32_768 + 320 == 2_539_840
    mine, theirs = t.layers[~t.layers["memory_only"]], twin.layers[~twin.layers["memory_only"]]
    assert sorted(mine["macs"]) == sorted(theirs["macs"])
    adds = t.layers[t.layers["op"] == "add"]  # residual adds with the ReLU fused into them
    assert list(adds["fused"]) == ["relu", "relu"] and list(adds["in_elems"]) == [2 * 4096, 2 * 2048]


def _buffer_bytes(path: Path) -> int:
    """The bytes of the constant buffers the graph's tensors name (each buffer once), read independently."""
    model = tflite.Model.GetRootAs(path.read_bytes(), 0)
    g = model.Subgraphs(0)
    used = {g.Tensors(i).Buffer() for i in range(g.TensorsLength())}
    return sum(model.Buffers(b).DataLength() for b in used)


@pytest.mark.parametrize("name", ["mnv1_025_96_int8", "mnv2_025_96_int8", "resnet_tiny_64_int8"])
def test_int8_weight_bytes_match_the_file(name):
    t = roofline.trace(fixture(name))
    own = t.own_bytes()
    actual = _buffer_bytes(fixture(name))
    assert abs(own["weight_bytes"].sum() / actual - 1) < 0.02  # the rest: int32 axes and shapes
    # int8 weights 1 B each, int32 biases 4 B: a conv row's bytes per weight element lie between
    convs = t.layers["op"].isin(["conv2d", "dwconv2d", "fc"]).to_numpy()
    size = np.array(t.weight_itemsize)[convs]
    assert ((size >= 1) & (size <= 4)).all() and (size < 1.5).any()
    # activations are int8 between the QUANTIZE and the DEQUANTIZE: 1 B each
    rows = t.layers.index[convs]
    assert (own.loc[rows, "in_bytes"] == t.layers.loc[rows, "in_elems"]).all()
    assert t.layers["name"].iloc[0] == "tfl.quantize" and t.layers["op"].iloc[0] == "copy"
    assert t.layers["op"].iloc[-1] == "copy" and own["out_bytes"].iloc[-1] == 4 * 10  # float32 logits out
    assert t.layers["memory_only"].iloc[0] and t.layers["macs"].iloc[0] == 0
    assert "int8" in t.quantization and "per-channel" in t.quantization


def test_names_come_from_the_output_tensors():
    t = roofline.trace(fixture("mnv2_025_96_float"))
    names = list(t.layers["name"])
    assert names[:4] == ["Conv1_1", "expanded_conv_depthwise_1", "expanded_conv_project_1", "expanded_conv_add_1"]
    assert names[-3:] == ["global_average_pooling2d_1_1", "predictions_1", "softmax"]
    assert t.layers["fused"].iloc[0] == "relu6" and t.layers["stride"].iloc[0] == "2x2"


# --- a graph built by hand ----------------------------------------------------------------------------

def _vector(b, start, offsets):
    start(b, len(offsets))
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def build(path: Path, tensors: list[dict], ops: list[dict], inputs: list[int], outputs: list[int],
          buffers: list[bytes]) -> Path:
    """A TFLite file: ``tensors`` (name, shape, type, buffer, signature, scales), ``ops`` (code, deprecated,
    custom, inputs, outputs, depthwise options), buffers (buffer 0 empty, as the converter writes it)."""
    T = tflite  # the schema's builder functions: tflite.BufferStart, tflite.TensorAddShape, ...
    b = flatbuffers.Builder(1024)
    bufs = []
    for data in buffers:
        vec = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8)) if data else None
        T.BufferStart(b)
        if vec is not None:
            T.BufferAddData(b, vec)
        bufs.append(T.BufferEnd(b))
    ts = []
    for t in tensors:
        name = b.CreateString(t["name"])
        shape = b.CreateNumpyVector(np.array(t["shape"], dtype=np.int32))
        sig = b.CreateNumpyVector(np.array(t.get("signature", t["shape"]), dtype=np.int32))
        quant = None
        if t.get("scales"):
            scale = b.CreateNumpyVector(np.full(t["scales"], 0.1, dtype=np.float32))
            zero = b.CreateNumpyVector(np.zeros(t["scales"], dtype=np.int64))
            T.QuantizationParametersStart(b)
            T.QuantizationParametersAddScale(b, scale)
            T.QuantizationParametersAddZeroPoint(b, zero)
            quant = T.QuantizationParametersEnd(b)
        T.TensorStart(b)
        T.TensorAddShape(b, shape)
        T.TensorAddShapeSignature(b, sig)
        T.TensorAddType(b, t["type"])
        T.TensorAddBuffer(b, t.get("buffer", 0))
        T.TensorAddName(b, name)
        if quant is not None:
            T.TensorAddQuantization(b, quant)
        ts.append(T.TensorEnd(b))
    codes, opers = [], []
    for k, op in enumerate(ops):
        custom = b.CreateString(op["custom"]) if op.get("custom") else None
        T.OperatorCodeStart(b)
        T.OperatorCodeAddDeprecatedBuiltinCode(b, op["deprecated"])
        T.OperatorCodeAddBuiltinCode(b, op["code"])
        if custom is not None:
            T.OperatorCodeAddCustomCode(b, custom)
        T.OperatorCodeAddVersion(b, 1)
        codes.append(T.OperatorCodeEnd(b))
        options = None
        if "depthwise" in op:
            o = op["depthwise"]
            T.DepthwiseConv2DOptionsStart(b)
            T.DepthwiseConv2DOptionsAddPadding(b, 0)
            T.DepthwiseConv2DOptionsAddStrideW(b, o["stride"])
            T.DepthwiseConv2DOptionsAddStrideH(b, o["stride"])
            T.DepthwiseConv2DOptionsAddDepthMultiplier(b, o["multiplier"])
            T.DepthwiseConv2DOptionsAddFusedActivationFunction(b, o["activation"])
            options = T.DepthwiseConv2DOptionsEnd(b)
        ins = b.CreateNumpyVector(np.array(op["inputs"], dtype=np.int32))
        outs = b.CreateNumpyVector(np.array(op["outputs"], dtype=np.int32))
        T.OperatorStart(b)
        T.OperatorAddOpcodeIndex(b, k)
        T.OperatorAddInputs(b, ins)
        T.OperatorAddOutputs(b, outs)
        if options is not None:
            T.OperatorAddBuiltinOptionsType(b, tflite.BuiltinOptions.DepthwiseConv2DOptions)
            T.OperatorAddBuiltinOptions(b, options)
        opers.append(T.OperatorEnd(b))
    tensors_vec = _vector(b, T.SubGraphStartTensorsVector, ts)
    ops_vec = _vector(b, T.SubGraphStartOperatorsVector, opers)
    in_vec = b.CreateNumpyVector(np.array(inputs, dtype=np.int32))
    out_vec = b.CreateNumpyVector(np.array(outputs, dtype=np.int32))
    T.SubGraphStart(b)
    T.SubGraphAddTensors(b, tensors_vec)
    T.SubGraphAddInputs(b, in_vec)
    T.SubGraphAddOutputs(b, out_vec)
    T.SubGraphAddOperators(b, ops_vec)
    sub = T.SubGraphEnd(b)
    codes_vec = _vector(b, T.ModelStartOperatorCodesVector, codes)
    subs_vec = _vector(b, T.ModelStartSubgraphsVector, [sub])
    bufs_vec = _vector(b, T.ModelStartBuffersVector, bufs)
    T.ModelStart(b)
    T.ModelAddVersion(b, 3)
    T.ModelAddOperatorCodes(b, codes_vec)
    T.ModelAddSubgraphs(b, subs_vec)
    T.ModelAddBuffers(b, bufs_vec)
    b.Finish(T.ModelEnd(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path


INT8, INT32, FLOAT32 = 9, 2, 0


@pytest.fixture
def hand_built(tmp_path) -> Path:
    """x 1x16x16x8 int8 -> DEPTHWISE_CONV_2D 3x3, stride 2, depth multiplier 2, ReLU6 (int8 weights 1x3x3x16,
    int32 bias of 16; the legacy opcode: deprecated_builtin_code 4, builtin_code 0) -> y 1x8x8x16 int8
    -> GELU (builtin code 150: deprecated_builtin_code 127, the placeholder) -> g 1x8x8x16 int8
    -> custom op MyNorm (no rule), also reading a constant 1x3x3x16 int8 tensor of its own that shares the
    depthwise weights' buffer -> z 1x8x8x16 int8."""
    tensors = [
        {"name": "x", "shape": [1, 16, 16, 8], "type": INT8, "scales": 1},
        {"name": "block/dw/weights", "shape": [1, 3, 3, 16], "type": INT8, "buffer": 1, "scales": 16},
        {"name": "block/dw/bias", "shape": [16], "type": INT32, "buffer": 2, "scales": 16},
        {"name": "model/block/dw_relu/Relu6;model/block/dw/depthwise", "shape": [1, 8, 8, 16], "type": INT8,
         "scales": 1},
        {"name": "model/block/act/Gelu", "shape": [1, 8, 8, 16], "type": INT8, "scales": 1},
        {"name": "model/head/shared_weights", "shape": [1, 3, 3, 16], "type": INT8, "buffer": 1, "scales": 16},
        {"name": "model/head/norm/MyNorm", "shape": [1, 8, 8, 16], "type": INT8, "scales": 1},
    ]
    ops = [{"code": 0, "deprecated": 4, "inputs": [0, 1, 2], "outputs": [3],
            "depthwise": {"stride": 2, "multiplier": 2, "activation": 3}},
           {"code": 150, "deprecated": 127, "inputs": [3], "outputs": [4]},
           {"code": 32, "deprecated": 32, "custom": "MyNorm", "inputs": [4, 5], "outputs": [6]}]
    buffers = [b"", bytes(range(144)), np.arange(16, dtype=np.int32).tobytes()]
    return build(tmp_path / "hand.tflite", tensors, ops, [0], [6], buffers)


def test_hand_built_graph_counted_by_hand(hand_built):
    with pytest.warns(UnsupportedOpWarning, match=r"MyNorm 'head.norm' \(\d+\.\d% of the graph's bytes\)"):
        t = trace_tflite(hand_built)
    df = t.layers
    assert list(df["name"]) == ["block.dw", "block.act", "head.norm"]
    assert list(df["op"]) == ["dwconv2d", "gelu", "tflite.MyNorm"]
    dw = df.iloc[0]
    # depthwise: N * H_out * W_out * (C_in * multiplier) * k * k = 1 * 8 * 8 * 16 * 9
    assert dw["macs"] == 9216 and dw["groups"] == 8 and dw["kernel"] == "3x3" and dw["stride"] == "2x2"
    assert dw["fused"] == "relu6" and dw["in_shape"] == "1x8x16x16" and dw["out_shape"] == "1x16x8x8"  # NCHW
    assert dw["weight_elems"] == 144 + 16 and dw["in_elems"] == 2048 and dw["out_elems"] == 1024
    own = t.own_bytes()
    # int8 weights 1 B, int32 bias 4 B; int8 activations 1 B in and out
    assert list(own.iloc[0][["weight_bytes", "in_bytes", "out_bytes"]]) == [144 + 4 * 16, 2048, 1024]
    assert t.weight_itemsize[0] == pytest.approx((144 + 64) / 160)
    # the custom op's constant shares the depthwise weights' buffer: counted once, in the first row
    assert df["weight_elems"].iloc[2] == 0 and t.params == t.model_params == 160
    assert list(df["memory_only"]) == [False, True, True] and t.macs == 9216
    # the unsupported op: listed with its share of the graph's bytes (1024 in, 1024 out of 2 * 1024 + ...)
    total = (208 + 2048 + 1024) + (1024 + 1024) + (1024 + 1024)
    assert t.unsupported == {"tflite.MyNorm": 1}
    assert t.unsupported_nodes == (("head.norm", "MyNorm", pytest.approx(2048 / total)),)
    assert t.dtype == "int8" and t.row_dtypes[0] == ("int8", "int8")
    with pytest.raises(UnsupportedOpError, match="MyNorm"):
        trace_tflite(hand_built, strict=True)


def test_cli_lists_an_op_without_a_rule(cli, hand_built):
    code, out, err = cli("trace", str(hand_built))
    assert code == 0, err
    assert "warning: no counting rule for TFLite MyNorm op 'head.norm': counted memory-only" in " ".join(err.split())


# --- inputs -------------------------------------------------------------------------------------------

def test_a_dynamic_signature_is_pinned():
    _needs_litert()
    path = fixture("ops_dynamic_float")
    with pytest.raises(TraceError, match=r"input 'serving_default_image:0' has a dynamic shape \(\?x\?x\?x3\)"):
        trace_tflite(path)
    t = trace_tflite(path, (1, 32, 32, 3))
    # by hand, at 32 x 32: conv 16*16*8*27, depthwise (multiplier 2) 16*16*16*9, transposed conv 2x2 stride 2
    # 16*16*16*2*2*8, Dense 1024 tokens x 8 -> 4, gram (4 x 1024) @ (1024 x 8)
    expected = [55_296, 36_864, 131_072, 0, 32_768, 32_768]
    assert list(t.layers["macs"]) == expected and t.shapes_from == "LiteRT (inputs resized)"
    assert list(t.layers["op"]) == ["conv2d", "dwconv2d", "conv_transpose2d", "hswish", "fc", "matmul"]
    assert roofline.trace(f"tflite:{path}", resolution=64, batch=2).macs == 2 * 4 * sum(expected)
    with pytest.raises(TraceError, match="differs in dimension 3"):
        trace_tflite(path, (1, 32, 32, 4))


def test_batch_of_a_dynamic_batch_dimension():
    _needs_litert()
    t = trace_tflite(fixture("mnv1_025_96_int8"), batch=3)
    assert t.macs == 3 * ZOO_MACS["mnv1"] and t.input_shape == (3, 96, 96, 3)
    with pytest.raises(TraceError, match="resolution 64x64 differs"):
        trace_tflite(fixture("mnv1_025_96_int8"), resolution=64)


def test_names():
    assert is_tflite_model("m.tflite") and is_tflite_model("tflite:path/m") and is_tflite_model(Path("a/M.TFLITE"))
    assert is_graph_file("m.tflite") and is_graph_file("m.onnx") and not is_graph_file("mnv2")
    assert not is_tflite_model("m.onnx") and not is_tflite_model(3)
    from roofline.trace.user_model import is_model_spec

    assert not is_model_spec("tflite:m.tflite") and is_model_spec("m.py:f")


# --- everywhere a model is taken ---------------------------------------------------------------------

def test_python_api():
    path = fixture("resnet_tiny_64_int8")
    a = roofline.analyze(str(path), "pixel8-edgetpu")
    assert a.table.macs == 2_539_840 and a.total_latency_s > 0 and a.model == str(path)
    with pytest.raises(TraceError, match="rules="):
        roofline.trace(str(path), rules={})
    with pytest.raises(TraceError, match="width scales zoo models"):
        roofline.trace(str(path), width=0.5)


def test_cli_trace_analyze_sweep_pareto(cli, tmp_path):
    path = fixture("mnv2_025_96_int8")
    code, out, err = cli("trace", f"tflite:{path}", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["totals"]["macs"] == ZOO_MACS["mnv2"]
    code, out, err = cli("analyze", str(path), "--hw", "pixel8-edgetpu")
    assert code == 0, err
    assert f"{path} on pixel8-edgetpu" in out.replace("\n", "")
    code, out, err = cli("sweep", str(path), "mnv1", "--hw", "pixel8-edgetpu", "--rp", "0,50", "--format", "csv")
    assert code == 0, err
    assert out.count(str(path)) == 2
    acc = tmp_path / "acc.csv"
    acc.write_text(f"model,top1\n{path},40\nmnv1,70.6\n")
    code, out, err = cli("pareto", str(path), "mnv1", "--accuracy", str(acc), "--rp", "0,50", "--format", "csv")
    assert code == 0, err
    assert str(path) in out


def test_fit_table_names_a_tflite_file(tmp_path):
    from roofline.fit.measurements import read_measurements
    from roofline.trace.cache import TraceRequest, trace_many

    path = fixture("resnet_tiny_64_float")
    table = tmp_path / "t.csv"
    table.write_text(f"model,ms\ntflite:{path},0.5\n")
    rows = read_measurements(table)
    assert list(rows["model"]) == [f"tflite:{path}"]
    assert trace_many([TraceRequest(m) for m in rows["model"]])[0].macs == 2_539_840
    table.write_text(f"model,ms\n{path},0.5\n")  # a bare path in a table: one line saying how
    with pytest.raises(RooflineError, match="tflite:PATH in a fit table"):
        read_measurements(table)


# --- bad input ----------------------------------------------------------------------------------------

def test_bad_inputs_one_line_exit_2(cli, cli_error, tmp_path):
    data = fixture("mnv1_025_96_int8").read_bytes()
    for n in (20, len(data) // 2, len(data) - 1):
        truncated = tmp_path / f"truncated{n}.tflite"
        truncated.write_bytes(data[:n])
        assert "truncated" in cli_error("analyze", str(truncated), "--hw", "pixel8-edgetpu")
    text = tmp_path / "notes.tflite"
    text.write_text("these are my notes, not a model\n" * 20)
    assert "not a TFLite model" in cli_error("trace", str(text))
    assert "does not exist" in cli_error("trace", str(tmp_path / "missing.tflite"))
    assert "does not exist" in cli_error("sweep", "tflite:" + str(tmp_path / "missing.tflite"), "--rp", "0,5")
    assert "a TFLite file has no PyTorch module" in cli_error("trace", str(fixture("mnv1_025_96_float")),
                                                               "--check")
    err = cli_error("analyze", str(fixture("ops_dynamic_float")), "--hw", "pixel8-edgetpu")
    assert "dynamic shape" in err and "--input-shape" in err
    assert "at most" in cli_error("trace", str(fixture("ops_dynamic_float")), "--input-shape",
                                  "1,300000,300000,3")


def test_without_the_extra_one_line_names_it(cli, cli_error, tmp_path, monkeypatch):
    copy = tmp_path / "copy.tflite"  # a file no trace has read: nothing cached
    shutil.copy(fixture("resnet_tiny_64_float"), copy)
    monkeypatch.setitem(sys.modules, "tflite", None)
    err = cli_error("trace", str(copy))
    assert 'pip install -e ".[tflite]"' in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RooflineError, match="tflite extra"):
            roofline.trace(str(copy))
