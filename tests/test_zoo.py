"""Model zoo: exact parameter counts, forward passes, shapes, names and cards."""

import pytest
import torch

import roofline
from roofline.core.errors import RooflineError, UnknownModelError
from roofline.zoo import make_divisible, resolve

from conftest import ZOO

# params_exact of the reference implementations (torchvision / timm / TF Model Garden)
EXACT = {
    ("mnv1", 1.0): 4231976,
    ("mnv2", 1.0): 3504872,
    ("mnv2", 0.5): 1968680,
    ("mnv2", 1.5): 6858152,
    ("mnv2", 2.0): 11258088,
    ("mnv3-l", 1.0): 5483032,
    ("mnv3-l", 1.5): 11317208,
    ("mnv3-s", 1.0): 2542856,
    ("mnv4-conv-s", 1.0): 3774024,
    ("mnv4-conv-m", 1.0): 9715512,
    ("mnv4-conv-l", 1.0): 32590864,
    ("mnv4-hybrid-m", 1.0): 11074648,
    ("mnv4-hybrid-l", 1.0): 37764624,
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "width"), list(EXACT))
def test_params_exact(name, width):
    model = roofline.build_model(name, width=width, device="meta")
    assert n_params(model) == EXACT[(name, width)]
    assert roofline.model_card(name, width).params == EXACT[(name, width)]
    assert roofline.model_card(name, width).params_exact_published == EXACT[(name, width)]


@pytest.mark.parametrize(("name", "millions"), [("mnv1-0.5x", 1.3), ("mnv1-0.75x", 2.6),
                                                ("mnv3-l-0.5x", 2.7)])
def test_params_rounded(name, millions):
    # V1 paper Table 6 prints 1.3M and 2.6M; the MNv4 paper's Table 6 prints 2.7M for V3-L 0.5x
    assert round(n_params(roofline.build_model(name, device="meta")) / 1e6, 1) == millions


def test_make_divisible():
    assert make_divisible(32 * 0.5) == 16
    assert make_divisible(1280 * 0.5) == 640
    assert make_divisible(4) == 8  # never below the divisor
    assert make_divisible(36) == 40  # 36 rounds half up to 40
    assert make_divisible(75) == 72  # 72 >= 0.9 x 75: kept
    assert make_divisible(11) == 16  # 8 < 0.9 x 11: one more step


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_forward_native_resolution(name):
    torch.manual_seed(0)
    model = roofline.build_model(name)
    res = roofline.model_card(name).resolution
    with torch.inference_mode():
        y = model(torch.randn(2, 3, res, res))
    assert y.shape == (2, 1000)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ZOO)
def test_meta_build_1024(name):
    model = roofline.build_model(name, device="meta")
    assert all(p.is_meta for p in model.parameters())
    table = roofline.trace(name, resolution=1024)
    assert table.layers["out_shape"].iloc[-1] == "1x1000"
    assert table.params == EXACT[(name, 1.0)]


def _stage_sizes(name: str, res: int) -> dict[str, tuple[int, ...]]:
    model = roofline.build_model(name, device="meta")
    seen: dict[str, tuple[int, ...]] = {}
    for mod_name, module in model.named_modules():
        if mod_name in ("stem", *model.stage_names) or type(module).__name__ == "MobileMQA":
            module.register_forward_hook(
                lambda m, i, o, n=mod_name: seen.__setitem__(n, tuple(o.shape[1:])))
    with torch.inference_mode():
        model(torch.empty(1, 3, res, res, device="meta"))
    return seen


def test_hybrid_l_stage_shapes():
    s = _stage_sizes("mnv4-hybrid-l", 384)
    assert s["stem"] == (24, 192, 192)
    assert s["stage1"] == (48, 96, 96)
    assert s["stage2"] == (96, 48, 48)
    assert s["stage3"] == (192, 24, 24)
    assert s["stage4"] == (512, 12, 12)
    mqa = {k: v for k, v in s.items() if "mqa" in k}
    assert sorted(mqa.values()) == [(192, 24, 24)] * 4 + [(512, 12, 12)] * 4


def test_v2_and_conv_s_stage_shapes():
    s = _stage_sizes("mnv2", 224)
    # V2's first block runs at the stem's 112x112: a stage of its own (one stage per resolution)
    assert [s[k] for k in ("stem", "stage1", "stage2", "stage3", "stage4", "stage5")] == [
        (32, 112, 112), (16, 112, 112), (24, 56, 56), (32, 28, 28), (96, 14, 14), (320, 7, 7)]
    s = _stage_sizes("mnv4-conv-s", 224)
    assert [s[k] for k in ("stem", "stage1", "stage2", "stage3", "stage4")] == [
        (32, 112, 112), (32, 56, 56), (64, 28, 28), (96, 14, 14), (128, 7, 7)]


def test_hybrid_m_mqa_runs_at_16_and_8():
    s = _stage_sizes("mnv4-hybrid-m", 256)
    mqa = sorted(v for k, v in s.items() if "mqa" in k)
    assert mqa == [(160, 16, 16)] * 4 + [(256, 8, 8)] * 4


@pytest.mark.parametrize(("alias", "base", "width"), [
    ("mnv2", "mnv2", 1.0), ("mobilenet_v2", "mnv2", 1.0), ("mnv2-1.5x", "mnv2", 1.5),
    ("mnv1-0.5x", "mnv1", 0.5), ("mnv3-l-0.75x", "mnv3-l", 0.75),
    ("mobilenetv4_conv_small", "mnv4-conv-s", 1.0), ("MobileNetV4_Hybrid_Large", "mnv4-hybrid-l", 1.0),
    ("mobilenet_v3_large", "mnv3-l", 1.0), ("mobilenetv2_140", "mnv2", 1.4),
])
def test_aliases(alias, base, width):
    assert resolve(alias) == (base, width)


def test_unknown_model_suggests():
    with pytest.raises(UnknownModelError, match="did you mean.*mnv4-conv-s"):
        roofline.build_model("mnv4-conv-x")


def test_width_conflict_and_range():
    with pytest.raises(RooflineError, match="names width 1.5"):
        resolve("mnv2-1.5x", width=0.5)
    with pytest.raises(RooflineError, match="width multiplier"):
        resolve("mnv2", width=0)


def test_model_cards():
    assert roofline.model_card("mnv4-conv-m").resolution == 256
    assert roofline.model_card("mnv4-hybrid-m").resolution == 256
    assert roofline.model_card("mnv4-conv-l").resolution == 384
    assert roofline.model_card("mnv4-hybrid-l").resolution == 384
    assert roofline.model_card("mnv2").resolution == 224
    card = roofline.model_card("mnv1")
    assert (card.top1_original, card.top1_mnv4, card.top1) == (70.6, 74.0, 74.0)
    assert card.family == "mobilenet_v1" and "Howard" in card.source
    assert roofline.model_card("mnv2-0.5x").top1 == 66.0
    assert roofline.model_card("mnv3-l-1.5x").top1_mnv4_approx


def test_list_models():
    names = roofline.list_models()
    assert names[:9] == ZOO
    assert {"mnv2-1.5x", "mnv1-0.5x", "mnv3-l-0.5x"} <= set(names)


def test_cli_models(cli):
    code, out, err = cli("models")
    assert code == 0
    assert "mnv4-hybrid-l" in out and "37,764,624" in out and "83.4" in out


def test_cli_unknown_command(cli):
    code, out, err = cli("nosuchmodel")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error:") and "Traceback" not in err


def test_cli_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("roofline ")
