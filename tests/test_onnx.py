"""ONNX files as models (issue 27, item 1): small graphs built by hand with counts worked out by hand, models
exported with torch.onnx.export against the PyTorch trace of the same model, every command that takes a
model, and the bad inputs (one line, exit 2)."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import roofline
from roofline.core.errors import InvalidInputError, RooflineError, TraceError, UnsupportedOpError, UnsupportedOpWarning

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from roofline.trace.onnx_graph import is_onnx_model, trace_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLOAT, INT8, INT32, UINT8 = TensorProto.FLOAT, TensorProto.INT8, TensorProto.INT32, TensorProto.UINT8


def _bench():
    spec = importlib.util.spec_from_file_location("check_onnx_counts", ROOT / "benchmarks" / "check_onnx_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _init(name: str, shape: tuple[int, ...], dtype=np.float32, seed: int = 0):
    rng = np.random.default_rng(seed + len(name))
    if np.issubdtype(dtype, np.integer):
        return numpy_helper.from_array(rng.integers(-8, 8, size=shape).astype(dtype), name)
    return numpy_helper.from_array(rng.normal(size=shape).astype(dtype), name)


def _save(path: Path, nodes, inputs, outputs, inits, opset: int = 17) -> Path:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _scalar(name: str, value, dtype) -> object:
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


@pytest.fixture
def conv_gemm(tmp_path) -> Path:
    """x 1x4x8x8 -> Conv 6 channels, 3x3, groups 2, bias -> Relu -> Flatten -> Gemm 384 -> 10 with bias."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/block/conv/Conv", group=2,
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="/block/act/Relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["f", "wg", "bg"], ["y"], name="/head/Gemm", transB=1)]
    return _save(tmp_path / "conv_gemm.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
                 [helper.make_tensor_value_info("y", FLOAT, [1, 10])],
                 [_init("w", (6, 2, 3, 3)), _init("b", (6,)), _init("wg", (10, 384)), _init("bg", (10,))])


def test_conv_relu_gemm_counted_by_hand(conv_gemm):
    t = roofline.trace(str(conv_gemm))
    df = t.layers
    assert list(df["name"]) == ["block.conv", "head"]
    assert list(df["op"]) == ["conv2d", "fc"]
    # conv: N * C_out * H * W * (C_in / groups) * k * k = 1 * 6 * 8 * 8 * 2 * 9; weights 6*2*3*3 + 6 bias
    assert list(df["macs"]) == [6912, 384 * 10]
    assert list(df["weight_elems"]) == [114, 3850] and list(df["params"]) == [114, 3850]
    assert list(df["in_elems"]) == [256, 384] and list(df["out_elems"]) == [384, 10]
    assert list(df["fused"]) == ["relu", ""] and df["groups"][0] == 2 and df["kernel"][0] == "3x3"
    assert t.macs == 10752 and t.params == t.model_params == 3964 and t.input_shape == (1, 4, 8, 8)
    own = t.own_bytes()  # float32 everywhere: 4 bytes per element
    assert list(own["weight_bytes"]) == [456, 15400] and list(own["in_bytes"]) == [1024, 1536]
    assert t.dtype == "float32" and t.shapes_from == "onnx shape inference" and t.opset == 17
    raw = roofline.trace(f"onnx:{conv_gemm}", fuse=False).layers  # one row per node: the Relu is its own
    assert list(raw["op"]) == ["conv2d", "relu", "fc"] and list(raw["name"]) == ["block.conv", "block.act", "head"]
    assert list(raw["in_elems"]) == [256, 384, 384] and list(raw["out_elems"]) == [384, 384, 10]


