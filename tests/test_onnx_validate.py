"""`roofline validate` of ONNX graphs under ONNX Runtime (issue 27, item 3): a tiny graph, timed for real."""

from pathlib import Path
from types import SimpleNamespace


import pandas as pd
import pytest
import torch
from torch import nn

pytest.importorskip("onnxruntime")

import roofline  # noqa: E402
from roofline.core.errors import RooflineError  # noqa: E402
from roofline.measure.onnx_runtime import match_nodes, node_module  # noqa: E402
from roofline.measure.validate import validate  # noqa: E402


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(x).mean((2, 3)))


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("ort") / "tiny.onnx"
    torch.onnx.export(Tiny().eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False, opset_version=17)
    return path


def test_node_names_map_to_module_paths():
    assert node_module("/stage1/ir_0/dw/act/Relu_output_0_nchwc") == "stage1.ir_0.dw.act"
    assert node_module("/stem/stem.2/Relu_output_0_nchwc") == "stem.2"  # a Sequential's child repeats its name
    assert node_module("/head/Gemm") == "head" and node_module("ReorderInput") == ""
    assert node_module("/ReduceMean") == "(model)"


def test_nodes_are_attributed_to_the_longest_owning_row(tiny_onnx):
    a = roofline.analyze(tiny_onnx, "pixel6-cpu", dtype="fp32")
    # the exporter folded the batch norm into the conv; this reading keeps the ReLU a row of its own
    assert list(a.layers["name"]) == ["stem.0", "stem.2", "(model)", "head"]
    # ONNX Runtime fuses the conv and its ReLU into one node named after the ReLU's output
    nodes = [["/stem/stem.2/Relu_output_0_nchwc", "Conv", 3e-6], ["ReorderOutput_token_1", "ReorderOutput", 1e-6],
             ["/head/Gemm", "Gemm", 2e-6], ["/ReduceMean", "ReduceMean", 2e-6]]
    frame, unowned = match_nodes(a, nodes)
    assert unowned == pytest.approx(1 / 8)  # 1 µs of 8 µs belongs to no row
    assert dict(zip(frame["name"], frame["measured_us"])) == pytest.approx({"stem.2": 3.0, "(model)": 2.0,
                                                                            "head": 2.0})


def test_a_modules_rows_are_compared_with_its_nodes_as_one():
    # a quantized GELU's module: the reader's rows act (its Div and Erf) and act#2 (its Add); ONNX Runtime's
    # nodes name the module, not the row
    layers = pd.DataFrame({"name": ["fc1", "act", "act#2", "fc1x"], "op": ["conv2d", "gelu", "add", "conv2d"],
                           "macs": [100, 0, 0, 50], "latency_s": [4e-6, 3e-6, 1e-6, 2e-6]})
    nodes = [["/fc1/Conv_quant", "QLinearConv", 5e-6], ["/act/Div", "Div", 2e-6], ["/act/Erf", "Erf", 3e-6],
             ["/act/Add_quant", "QLinearAdd", 1e-6], ["/fc1x/Conv_quant", "QLinearConv", 2e-6]]
    frame, unowned = match_nodes(SimpleNamespace(layers=layers, model="m"), nodes)
    assert unowned == 0
    assert frame[["name", "op", "macs"]].values.tolist() == [["fc1", "conv2d", 100], ["act", "gelu", 0],
                                                             ["fc1x", "conv2d", 50]]
    assert frame["predicted_us"].tolist() == pytest.approx([4.0, 4.0, 2.0])
    assert frame["measured_us"].tolist() == pytest.approx([5.0, 6.0, 2.0])


def test_validate_runs_an_onnx_file_under_onnx_runtime(tiny_onnx):
    v = validate([str(tiny_onnx)], "pixel6-cpu", dtype="fp32", runs=3, processes=1, threads=1)
    assert v.execution == "onnxruntime" and v.threads == 1
    row = v.models.iloc[0]
    assert row["measured_ms"] > 0 and row["predicted_ms"] > 0 and row["macs"] == 8 * 16 * 16 * 27 + 80
    # a fused graph: predicted with the fused execution mode
    assert v.analyses[str(tiny_onnx)].latency.execution == "fused"
    assert "onnxruntime execution on cpu (1 thread)" in v.setup


def test_an_onnx_file_refuses_a_pytorch_execution(tiny_onnx):
    with pytest.raises(RooflineError, match="runs under ONNX Runtime, not with --exec eager"):
        validate([str(tiny_onnx)], "pixel6-cpu", execution="eager")
    with pytest.raises(RooflineError, match="ONNX files or TFLite files, not both"):
        validate([str(tiny_onnx), str(Path(__file__).parent / "fixtures/tflite/mnv1_025_96_int8.tflite")],
                 "pixel6-cpu")
    with pytest.raises(RooflineError, match="runs on the CPU: use --device cpu"):
        validate([str(tiny_onnx)], "pixel6-cpu", device="cuda", execution="onnxruntime")


def test_cli_validate_runtime_onnxruntime_exports_a_zoo_model(cli, tmp_path):
    code, out, err = cli("validate", "mnv3-s", "--runtime", "onnxruntime", "--hw", "pixel6-cpu", "--runs", "2",
                         "--processes", "1", "--threads", "1", "-o", str(tmp_path / "v"))
    assert code == 0, err
    text = (tmp_path / "v" / "README.md").read_text()
    assert "under ONNX Runtime's CPU execution provider" in text and "exported" in text
    assert "ONNX Runtime's node profile" in text and "onnxruntime execution on cpu (1 thread)" in text
    code, out, err = cli("validate", "mnv3-s", "--runtime", "onnxruntime", "--exec", "eager", "--hw", "pixel6-cpu")
    assert code == 2 and "give one of them" in err and "Traceback" not in err
