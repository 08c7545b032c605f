"""Issue 30, item 5 and the save-band part of item 1: a transfer keeps the source's reading, derive and
validate --save-band write only what loads back, and a saved band holds its own prediction."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

import roofline
from roofline.core.errors import ProfileError, RooflineError
from roofline.hardware import Figure, Overhead, load_hardware, profile_to_yaml
from roofline.hardware.transfer import derive, transfer, transfer_source

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "reports" / "validation-cpu" / "threads-2" / "profile-run1.yaml"
MODELS = (("mnv2", 1), ("mnv3-s", 1), ("mnv4-conv-s", 8), ("timm:efficientnet_b0", 256))


def _without_families(p):
    return replace(p, fitted=replace(p.fitted, family={}))


def _spec_args(p):
    args = []
    for d, f in p.peak_macs_per_s.items():
        args += ["--peak", f"{d}={f.value!r}"]
    return args + ["--bw", repr(p.mem_bw_bytes_per_s.value)]


@pytest.mark.parametrize("name", ["rtx3090", "pixel8-edgetpu"])
def test_derived_from_itself_predicts_as_the_source(cli, tmp_path, name):
    """Derived from itself with its own spec numbers (through the CLI, to a file), a validated profile
    predicts exactly as the source read without its family multipliers (which do not transfer)."""
    src = load_hardware(name)
    out = tmp_path / "self.yaml"
    code, _, err = cli("derive", f"{name}-again", "--like", name, *_spec_args(src), "-o", str(out))
    assert code == 0, err
    derived = load_hardware(out)
    assert (derived.fitted.convention, derived.fitted.execution) == (src.fitted.convention, src.fitted.execution)
    base = _without_families(src)
    # the same through the API, on the source's own spec sheet (its on-chip memory kept)
    target = replace(src, fitted=None, overhead=Overhead(), validation=None)
    moved = transfer(target, src)
    for model, batch in MODELS:
        want = roofline.analyze(model, hw=base, batch=batch).total_latency_s
        for p in (derived, moved):
            a = roofline.analyze(model, hw=p, batch=batch)
            assert a.total_latency_s == pytest.approx(want, rel=1e-9), (name, model)


def test_the_reading_is_carried_and_said():
    """The issue's case: derived from rtx3090 the file read efficientnet_b0 at batch 256 another way
    (30.4 ms vs 45.5 ms); now it counts unfused with fused execution, and says what it carried."""
    p = derive("new-gpu", "rtx3090", {"fp16": 3.55e13}, 9.36e11)
    doc = yaml.safe_load(profile_to_yaml(p))["fitted"]
    assert doc["convention"] == "unfused" and doc["execution"] == "fused"
    assert "family" not in doc
    assert "Carried: convention unfused, fused execution, efficiency factors" in doc["source"]
    assert "the reduction half-length" in doc["source"] and "per-kernel costs (fused)" in doc["source"]
    assert "Not carried: family multipliers" in doc["source"]
    a = roofline.analyze("timm:efficientnet_b0", hw=p, batch=256)
    assert (a.convention.name, str(a.latency.execution)) == ("unfused", "fused")
    src = load_hardware("rtx3090")
    assert p.validation.status == "transferred" and "family" not in p.validation.terms
    v = src.validation  # the source's new-family band, its log width times sqrt(2) about its centre
    lo, hi = p.validation.ratio_p10, p.validation.ratio_p90
    assert lo * hi == pytest.approx(v.new_family_ratio_p10 * v.new_family_ratio_p90, rel=1e-12)
    assert math.log(hi / lo) == pytest.approx(math.sqrt(2) * math.log(v.new_family_ratio_p90
                                                                      / v.new_family_ratio_p10), rel=1e-12)


def _like(**validation) -> dict:
    """A small validated gpu profile: spec 1e13 MAC/s and 1e11 B/s, fitted RP 50 at 5e10 B/s (fitted
    peak 2.5e12: 0.25 x its spec peak; 0.5 x its spec bandwidth)."""
    return {"name": "like", "kind": "gpu", "description": "a test gpu", "default_dtype": "fp16",
            "peak_macs_per_s": {"fp16": {"value": 1e13}, "fp32": {"value": 5e12}},
            "mem_bw_bytes_per_s": {"value": 1e11},
            "fitted": {"dtype": "fp16", "ridge_point_macs_per_byte": 50.0, "mem_bw_bytes_per_s": 5e10,
                       "other_dtypes": {"fp32": 20.0}, "efficiency": {"dwconv": 2.0}, "convention": "unfused",
                       "execution": "eager", "source": "test", "confidence": "measured"},
            "overhead": {"per_inference_s": {"value": 1e-4}, "per_kernel_s": {"eager": {"value": 5e-6}}},
            "validation": {"status": "fitted", "data": "test", "rows": 20, "models": 20, "folds": 20,
                           "method": "test", "terms": ["kernel", "inference", "dwconv"],
                           "heldout_median_error": 0.05, "ratio_p10": 0.8, "ratio_p90": 1.25, **validation}}


def _target(peak=4e13, bw=2e11, kind="gpu", dtype="fp16"):
    return roofline.HardwareProfile("target", kind, "a newer gpu", dtype, {dtype: Figure(peak, "sheet")},
                                    Figure(bw, "sheet"))


def test_transfer_scales_by_the_source_shares():
    """Target 4e13 MAC/s, 2e11 B/s: bandwidth 0.5 x 2e11 = 1e11, peak 0.25 x 4e13 = 1e13, RP 100; band
    0.8-1.25 (centre 1, 1.25 on each side) with its log width times sqrt(2): 1.25 ** sqrt(2) = 1.37104 on each
    side, 0.72937-1.37104."""
    p = transfer(_target(), load_hardware(_like()))
    f = p.fitted
    assert f.mem_bw_bytes_per_s == pytest.approx(1e11) and f.ridge_point_macs_per_byte == pytest.approx(100.0)
    assert f.other_dtypes == {}  # the target's sheet has no fp32 peak to scale: not carried, and said so
    assert "Not carried: the fp32 ridge point (no spec peak to scale by)" in f.source
    assert (f.convention, f.execution, f.efficiency) == ("unfused", "eager", {"dwconv": 2.0})
    assert p.overhead.inference_s == 1e-4 and p.overhead.kernel_cost("eager").value == 5e-6
    assert (p.validation.ratio_p10, p.validation.ratio_p90) == (pytest.approx(1 / 1.371044, rel=1e-6),
                                                                pytest.approx(1.371044, rel=1e-6))
    assert (p.name, p.description, p.peak_macs_per_s["fp16"].value) == ("target", "a newer gpu", 4e13)
    # fp32 on both sheets: its share (20 x 5e10 / 5e12 = 0.2) of the target's 1e13 fp32 over 1e11 B/s = 20
    both = replace(_target(), peak_macs_per_s={"fp16": Figure(4e13), "fp32": Figure(1e13)})
    assert transfer(both, load_hardware(_like())).fitted.other_dtypes == {"fp32": pytest.approx(20.0)}


def test_a_transferred_band_holds_its_own_prediction():
    """A new-family band 1.2-1.5 (centre sqrt(1.8) = 1.3416, 1.25 ** 0.5 on each side) widened to 1.25 ** (sqrt(2)
    / 2) = 1.1709 on each side is 1.1459-1.5709: it would leave out 1, so it reaches down to 1, and says so."""
    d = _like(new_family_ratio_p10=1.2, new_family_ratio_p90=1.5, terms=["kernel", "inference", "dwconv",
                                                                        "family"])
    d["fitted"]["family"] = {"resnet": 1.3}
    p = transfer(_target(), load_hardware(d))
    assert p.validation.ratio_p10 == 1.0 and p.validation.ratio_p90 == pytest.approx(1.570949, rel=1e-6)
    assert "widened to hold the prediction itself" in p.validation.method
    assert p.fitted.family == {} and p.validation.terms == ("kernel", "inference", "dwconv")


@pytest.mark.parametrize(("target", "like", "message"), [
    (_target(), "nvidia-h100", "profile nvidia-h100 is spec-only, unvalidated: a transfer needs a profile validated"),
    (_target(dtype="int8"), _like(), "profile target has no spec peak for fp16, the dtype like was fitted at"),
    (_target(kind="npu"), _like(), "profile target is a npu and like a gpu: terms transfer only between devices"),
    (_target(), _like(status="transferred"), "like is transferred (not on its own device)"),
])
def test_transfer_refuses(target, like, message):
    with pytest.raises(ProfileError) as e:
        transfer(target, load_hardware(like))
    assert message in str(e.value)


def test_transfer_source_rule():
    """Same kind, validated, fitted at the target's dtype first; then nearest spec RP in log; then most
    models; never unvalidated or of another kind."""
    base = _like()
    target = _target(peak=4e13, bw=2e11)  # spec RP 200

    def cand(name, peak, models=20, kind="gpu", status="fitted"):
        d = copy.deepcopy(base)
        d["name"], d["kind"] = name, kind
        d["peak_macs_per_s"]["fp16"]["value"] = peak  # spec RP = peak / 1e11
        d["fitted"]["ridge_point_macs_per_byte"] = 0.25 * peak / 5e10
        d["validation"].update(models=models, rows=models, folds=min(20, models), status=status)
        return load_hardware(d)

    near, far_many = cand("near", 1.5e13), cand("far", 1e14, models=1000)  # RP 150 (log 0.29), 1000 (log 1.6)
    npu, unval = cand("npu", 2e13, kind="npu"), replace(cand("unval", 2e13), validation=None)
    assert transfer_source(target, [far_many, near, npu, unval]).name == "near"
    above = cand("above", 2.5e13, models=50)  # RP 250: log distance 0.22 against near's 0.29
    assert transfer_source(target, [near, above]).name == "above"
    twin = cand("twin", 1.5e13, models=21)  # the same RP as near, one more model
    assert transfer_source(target, [near, twin]).name == "twin"
    assert transfer_source(target, [npu, unval]) is None
    int8 = replace(target, default_dtype="int8", peak_macs_per_s={"fp16": Figure(4e13), "int8": Figure(8e13)})
    assert transfer_source(int8, [near]).name == "near"  # no int8 fit anywhere: fp16's is the best there is


@pytest.mark.parametrize(("args", "message"), [
    (("--like", "rtx3090", "--peak", "fp16=3e14", "--bw", "1e6"),
     "error: --peak fp16=3e+14 MAC/s over --bw 1e+06 B/s is a ridge point of 3e+08 MAC/B, which no device has"),
    (("--like", "{wide}", "--peak", "fp16=8e13", "--bw", "1e12"),
     "error: the profile x transferred from wide would not load back, so nothing is written: "
     "validation.ratio_p90 must be a number from 0 to 1000"),
    (("--like", "{derived}", "--peak", "fp16=8e13", "--bw", "1e12"), "is transferred (not on its own device)"),
])
def test_derive_refuses_what_would_not_load(cli, tmp_path, args, message):
    d = yaml.safe_load(profile_to_yaml(load_hardware("rtx3090")))
    d["name"] = "wide"  # a band the loader accepts whose widened width it does not (above 1e3)
    d["validation"].update(ratio_p10=1e-150, new_family_ratio_p10=1e-150, new_family_ratio_p90=1e3)
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump(d))
    (tmp_path / "derived.yaml").write_text(profile_to_yaml(derive("d", "rtx3090", {"fp16": 8e13}, 1e12)))
    out = tmp_path / "x.yaml"
    args = [a.format(wide=tmp_path / "wide.yaml", derived=tmp_path / "derived.yaml") for a in args]
    code, text, err = cli("derive", "x", *args, "-o", str(out))
    assert code == 2 and text == "" and err.count("\n") == 1 and message in err, err
    assert not out.exists()


# --- validate --save-band ----------------------------------------------------------------------------

def _run(ratios):
    from roofline.measure.validate import ValidationRun

    p = load_hardware(MEASURED)
    names = roofline.list_models()[:len(ratios)]
    analyses = {m: roofline.analyze(m, p) for m in names}
    pred = [a.total_latency_s * 1e3 for a in analyses.values()]
    meas = [x * r for x, r in zip(pred, ratios)]
    models = pd.DataFrame({"model": names, "predicted_ms": pred, "measured_ms": meas,
                           "error": [x / m - 1 for x, m in zip(pred, meas)], "macs": range(1, len(names) + 1)})
    return ValidationRun(p, "cpu", "fp32", 2, "eager", 1, False, models, pd.DataFrame(), analyses, threads=2)


def test_save_band_needs_nine_models():
    """With 8 models, the widest band the runs give holds a new model's ratio 7 / 9 = 78 % of the time."""
    with pytest.raises(RooflineError, match=r"--save-band needs at least 9 models for an 80 % band, got 8: with 8, "
                                            r"even the runs' lowest to highest .* only 78 % of the time"):
        _run([0.9, 1.1, 1.0, 1.05, 0.95, 1.2, 0.85, 1.15]).band_profile()