def test_qdq_pair_around_a_conv_is_one_int8_layer(tmp_path):
    """Q/DQ on the input, DQ on int8 weights and an int32 bias, Q/DQ on the output: one int8 conv row."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xf"]),
             helper.make_node("DequantizeLinear", ["wq", "s", "zp"], ["wf"]),
             helper.make_node("DequantizeLinear", ["bq", "s"], ["bf"]),
             helper.make_node("Conv", ["xf", "wf", "bf"], ["c"], name="/conv/Conv", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="/act/Relu"),
             helper.make_node("QuantizeLinear", ["r", "s", "zp"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "s", "zp"], ["y"])]
    path = _save(tmp_path / "qdq.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
                 [helper.make_tensor_value_info("y", FLOAT, [1, 8, 8, 8])],
                 [_scalar("s", 0.05, np.float32), _scalar("zp", 0, np.int8), _init("wq", (8, 4, 1, 1), np.int8),
                  _init("bq", (8,), np.int32)])
    t = roofline.trace(str(path))
    df = t.layers
    assert list(df["op"]) == ["conv2d"] and list(df["macs"]) == [8 * 64 * 4]
    assert list(df["weight_elems"]) == [32 + 8] and t.params == 40  # scales and zero points are no weights
    assert list(df["in_elems"]) == [256] and list(df["out_elems"]) == [512] and list(df["fused"]) == ["relu"]
    assert t.row_dtypes == (("int8", "int8"),) and t.dtype == "int8"
    own = t.own_bytes()
    assert list(own["weight_bytes"]) == [32 * 1 + 8 * 4] and list(own["out_bytes"]) == [512]


def test_quantized_operators(tmp_path):
    """QLinearConv and QLinearMatMul (int8), ConvInteger and MatMulInteger (uint8): MACs as their float forms."""
    nodes = [helper.make_node("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z", "b"], ["c"],
                              name="/qc/QLinearConv",
                              kernel_shape=[1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
             helper.make_node("QLinearMatMul", ["t", "s", "z", "m", "s", "z", "s", "z"], ["y"],
                              name="/qm/QLinearMatMul")]
    path = _save(tmp_path / "qlinear.onnx", nodes, [helper.make_tensor_value_info("x", INT8, [1, 4, 8, 8])],
                 [helper.make_tensor_value_info("y", INT8, [1, 64, 5])],
                 [_scalar("s", 0.05, np.float32), _scalar("z", 0, np.int8), _init("w", (8, 4, 1, 1), np.int8),
                  _init("b", (8,), np.int32), _init("m", (8, 5), np.int8),
                  numpy_helper.from_array(np.array([1, 8, 64], dtype=np.int64), "shape")])
    t = roofline.trace(str(path))
    assert list(t.layers["op"]) == ["conv2d", "fc"] and list(t.layers["macs"]) == [8 * 64 * 4, 64 * 8 * 5]
    assert list(t.layers["weight_elems"]) == [40, 40] and t.dtype == "int8"
    nodes = [helper.make_node("ConvInteger", ["x", "w"], ["c"], name="/ci/ConvInteger", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("MatMulInteger", ["a", "m"], ["y"], name="/mi/MatMulInteger")]
    path = _save(tmp_path / "integer.onnx", nodes, [helper.make_tensor_value_info("x", UINT8, [1, 4, 8, 8]),
                                                    helper.make_tensor_value_info("a", UINT8, [1, 16, 32])],
                 [helper.make_tensor_value_info("c", INT32, [1, 8, 8, 8]),
                  helper.make_tensor_value_info("y", INT32, [1, 16, 8])],
                 [_init("w", (8, 4, 3, 3), np.uint8), _init("m", (32, 8), np.uint8)], opset=17)
    t = roofline.trace(str(path), {"x": (1, 4, 8, 8), "a": (1, 16, 32)})
    assert list(t.layers["macs"]) == [8 * 64 * 4 * 9, 16 * 32 * 8] and t.other_inputs == ((1, 16, 32),)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnx_runtime_quantized_model_counts_as_its_float_graph(tmp_path, fmt):
    """ONNX Runtime's static quantization of an exported MobileNetV2, in both of its formats: Q/DQ pairs around
    every conv (one int8 layer each), or QLinearConv / QLinearAdd / QGemm: the float graph's rows, int8."""
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    bench = _bench()
    path = bench.export(bench.randomize(roofline.build_model("mnv2", device="cpu").eval()), torch.zeros(1, 3, 64, 64),
                        tmp_path / "float.onnx")
    name = onnx.load(str(path)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.left = 2

        def get_next(self):
            self.left -= 1
            if self.left < 0:
                return None
            return {name: np.random.default_rng(self.left).random((1, 3, 64, 64), dtype=np.float32)}

    quantized = tmp_path / f"{fmt}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(path), str(quantized), Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    f, q = roofline.trace(str(path)), roofline.trace(str(quantized))
    cols = ["name", "op", "macs", "weight_elems", "in_elems", "out_elems"]
    assert q.layers[cols].equals(f.layers[cols]) and q.params == f.params and not q.unsupported
    assert q.dtype == "int8" and f.dtype == "float32"
    own = q.own_bytes()  # int8 weights and activations at 1 B, the int32 biases at 4 B
    biases = sum(r for r in f.layers.loc[f.layers["op"].isin(["conv2d", "dwconv2d", "fc"]), "out_shape"].map(
        lambda s: int(s.split("x")[1])))
    assert own["weight_bytes"].sum() == f.totals["weight_elems"] + 3 * biases
    assert own["in_bytes"].sum() == f.totals["in_elems"]


@pytest.mark.parametrize("pattern, expected", [("silu", "silu"), ("gelu", "gelu")])
def test_an_activation_written_out_is_one_op(tmp_path, pattern, expected):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul")]
    if pattern == "silu":  # x * sigmoid(x)
        nodes += [helper.make_node("Sigmoid", ["h"], ["g"]), helper.make_node("Mul", ["h", "g"], ["y"])]
        inits = []
    else:  # the exporter's GELU: x * (1 + erf(x / sqrt 2)) * 0.5
        nodes += [helper.make_node("Div", ["h", "r2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["h", "a"], ["m"]),
                  helper.make_node("Mul", ["m", "half"], ["y"])]
        inits = [_scalar("r2", 1.4142135, np.float32), _scalar("one", 1.0, np.float32),
                 _scalar("half", 0.5, np.float32)]
    path = _save(tmp_path / f"{pattern}.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 16, 32])],
                 [helper.make_tensor_value_info("y", FLOAT, [1, 16, 8])], [_init("w", (32, 8))] + inits)
    # one op, a row of its own even fused: ONNX Runtime runs the chain as one kernel (QuickGelu, Gelu) after
    # the matmul or conv, not inside it
    for fuse in (True, False):
        rows = roofline.trace(str(path), fuse=fuse).layers
        assert list(rows["op"]) == ["fc", expected] and list(rows["in_elems"]) == [512, 128]
        assert list(rows["macs"]) == [16 * 32 * 8, 0] and list(rows["fused"]) == ["", ""]


def test_a_single_activation_node_fuses_into_its_conv(tmp_path):
    for act in ("Relu", "Sigmoid", "HardSwish"):  # ONNX Runtime: Conv with activation=Relu, Sigmoid, HardSwish
        nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="/conv/Conv", pads=[1, 1, 1, 1]),
                 helper.make_node(act, ["h"], ["y"], name=f"/act/{act}")]
        path = _save(tmp_path / f"{act}.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
                     [helper.make_tensor_value_info("y", FLOAT, [1, 8, 8, 8])], [_init("w", (8, 4, 3, 3))])
        rows = roofline.trace(str(path)).layers
        assert len(rows) == 1 and rows["macs"].iloc[0] == 8 * 8 * 8 * 4 * 9 and rows["fused"].iloc[0] != ""


def test_an_op_without_a_rule_is_memory_only_and_listed(tmp_path):
    nodes = [helper.make_node("LRN", ["x"], ["l"], name="/norm/LRN", size=3),
             helper.make_node("Relu", ["l"], ["y"], name="/act/Relu")]
    path = _save(tmp_path / "lrn.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
                 [helper.make_tensor_value_info("y", FLOAT, [1, 4, 8, 8])], [])
    with pytest.warns(UnsupportedOpWarning, match=r"LRN 'norm' \(50.0% of the graph's bytes\)"):
        t = roofline.trace(str(path))
    row = t.layers.iloc[0]
    got = (row["op"], row["macs"], row["memory_only"], row["in_elems"], row["out_elems"])
    assert got == ("onnx.LRN", 0, True, 256, 256)
    # the LRN moves 256 x 4 bytes in and out, the Relu as many: half the graph's bytes
    assert t.unsupported == {"onnx.LRN": 1} and t.unsupported_nodes == (("norm", "LRN", 0.5),)
    with pytest.raises(UnsupportedOpError, match="LRN"):
        roofline.trace(str(path), strict=True)


def test_cli_lists_an_op_without_a_rule_by_node(cli, tmp_path):
    nodes = [helper.make_node("LRN", ["x"], ["l"], name="/norm/LRN", size=3),
             helper.make_node("Relu", ["l"], ["y"], name="/act/Relu")]
    path = _save(tmp_path / "lrn.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
                 [helper.make_tensor_value_info("y", FLOAT, [1, 4, 8, 8])], [])
    for command in (("trace", str(path)), ("analyze", str(path), "--hw", "pixel8-edgetpu")):
        code, out, err = cli(*command)
        assert code == 0, err
        assert ("warning: no counting rule for ONNX LRN node 'norm': counted memory-only (0 MACs), 50.0% of the "
                "graph's bytes") in " ".join(err.split())


@pytest.fixture
def dynamic(tmp_path) -> Path:
    """image N x 3 x H x W (symbolic) -> Conv 8 channels, 3x3, stride 2."""
    nodes = [helper.make_node("Conv", ["image", "w"], ["y"], name="/stem/Conv", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1])]
    return _save(tmp_path / "dynamic.onnx", nodes, [helper.make_tensor_value_info("image", FLOAT, ["N", 3, "H", "W"])],
                 [helper.make_tensor_value_info("y", FLOAT, ["N", 8, "h", "w"])], [_init("w", (8, 3, 3, 3))])


