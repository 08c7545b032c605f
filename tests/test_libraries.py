"""Models from timm and torchvision by name (the roofline[timm] and roofline[torchvision] extras)."""

import json
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import roofline
from roofline.core.errors import RooflineError, UnknownModelError
from roofline.zoo import build_model, libraries

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")


def test_convnext_small_by_name_in_the_cli(cli):
    code, out, err = cli("analyze", "timm:convnext_small", "--hw", "pixel8-edgetpu", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"] == "timm:convnext_small" and doc["totals"]["macs"] == 8_683_712_256
    assert doc["totals"]["params"] == 50_223_688


@pytest.mark.parametrize(("name", "params", "resolution"), [
    # params: the libraries' published counts (torchvision's model docs)
    ("torchvision:resnet18", 11_689_512, 224),
    ("torchvision:efficientnet_b0", 5_288_548, 224),
    ("torchvision:mobilenet_v3_large", 5_483_032, 224),
    ("torchvision:vit_b_16", 86_567_656, 224),
    ("timm:mobileone_s0", 2_078_504, 224),   # reparameterized: the deployed network (the paper's 2.1 M)
    ("timm:fastvit_t8", 3_996_040, 256),
])
def test_library_models_trace_exactly(name, params, resolution):
    t = roofline.trace(name)
    assert t.input_shape == (1, 3, resolution, resolution) and t.params == t.model_params == params
    assert not t.unsupported and t.folded_macs == 0
    m = build_model(name, device="meta")
    with FlopCounterMode(display=False) as fc:  # torch's own counter, 2 flops per MAC
        m(torch.empty(t.input_shape, device="meta"))
    assert t.macs == fc.get_total_flops() // 2


def test_torchvision_mobilenet_v3_large_equals_the_zoo():
    tv, zoo = roofline.trace("torchvision:mobilenet_v3_large"), roofline.trace("mnv3-l")
    assert tv.macs == zoo.macs == 216_589_760 and tv.params == zoo.params


def test_default_resolution_and_inference_form():
    assert roofline.model_card("torchvision:inception_v3").resolution == 299  # its weights' crop size
    assert roofline.model_card("timm:mobileone_s0").params == 2_078_504      # reparameterized
    assert roofline.trace("timm:mobileone_s0").macs == 275_110_400           # the MobileOne paper's 275 M
    m = build_model("timm:mobileone_s0")
    assert not m.training and m(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)  # a real CPU module


def test_names_errors_and_listing(cli, monkeypatch):
    with pytest.raises(UnknownModelError, match="unknown timm model 'convnext_smal'.*convnext_small"):
        roofline.trace("timm:convnext_smal")
    with pytest.raises(RooflineError, match="width multipliers are for zoo models"):
        roofline.trace("timm:resnet18", width=1.5)
    code, out, err = cli("models", "--source", "timm", "--filter", "mobilenetv4_conv_s*")
    assert code == 0 and "timm:mobilenetv4_conv_small" in out.split()
    code, out, _ = cli("models", "--source", "torchvision", "--filter", "resnet1*")
    assert out.split() == ["torchvision:resnet101", "torchvision:resnet152", "torchvision:resnet18"]
    monkeypatch.setitem(sys.modules, "timm", None)  # as if the extra were not installed
    libraries.library.cache_clear()
    try:
        code, _, err = cli("trace", "timm:resnet18")
        assert code == 2 and 'need the timm extra: pip install "roofline[timm]"' in err
    finally:
        monkeypatch.undo()
        libraries.library.cache_clear()


def test_table16_over_the_full_table6_set():
    from roofline.studies.reproduce import table16

    t = table16(full=True)
    full = t[t["set"] == "table6"].set_index("device")
    zoo = t[t["set"] == "zoo"].set_index("device")
    # every Table 6 model timm builds joins the zoo's: 11 + 8 measured on the Pixel 6 CPU
    assert full.loc["pixel6-cpu", "models"] == 19 and zoo.loc["pixel6-cpu", "models"] == 11
    assert full.loc["pixel8-edgetpu", "models"] == 19 and full.loc["pixel4-dsp", "models"] == 11
    assert (full["rs_macs"] > 0.8).all() and (full["rs_roofline_at_paper_rp"] > 0.8).all()


def test_segmentation_traces_and_detection_fails_clearly():
    t = roofline.trace("torchvision:deeplabv3_mobilenet_v3_large", resolution=320)  # static: traces
    m = build_model("torchvision:deeplabv3_mobilenet_v3_large", device="meta")
    with FlopCounterMode(display=False) as fc:
        m(torch.empty(1, 3, 320, 320, device="meta"))
    assert not t.unsupported and t.macs == fc.get_total_flops() // 2
    with pytest.raises(RooflineError, match="is data-dependent"):  # proposals are sized by the scores
        roofline.trace("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", resolution=320)