def test_save_band_refuses_few_models_before_running(cli, tmp_path):
    out = tmp_path / "band.yaml"
    code, text, err = cli("validate", "mnv2", "mnv3-s", "mnv2", "--hw", str(MEASURED), "--save-band", str(out))
    assert code == 2 and text == "" and err.count("\n") == 1
    assert err.startswith("error: --save-band needs at least 9 models for an 80 % band, got 2:")
    assert not out.exists()


def test_a_saved_band_holds_its_prediction(tmp_path):
    """Nine models all measured slower than predicted (1.2 to 1.6 x): the runs' band (their extremes at
    9 models) leaves out 1, so the band written is 1-1.6 and says why; the file loads with it, and the
    printed band holds the printed latency."""
    run = _run([1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.55, 1.6])
    banded = run.band_profile()
    v = banded.validation
    assert (v.ratio_p10, v.ratio_p90) == (1.0, pytest.approx(1.6))
    assert "the runs' 80 % band 1.2-1.6 x left out the prediction itself" in v.method
    f = tmp_path / "banded.yaml"
    f.write_text(profile_to_yaml(banded))
    a = roofline.analyze("mnv2", f)
    lo, hi = a.latency_band_s
    assert a.band.validated and lo == pytest.approx(a.total_latency_s) and hi == pytest.approx(1.6 * a.total_latency_s)
    # a balanced run keeps its own band, unwidened
    v2 = _run([0.9, 1.1, 1.0, 1.05, 0.95, 1.2, 0.85, 1.15, 0.8]).band_profile().validation
    assert (v2.ratio_p10, v2.ratio_p90) == (pytest.approx(0.8), pytest.approx(1.2)) and "widened" not in v2.method


def test_save_band_refuses_a_band_of_no_width():
    with pytest.raises(RooflineError, match="give a band of no width"):
        _run([1.0] * 9).band_profile()