def test_symbolic_dimensions_are_pinned(dynamic):
    with pytest.raises(TraceError, match=r"input 'image' has a dynamic shape \(Nx3xHxW\); give its shape: --input"):
        roofline.trace(str(dynamic))
    macs = 8 * 16 * 16 * 3 * 9  # 32 x 32 input, stride 2
    assert roofline.trace(str(dynamic), (1, 3, 32, 32)).macs == macs
    assert roofline.trace(str(dynamic), resolution=32).macs == macs
    assert roofline.trace(str(dynamic), resolution=32, batch=2).macs == 2 * macs
    assert roofline.trace(str(dynamic), {"image": (1, 3, 32, 32)}).input_shape == (1, 3, 32, 32)
    with pytest.raises(TraceError, match="rank 4"):
        roofline.trace(str(dynamic), (1, 3, 32))
    with pytest.raises(TraceError, match="differs in dimension 1"):
        roofline.trace(str(dynamic), (1, 4, 32, 32))
    with pytest.raises(InvalidInputError, match="at most"):  # the tracer's size limit
        roofline.trace(str(dynamic), (1, 3, 300_000, 300_000))
    with pytest.raises(TraceError, match="width scales zoo models"):
        roofline.trace(str(dynamic), (1, 3, 32, 32), width=0.5)


