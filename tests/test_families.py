"""Model families: from the architecture, not the name's first word; centred multipliers; a JSON that adds up."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import yaml
from torch import nn

import roofline
from roofline.core.conventions import get_convention
from roofline.core.errors import InvalidInputError
from roofline.core.taxonomy import FAMILY_ALIASES, canonical_family, family_key, is_family_key
from roofline.fit import terms as fit_terms
from roofline.fit.terms import Params, build_design, fit_params, predict
from roofline.hardware import load_hardware, profile_to_yaml
from roofline.zoo import families
from roofline.zoo.families import model_family


# --- a model's family ----------------------------------------------------------------------------------

def test_zoo_families_are_the_zoos_and_a_class_name_is_none():
    assert model_family("mnv2") == model_family("mnv2-1.5x") == model_family("mobilenet-v2") == "mobilenetv2"
    assert model_family("mnv4-conv-s") == model_family("mnv4-hybrid-l") == "mobilenetv4"
    assert model_family("mnv3-s") == model_family("mnv3-l") == "mobilenetv3"
    assert model_family("mnv1") == "mobilenetv1"
    # a user's nn.Module is traced under its class name: never a zoo name, never timm's TinyNet
    for name in ("TinyNet", "MobileNetV2", "Tiny", "nets.py:factory", "pkg.mod:make", "foo:bar", "", " "):
        assert model_family(name) is None, name
    assert model_family(None) is None and model_family(3) is None


def test_timm_families_come_from_the_module_and_generator():
    pytest.importorskip("timm")
    assert model_family("timm:tf_efficientnet_b0") == model_family("timm:efficientnet_b0") == "efficientnet"
    assert model_family("timm:resnet50") == model_family("timm:resnet101") == "resnet"
    assert model_family("timm:mobilenetv4_conv_small") == model_family("mnv4-conv-s") == "mobilenetv4"
    assert model_family("timm:mobilenetv2_100") == model_family("mnv2") == "mobilenetv2"
    assert model_family("timm:mobilenetv3_large_100") == model_family("mnv3-l") == "mobilenetv3"
    assert model_family("timm:mobilenetv1_100") == model_family("mnv1") == "mobilenetv1"
    # efficientnet.py holds several architectures: the generator tells them apart
    assert families.source_key("timm:mobilenetv2_100") == "timm:efficientnet.mobilenet_v2"
    assert model_family("timm:tinynet_a") == "tinynet" and model_family("TinyNet") is None
    assert model_family("timm:tf_efficientnetv2_s") == model_family("timm:efficientnetv2_rw_s") == "efficientnetv2"
    # byobnet.py builds MobileOne and RepVGG with one function: the architecture word of the name
    assert model_family("timm:mobileone_s0") == model_family("timm:mobileone_s4") == "mobileone"
    assert model_family("timm:repvgg_a2") == "repvgg"
    assert model_family("timm:fastvit_sa12") == model_family("timm:fastvit_t8") == "fastvit"
    # the pretrained tag is not part of the architecture; two EfficientViTs of one name are two families
    assert model_family("timm:efficientvit_b1.r224_in1k") == model_family("timm:efficientvit_b3") == "efficientvit"
    assert model_family("timm:efficientvit_m0") == "efficientvitmsra"
    assert model_family("timm:no_such_model_here") is None


def test_torchvision_families_come_from_the_module():
    pytest.importorskip("torchvision")
    assert model_family("torchvision:mobilenet_v2") == model_family("mnv2") == "mobilenetv2"
    assert model_family("torchvision:mobilenet_v3_small") == model_family("mnv3-s") == "mobilenetv3"
    assert model_family("torchvision:resnet18") == model_family("torchvision:resnet152") == "resnet"
    assert model_family("torchvision:efficientnet_b0") == "efficientnet"
    assert model_family("torchvision:efficientnet_v2_s") == "efficientnetv2"
    assert model_family("torchvision:quantized_mobilenet_v2") == "mobilenetv2"  # the same net, quantized
    assert model_family("torchvision:no_such_model") is None


def test_one_network_from_every_source_is_one_family():
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    assert {model_family(n) for n in ("mnv2", "timm:mobilenetv2_100", "torchvision:mobilenet_v2")} == {"mobilenetv2"}
    assert {model_family(n) for n in ("timm:resnet50", "torchvision:resnet50")} == {"resnet"}
    assert {model_family(n) for n in ("timm:efficientnet_b0", "torchvision:efficientnet_b0")} == {"efficientnet"}
    assert {model_family(n) for n in ("timm:vit_base_patch16_224", "torchvision:vit_b_16")} == {"vit"}


def test_a_library_that_cannot_be_imported_gives_no_family(monkeypatch):
    def broken(name, *a, **k):
        raise ImportError(f"no module named {name}")

    families.source_key.cache_clear()
    monkeypatch.setattr(families.importlib, "import_module", broken)
    try:
        assert model_family("timm:resnet50") is None and model_family("torchvision:resnet50") is None
        assert model_family("mnv2") == "mobilenetv2"  # the zoo needs neither
    finally:
        families.source_key.cache_clear()


def test_the_alias_table_and_a_family_a_person_writes():
    assert all(is_family_key(v) for v in FAMILY_ALIASES.values())
    assert canonical_family("timm:efficientnet.mobilenet_v2") == "mobilenetv2"
    assert canonical_family("timm:byobnet.mobileone") == "mobileone"  # not listed: the last part
    assert family_key("mnv4") == "mobilenetv4" and family_key("MobileNet_V2") == "mobilenetv2"
    assert family_key(" resnet ") == "resnet"
    for bad in ("", "--", "x" * 65, None, 3):
        with pytest.raises(InvalidInputError, match="is not a model family"):
            family_key(bad)


def test_a_profile_fitted_before_families_were_resolved_still_serves_its_family():
    import yaml
    from roofline.hardware import profile_to_yaml

    doc = yaml.safe_load(profile_to_yaml(load_hardware("pixel8-edgetpu")))
    doc["fitted"]["family"] = {"mnv4": 0.93, "mnv2": 0.85, "fastvit": 1.36}  # keys as the old fit wrote them
    f = load_hardware(doc).fitted
    assert f.family_factor("mobilenetv4") == ("mnv4", f.family["mnv4"])
    assert f.family_factor("mnv4") == ("mnv4", f.family["mnv4"])
    assert f.family_factor(None) is None and f.family_factor("resnet") is None


# --- centred multipliers ---------------------------------------------------------------------------------

# one MobileNetV3 only: no multiplier of its own (a family needs two models), its rows anchor the base as
# the models of singleton families do in a real table; the others run 2-4x slower than their layers say
ZOO = ("mnv1", "mnv1-0.5x", "mnv2", "mnv2-0.5x", "mnv2-1.5x", "mnv3-l", "mnv4-conv-s", "mnv4-conv-m")
TRUE = {"mobilenetv1": 2.0, "mobilenetv2": 2.0, "mobilenetv4": 4.0}


def _design():
    """Noise-free latencies of a roofline with overheads, each family slowed by its TRUE multiplier."""
    tables = [roofline.trace(m, resolution=r) for m in ZOO for r in (160, 224)]
    groups = [t.model for t in tables]
    d = build_design(tables, ["int8"] * len(tables), np.ones(len(tables)), groups, get_convention("default"),
                     "fused")
    true = Params({"int8": 2e12}, 2e10, per_kernel_s=20e-6, per_inference_s=3e-4,
                  terms=("kernel", "inference", "family"), family=TRUE)
    measured = predict(d, true)
    return build_design(tables, ["int8"] * len(tables), measured, groups, get_convention("default"), "fused")


def test_centring_keeps_every_seen_familys_prediction_and_moves_the_base(monkeypatch):
    d = _design()
    terms = ("kernel", "inference", "family")
    centred = fit_params(d, terms)
    with monkeypatch.context() as m:
        m.setattr(fit_terms, "centre_families", lambda x, lay, d=None: (x, 1.0))
        raw = fit_params(d, terms)
    assert set(centred.family) == set(TRUE)
    # the typical model's multiplier: the median over the 8 models (MobileNetV3 at 1): 2 x mnv1, 3 x mnv2
    # at about 2, 2 x mnv4 at about 4 -> the mnv2 / mnv1 level
    per_model = sorted([raw.family["mobilenetv1"]] * 2 + [raw.family["mobilenetv2"]] * 3 + [1.0]
                       + [raw.family["mobilenetv4"]] * 2)
    c = float(np.exp(np.median(np.log(per_model))))
    assert c > 1.5  # anchored by MobileNetV3, the raw multipliers are about 2, 2 and 4
    assert float(np.exp(np.median(np.log(sorted([centred.family["mobilenetv1"]] * 2 + [centred.family["mobilenetv2"]] * 3
                                                 + [1 / c] + [centred.family["mobilenetv4"]] * 2))))) == pytest.approx(1.0, abs=1e-9)
    for f, g in raw.family.items():
        assert centred.family[f] == pytest.approx(g / c, rel=1e-12)
    assert centred.mem_bw_bytes_per_s == pytest.approx(raw.mem_bw_bytes_per_s / c, rel=1e-12)
    assert centred.peak_macs_per_s["int8"] == pytest.approx(raw.peak_macs_per_s["int8"] / c, rel=1e-12)
    assert centred.per_kernel_s == pytest.approx(raw.per_kernel_s * c, rel=1e-12)
    assert centred.per_inference_s == pytest.approx(raw.per_inference_s * c, rel=1e-12)
    # every row of a seen family: the same prediction, to rounding; a row of a family the fit did not
    # see (MobileNetV3) gets the base, now the typical family's: x c
    seen = d.family != "mobilenetv3"
    assert seen.sum() == 14 and (~seen).sum() == 2
    np.testing.assert_allclose(predict(d, centred)[seen], predict(d, raw)[seen], rtol=1e-12, atol=0)
    np.testing.assert_allclose(predict(d, centred)[~seen], predict(d, raw)[~seen] * c, rtol=1e-12, atol=0)
    # without multipliers (a family the fit did not see) the base is now the typical family's: x c
    plain = predict(d, Params(**{**centred.__dict__, "family": {}}))
    np.testing.assert_allclose(plain, predict(d, Params(**{**raw.__dict__, "family": {}})) * c, rtol=1e-12)
    # the fit found the truth where it has the multiplier (noise-free rows)
    np.testing.assert_allclose(predict(d, raw), d.measured_s, rtol=0.02)


def test_a_fit_with_one_family_term_is_centred_by_hand():
    """centre_families on a made-up vector: family logs (log 2, log 8) have mean log 4."""
    from roofline.fit.terms import _Layout, centre_families

    lay = _Layout(("int8", "fp16"), ("kernel", "inference", "family"), ("a", "b"))
    x = np.array([np.log(1e12), np.log(2e12), np.log(1e10), 0.5, -0.5, np.log(2.0), np.log(8.0)])
    y, c = centre_families(x, lay)
    assert c == pytest.approx(4.0, rel=1e-12)
    np.testing.assert_allclose(np.exp(y), [2.5e11, 5e11, 2.5e9, 4 * np.exp(0.5), 4 * np.exp(-0.5), 0.5, 2.0],
                               rtol=1e-12)
    lay0 = _Layout(("int8",), ("kernel",))
    assert centre_families(x[:4], lay0) == (pytest.approx(x[:4]), 1.0)


# --- a user's model, --family, and a JSON that adds up ---------------------------------------------------

def _profile(tmp_path, family: dict) -> str:
    doc = yaml.safe_load(profile_to_yaml(load_hardware("pixel8-edgetpu")))
    doc["name"] = "fam"
    doc["fitted"]["family"] = family
    path = tmp_path / "fam.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3))

    def forward(self, x):
        return self.body(x)


def test_a_users_model_has_no_family_unless_given(tmp_path, cli):
    prof = _profile(tmp_path, {"tinynet": 3.0, "mobilenetv2": 0.5})
    a = roofline.analyze(TinyNet(), prof, input_shape=(1, 3, 64, 64))
    assert a.family is None  # a class named like timm's TinyNet is not timm's TinyNet
    b = roofline.analyze(TinyNet(), prof, input_shape=(1, 3, 64, 64), family="tinynet")
    assert b.family == ("tinynet", 3.0)
    assert b.total_latency_s == pytest.approx(3.0 * a.total_latency_s, rel=1e-12)
    with pytest.raises(InvalidInputError, match="is not a model family"):
        roofline.analyze(TinyNet(), prof, input_shape=(1, 3, 64, 64), family="!")
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef small():\n    return nn.Sequential("
                                      "nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3))\n")
    spec = f"{tmp_path}/nets.py:small"
    runs = {}
    for extra in ((), ("--family", "mnv2")):
        code, out, err = cli("analyze", "--model", spec, "--hw", prof, "--format", "json", *extra)
        assert code == 0, err
        runs[extra] = json.loads(out)
    assert runs[()]["family_multiplier"] is None
    assert runs[("--family", "mnv2")]["family_multiplier"] == {"family": "mobilenetv2", "multiplier": 0.5}
    assert runs[("--family", "mnv2")]["totals"]["latency_s"] == pytest.approx(
        0.5 * runs[()]["totals"]["latency_s"], rel=1e-12)
    code, _, err = cli("analyze", "--model", spec, "--hw", prof, "--family", "a b?")
    assert code == 2 and "is not a model family" in err


def test_a_measurements_family_column_names_a_model_files_family(tmp_path):
    from roofline.fit.measurements import read_measurements

    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f"model,ms,family\nmnv2,5,\nmnv1,6,MNv4\n{tmp_path}/nets.py:small,0.8,tinynet\n")
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef small():\n    return nn.Conv2d(3, 8, 3)\n")
    rows = read_measurements(csv_path)
    assert rows["family"].tolist() == [None, "mobilenetv4", "tinynet"]
    tables = [roofline.trace("mnv2"), roofline.trace("mnv1"), roofline.trace("mnv1")]
    d = build_design(tables, ["int8"] * 3, [1.0, 1.0, 1.0], list(rows["model"]), get_convention("default"),
                     "fused", list(rows["family"]))
    assert d.family.tolist() == ["mobilenetv2", "mobilenetv4", "tinynet"]
    csv_path.write_text("model,ms,resolution,family\nmnv2,5,160,mnv2\nmnv2,6,224,resnet\n")
    with pytest.raises(roofline.RooflineError, match="mnv2 is given more than one family"):
        read_measurements(csv_path)


def test_the_json_adds_up_and_every_layer_table_shows_the_multiplier(tmp_path, cli):
    prof = _profile(tmp_path, {"mobilenetv2": 1.7, "mobilenetv4": 0.9})
    code, out, err = cli("analyze", "mnv2", "--hw", prof, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["family_multiplier"] == {"family": "mobilenetv2", "multiplier": 1.7}
    assert doc["per_inference_s"] > 0
    assert doc["per_inference_latency_s"] == pytest.approx(1.7 * doc["per_inference_s"], rel=1e-15)
    assert {layer["family_multiplier"] for layer in doc["layers"]} == {1.7}
    total = sum(layer["latency_s"] for layer in doc["layers"]) + doc["per_inference_latency_s"]
    assert total == pytest.approx(doc["totals"]["latency_s"], rel=1e-12)
    for layer in doc["layers"]:  # latency = (roofline + overhead) x multiplier
        roof = max(layer["mac_time_s"], layer["mem_time_s"])
        assert layer["latency_s"] == pytest.approx((roof + layer["overhead_s"]) * 1.7, rel=1e-12)
    code, out, err = cli("analyze", "mnv2", "--hw", prof, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in out.splitlines() if not x.startswith("#")))))
    assert {r["family_multiplier"] for r in rows} == {"1.7"}
    code, out, err = cli("analyze", "mnv2", "--hw", prof, "--format", "markdown")
    assert code == 0 and "family_multiplier" in out, err
    code, out, err = cli("analyze", "mnv2", "--hw", prof, "--all")
    assert code == 0, err
    assert "(roofline + overhead) x 1.7, the fitted mobilenetv2 family multiplier" in " ".join(out.split())
    # a model without a multiplier: 1 on every layer, and the JSON still adds up
    code, out, err = cli("analyze", "mnv1", "--hw", prof, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["family_multiplier"] is None and {x["family_multiplier"] for x in doc["layers"]} == {1.0}
    assert sum(x["latency_s"] for x in doc["layers"]) + doc["per_inference_latency_s"] == pytest.approx(
        doc["totals"]["latency_s"], rel=1e-12)
