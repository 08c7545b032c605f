"""A PyTorch model converted to a float32 TFLite graph here (issue 27, item 3: ``validate --runtime litert`` of a
PyTorch model): the converted graph computes what the module computes, counts what the module counts, and runs
under LiteRT."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_litert")
pytest.importorskip("flatbuffers")
pytest.importorskip("onnxruntime")

import roofline  # noqa: E402
from roofline.core.errors import RooflineError  # noqa: E402
from roofline.measure.litert_runtime import open_interpreter  # noqa: E402
from roofline.measure.tflite_export import convert, nhwc_shape  # noqa: E402
from roofline.zoo import build_model  # noqa: E402


def _spread(model: nn.Module) -> nn.Module:
    """He-initialised convs and linears, batch norms with random statistics: a random model whose output depends on
    its input (the zoo's initialisation leaves a deep network's logits nearly constant, which would hide a wrong
    layer)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, generator=g)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def _run(path: Path, x: torch.Tensor) -> np.ndarray:
    it = open_interpreter(str(path), None, 1)
    it.set_tensor(it.get_input_details()[0]["index"], x.numpy().transpose(0, 2, 3, 1).copy())
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


class Mixed(nn.Module):
    """What the zoo's MobileNets lack: a stem max pool with PyTorch's symmetric padding at stride 2 (not TFLite's
    SAME), a grouped conv, a batch norm on its own, a channel slice and a concat, a channel shuffle (reshape,
    transpose, reshape), a matmul of two activations and a softmax over tokens."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU6(), nn.MaxPool2d(3, 2, 1))
        self.grouped = nn.Conv2d(16, 32, 3, 1, 1, groups=4)
        self.bn = nn.BatchNorm2d(32)
        self.head = nn.Linear(48, 10)

    def forward(self, x):
        x = self.bn(self.grouped(self.stem(x)))
        x = torch.cat([x[:, :16], torch.sigmoid(x[:, 16:]) * x[:, 16:], x[:, :16]], 1)  # 48 channels
        n, c, h, w = x.shape
        x = x.reshape(n, 4, c // 4, h, w).transpose(1, 2).reshape(n, c, h, w)  # shuffle
        t = x.flatten(2).transpose(1, 2)  # (n, tokens, 48)
        att = torch.softmax(t @ t.transpose(1, 2) / 8.0, dim=-1)
        return self.head((att @ t).mean(1))


@pytest.mark.parametrize("name", ["mnv3-s", "mixed"])
def test_the_converted_graph_computes_what_the_module_computes(name, tmp_path):
    torch.manual_seed(0)
    model = _spread(build_model(name, None) if name != "mixed" else Mixed())
    shape = (1, 3, 64, 64)
    x, other = torch.randn(shape), torch.randn(shape)
    with torch.inference_mode():
        ref, ref_other = model(x).numpy(), model(other).numpy()
    # the output depends on the input (else a wrong layer could pass unseen)
    assert np.abs(ref_other - ref).max() > 0.05 * np.abs(ref).max()
    path = convert(model, shape, tmp_path, name)
    got = _run(path, x)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_the_converted_graph_counts_the_zoo_models_macs_and_weights(tmp_path):
    """MobileNetV2 at 96 px: the TFLite reader's count of the converted file equals the PyTorch trace's, its
    parameters the module's with its batch norms folded into the convs (as the TFLite converter folds them), every ReLU6 fused into its conv, and a PAD before each stride-2 conv (named for it), where PyTorch pads 1 on
    each side and TFLite's SAME would pad 0 and 1."""
    shape = (1, 3, 96, 96)
    module = build_model("mnv2", None)
    path = convert(module, shape, tmp_path, "mnv2")
    graph = roofline.trace(str(path))
    torch_trace = roofline.trace("mnv2", input_shape=shape)
    assert graph.input_shape == nhwc_shape(shape) == (1, 96, 96, 3)
    assert graph.totals["macs"] == torch_trace.totals["macs"]
    # each batch norm's scale and shift (2 per channel) folded into its conv, which gains a bias (1 per channel)
    bn = sum(m.num_features for m in module.modules() if isinstance(m, nn.BatchNorm2d))
    assert graph.totals["params"] == sum(p.numel() for p in module.parameters()) - bn == 3_504_872 - bn
    ops = graph.layers["op"].value_counts().to_dict()
    assert ops == {"conv2d": 35, "dwconv2d": 17, "add": 10, "pad": 5, "pool": 1, "fc": 1}  # pool: the final MEAN
    assert {"stem", "stage1.ir_0.dw", "stage1.ir_0.project", "stage2.ir_0.dw.Conv"} <= set(graph.layers["name"])


def test_what_it_cannot_convert_is_one_line_naming_the_op(tmp_path, cli):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU())
    with pytest.raises(RooflineError, match="no rule for the ONNX op Erf .*ai-edge-torch"):
        convert(model, (1, 3, 16, 16), tmp_path, "gelu-net")
    factory = tmp_path / "gelu_net.py"
    factory.write_text("from torch import nn\n\ndef make():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU())\n")
    code, _, err = cli("validate", f"{factory}:make", "--hw", "pixel8-edgetpu", "--runtime", "litert", "--runs", "2",
                       "--resolution", "32")
    # after the progress line, one error line and no traceback
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ") and "no rule for the ONNX op Erf" in err


def test_validate_runs_a_pytorch_model_under_litert():
    from roofline.measure.validate import validate

    hw = {"name": "cpu-spec", "kind": "cpu", "default_dtype": "fp32", "peak_macs_per_s": {"fp32": 1e11},
          "mem_bw_bytes_per_s": 1e10}
    v = validate(["mnv3-s"], hw, runs=3, processes=1, threads=1, resolution=96, execution="litert")
    row = v.models.iloc[0]
    assert v.execution == "litert" and row["model"] == "mnv3-s"
    assert 0 < row["measured_ms"] < 1e3 and row["error"] == pytest.approx(row["predicted_ms"] / row["measured_ms"] - 1)
    assert v.analyses["mnv3-s"].latency.execution == "fused" and v.analyses["mnv3-s"].dtype == "fp32"