def test_shape_fallbacks_give_the_same_counts(monkeypatch):
    """Where onnx's inference leaves tensors without shapes: ONNX Runtime's symbolic inference, then a run."""
    bench = _bench()
    import tempfile

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = bench.randomize(roofline.build_model("mnv4-hybrid-m", device="cpu").eval())
        path = bench.export(model, torch.zeros(1, 3, 64, 64), Path(tmp) / "h.onnx")
        ref = trace_onnx(path)
        original = onnx.shape_inference.infer_shapes
        monkeypatch.setattr(onnx.shape_inference, "infer_shapes",
                            lambda m, *a, **k: m if k.get("data_prop") else original(m, *a, **k))
        t = trace_onnx(path, resolution=64)  # another input: not the cached table
        assert t.shapes_from == "onnx shape inference and ONNX Runtime's symbolic inference"
        assert t.layers.equals(ref.layers)
        from roofline.trace import onnx_shapes

        def fail(*args, **kwargs):
            raise RuntimeError("no symbolic inference")

        monkeypatch.setattr(onnx_shapes, "_symbolic", fail)
        t = trace_onnx(path, (1, 3, 64, 64))  # yet another input: read again
        assert t.shapes_from == "onnx shape inference and an ONNX Runtime run on zeros"
        assert t.layers.equals(ref.layers)


def test_a_data_dependent_size_is_read_from_a_run_and_nothing_is_written(tmp_path, monkeypatch):
    """NonZero's output size depends on the values: no inference knows it; one run on zeros does. ONNX Runtime's
    symbolic inference, left incomplete, would write a model into the working folder: nothing is written."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="/act/Relu"),
             helper.make_node("NonZero", ["r"], ["nz"], name="/pick/NonZero"),
             helper.make_node("Transpose", ["nz"], ["y"], name="/t/Transpose")]
    path = _save(tmp_path / "nonzero.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [1, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.INT64, ["n", 2])], [])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.warns(UnsupportedOpWarning, match="NonZero 'pick'"):
        t = roofline.trace(str(path))
    assert t.shapes_from.endswith("an ONNX Runtime run on zeros") and not list(work.iterdir())
    assert list(t.layers["op"]) == ["relu", "onnx.NonZero"] and list(t.layers["out_elems"]) == [8, 0]


@pytest.mark.parametrize("name", ["mnv1", "mnv2", "mnv3-s", "mnv4-conv-s", "mnv4-hybrid-m", "timm:vit_tiny_patch16_224",
                                  "torchvision:resnet18"])
def test_exported_model_equals_its_pytorch_trace(name, tmp_path):
    """MACs within 0.5 % (they are equal), parameters those of the deployed module (batch norm folded, as the
    exporter writes it), conv / FC / matmul rows one to one in order."""
    if ":" in name:
        pytest.importorskip(name.split(":")[0])
    r = _bench().compare(name, tmp_path)
    assert abs(r["rel_diff"]) <= 0.005, r
    assert r["onnx_macs"] == r["torch_macs"]
    assert r["params_equal"], r
    assert r["rows_match"], r["row_mismatch"]
    assert not r["unsupported"]


def test_rows_match_pairs_an_attention_with_two_matmuls():
    match = _bench().rows_match
    assert match([("conv2d", 5), ("attention", 7)], [("conv2d", 5), ("matmul", 3), ("matmul", 4)]) == (True, "")
    assert not match([("conv2d", 5), ("attention", 7)], [("conv2d", 5), ("matmul", 3), ("matmul", 5)])[0]
    assert not match([("conv2d", 5)], [("conv2d", 5), ("fc", 1)])[0]


def test_names():
    assert is_onnx_model("m.onnx") and is_onnx_model("onnx:path/m") and is_onnx_model(Path("a/M.ONNX"))
    assert not is_onnx_model("mnv2") and not is_onnx_model("file.py:factory") and not is_onnx_model(3)
    assert not is_onnx_model("tflite:odd-name.onnx")  # a prefix says the format whatever the path ends in
    from roofline.trace.user_model import is_model_spec

    assert not is_model_spec("onnx:m.onnx") and is_model_spec("m.py:f")


# --- everywhere a model is taken ---------------------------------------------------------------------

def test_python_api(conv_gemm):
    a = roofline.analyze(str(conv_gemm), "pixel8-edgetpu")
    assert a.table.macs == 10752 and a.total_latency_s > 0 and a.model == str(conv_gemm)
    assert roofline.trace(conv_gemm).macs == 10752  # a Path
    with pytest.raises(TraceError, match="rules="):
        roofline.trace(str(conv_gemm), rules={})


def test_cli_trace_analyze_sweep_pareto_report(cli, conv_gemm, tmp_path):
    code, out, err = cli("trace", f"onnx:{conv_gemm}", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["totals"]["macs"] == 10752 and doc["totals"]["params"] == 3964
    code, out, err = cli("analyze", str(conv_gemm), "--hw", "pixel8-edgetpu")
    assert code == 0, err
    assert f"{conv_gemm} on pixel8-edgetpu" in out.replace("\n", "")
    code, out, err = cli("analyze", "--model", str(conv_gemm), "--hw", "pixel8-edgetpu", "--format", "csv")
    assert code == 0 and "block.conv" in out
    code, out, err = cli("sweep", str(conv_gemm), "mnv1", "--hw", "pixel8-edgetpu", "--rp", "0,50", "--format", "csv")
    assert code == 0, err
    assert out.count(str(conv_gemm)) == 2 and "mnv1" in out
    acc = tmp_path / "acc.csv"
    acc.write_text(f"model,top1\n{conv_gemm},50\nmnv1,70.6\n")
    code, out, err = cli("pareto", str(conv_gemm), "mnv1", "--accuracy", str(acc), "--rp", "0,50", "--format", "csv")
    assert code == 0, err
    assert str(conv_gemm) in out
    html = tmp_path / "r.html"
    code, out, err = cli("report", str(conv_gemm), "--hw", "pixel8-edgetpu", "-o", str(html))
    assert code == 0, err
    assert html.stat().st_size > 1000


def test_fit_table_names_an_onnx_file(conv_gemm, tmp_path):
    from roofline.fit.measurements import read_measurements
    from roofline.trace.cache import TraceRequest, trace_many

    table = tmp_path / "t.csv"
    table.write_text(f"model,ms\nonnx:{conv_gemm},0.5\nmnv1,1.0\n")
    rows = read_measurements(table)
    assert list(rows["model"]) == [f"onnx:{conv_gemm}", "mnv1"]
    traced = trace_many([TraceRequest(m) for m in rows["model"]])
    assert traced[0].macs == 10752 and traced[1].macs == roofline.trace("mnv1").macs
    table.write_text(f"model,ms\n{conv_gemm},0.5\n")  # a bare path in a table: one line saying how
    with pytest.raises(RooflineError, match="onnx:PATH in a fit table"):
        read_measurements(table)


def test_bad_inputs_one_line_exit_2(cli, cli_error, conv_gemm, dynamic, tmp_path):
    data = conv_gemm.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    assert "truncated" in cli_error("analyze", str(truncated), "--hw", "pixel8-edgetpu")
    text = tmp_path / "notes.onnx"
    text.write_text("these are my notes, not a model\n" * 20)
    assert "not an ONNX model" in cli_error("trace", str(text))
    model = onnx.load(str(conv_gemm))
    model.opset_import[0].version = 99
    newer = tmp_path / "newer.onnx"
    newer.write_bytes(model.SerializeToString())
    assert "opset 99, newer than the installed onnx" in cli_error("trace", str(newer))
    model = onnx.load(str(conv_gemm))
    external = tmp_path / "ext" / "m.onnx"
    external.parent.mkdir()
    onnx.save_model(model, str(external), save_as_external_data=True, location="m.data", size_threshold=0)
    assert trace_onnx(external).macs == 10752  # weights on disk are never read
    (external.parent / "m.data").unlink()
    assert "external data file m.data" in cli_error("trace", str(external))
    err = cli_error("analyze", str(dynamic), "--hw", "pixel8-edgetpu")
    assert "input 'image' has a dynamic shape" in err and "--input-shape" in err
    assert "at most" in cli_error("trace", str(dynamic), "--input-shape", "1,3,300000,300000")
    assert "does not exist" in cli_error("trace", str(tmp_path / "missing.onnx"))
    assert "does not exist" in cli_error("sweep", "onnx:" + str(tmp_path / "missing.onnx"), "--rp", "0,5")
    assert "--check" in cli_error("trace", str(conv_gemm), "--check")
    code, _, _ = cli("trace", str(dynamic), "--input-shape", "1,3,32,32")
    assert code == 0


def test_without_the_extra_one_line_names_it(cli, cli_error, conv_gemm, tmp_path, monkeypatch):
    copy = tmp_path / "copy.onnx"  # a file no trace has read: nothing cached
    copy.write_bytes(conv_gemm.read_bytes())
    monkeypatch.setitem(sys.modules, "onnx", None)
    err = cli_error("trace", str(copy))
    assert 'pip install "roofline[onnx]"' in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RooflineError, match="onnx extra"):
            roofline.trace(str(copy))
