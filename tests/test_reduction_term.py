"""The fitted reduction half-length: short inner loops run below their class's rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn as nn
import yaml

import roofline
from roofline.core.errors import ProfileError
from roofline.hardware import load_hardware, profile_to_yaml
from roofline.fit.selection import candidates, select, with_shape
from roofline.fit.terms import Params, fit_params, predict

from conftest import FIT_ZOO, zoo_design



def _profile(h: float | None) -> dict:
    fitted = {"dtype": "int8", "ridge_point_macs_per_byte": 1.0, "mem_bw_bytes_per_s": 2e12}
    if h is not None:
        fitted["reduction_half"] = h
    return {"name": "red", "kind": "npu", "default_dtype": "int8", "peak_macs_per_s": {"int8": 2e12},
            "mem_bw_bytes_per_s": 2e12, "fitted": fitted}


def _two_convs() -> nn.Module:
    return nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.Conv2d(32, 32, 3, padding=1, bias=False))


def test_a_layers_mac_time_grows_by_one_plus_h_over_its_reduction_length():
    table = roofline.trace(_two_convs(), (1, 16, 8, 8))
    a = roofline.analyze(table, _profile(16.0), overhead=False)
    convs = a.layers[a.layers["macs"] > 0]
    assert convs["macs"].tolist() == [16 * 32 * 64, 32 * 9 * 32 * 64]  # 1x1: reduction 16; 3x3: 288
    peak = 1.0 * 2e12
    # compute-bound (the bandwidth is high): MAC time x (1 + 16 / 16) and x (1 + 16 / 288)
    assert convs["mac_time_s"].tolist() == pytest.approx([32768 / peak * 2.0, 589824 / peak * (1 + 16 / 288)])
    assert set(convs["bound"]) == {"compute"}
    plain = roofline.analyze(table, _profile(None), overhead=False)
    assert plain.layers.loc[plain.layers["macs"] > 0, "mac_time_s"].tolist() == pytest.approx(
        [32768 / peak, 589824 / peak])
    assert "a compute layer runs at its class's rate / (1 + 16 / MACs per output element)" in a.assumptions()
    assert "short reductions" not in plain.assumptions()
    assert a.roofline_label == "roofline x class factors"


def test_sweep_at_the_profiles_ridge_point_equals_analyze_with_the_reduction_term():
    from roofline.studies.sweep import sweep

    prof = _profile(24.0)
    df = sweep(["mnv2"], [1.0, 300.0], hw=prof)
    a = roofline.analyze("mnv2", prof)
    assert df["latency_s"].iloc[0] == pytest.approx(a.total_latency_s, rel=1e-12)
    assert a.total_latency_s > roofline.analyze("mnv2", _profile(None)).total_latency_s * 1.2


def test_reduction_half_round_trips_and_a_bad_one_is_refused():
    p = load_hardware(_profile(24.0))
    again = load_hardware(yaml.safe_load(profile_to_yaml(p)))
    assert again.fitted.reduction_half == 24.0 and again.fitted == p.fitted
    for bad, what in ((-3, "fitted.reduction_half must be a finite positive number"),
                      (0, "fitted.reduction_half must be a finite positive number"),
                      ("many", "fitted.reduction_half must be"),
                      (1e9, "fitted.reduction_half = 1e[+]09 MACs per output element is above 100000")):
        with pytest.raises(ProfileError, match=what):
            load_hardware(_profile(bad))


def test_derive_carries_the_reduction_half_length(tmp_path):
    from roofline.hardware.transfer import derive

    like = load_hardware("rtx3090")
    doc = yaml.safe_load(profile_to_yaml(like))
    doc["fitted"]["reduction_half"] = 12.5
    p = derive("new", load_hardware(doc), {"fp16": 8e13}, 1e12)
    assert p.fitted.reduction_half == 12.5


def _design(true: Params, noise: float = 0.0):
    return zoo_design([(m, r) for m in FIT_ZOO for r in (160, 224)], true, noise=noise)


def test_a_known_reduction_half_length_is_recovered():
    true = Params({"int8": 2e12}, 2e10, per_kernel_s=20e-6, per_inference_s=0.3e-3, terms=(
        "kernel", "inference", "reduction"), reduction_half=24.0)
    d = _design(true)
    p = fit_params(d, true.terms)
    assert p.reduction_half == pytest.approx(24.0, rel=0.05)
    assert p.peak_macs_per_s["int8"] == pytest.approx(2e12, rel=0.05)
    assert np.max(np.abs(predict(d, p) / d.measured_s - 1)) < 0.01


def test_data_without_short_loop_costs_fit_a_negligible_half_length():
    true = Params({"int8": 2e12}, 2e10, per_kernel_s=20e-6, per_inference_s=0.3e-3, terms=("kernel", "inference"))
    d = _design(true)
    p = fit_params(d, ("kernel", "inference", "reduction"))
    assert p.reduction_half < 0.5  # under 6 % on a depthwise 3x3 (9 MACs per output), less elsewhere
    assert np.max(np.abs(predict(d, p) / d.measured_s - 1)) < 0.01


def test_selection_tries_the_reduction_term_on_the_ladders_best_set_and_keeps_it_when_it_helps():
    true = Params({"int8": 2e11}, 2e10, per_kernel_s=20e-6, per_inference_s=0.3e-3, terms=(
        "kernel", "inference", "reduction"), reduction_half=24.0)  # ridge point 10: mostly compute-bound
    d = _design(true, noise=0.005)
    assert not any("reduction" in c for c in candidates(d))  # the ladder itself is unchanged
    assert with_shape(d, ("kernel", "inference", "dwconv", "family")) == [
        ("kernel", "inference", "reduction", "dwconv", "family"), ("kernel", "inference", "reduction", "family")]
    assert with_shape(d, ("kernel", "inference")) == [("kernel", "inference", "reduction")]
    assert with_shape(d, ("kernel", "reduction")) == []
    s = select(d)
    p, cv, table = s.params_, s.cv_, s.cv_results_
    assert "reduction" in p.terms and p.reduction_half == pytest.approx(24.0, rel=0.1)
    assert len(table) == len(candidates(d)) + 2 and table["chosen"].iloc[-2:].any()
    assert table["score"].iloc[-2:].min() < 0.5 * table["score"].iloc[:-2].min()  # held out: half the error
    clean = _design(Params({"int8": 2e11}, 2e10, per_kernel_s=20e-6, per_inference_s=0.3e-3,
                           terms=("kernel", "inference")), noise=0.02)
    s = select(clean)
    p, table = s.params_, s.cv_results_
    assert "reduction" not in p.terms or p.reduction_half < 0.5  # absent or negligible (under 6 % at 9 MACs)


def test_hw_and_analyze_show_the_reduction_half_length(cli, tmp_path):
    f = tmp_path / "red.yaml"
    f.write_text(yaml.safe_dump(_profile(24.0)))
    code, out, err = cli("hw", str(f))
    assert code == 0, err
    assert "reduction half-length: 24 MACs per output element" in " ".join(out.split())
    code, out, err = cli("analyze", "mnv2", "--hw", str(f))
    assert code == 0, err
    assert "(1 + 24 / MACs per output element)" in " ".join(out.split())
    f.write_text(yaml.safe_dump(_profile(-1)))
    code, out, err = cli("analyze", "mnv2", "--hw", str(f))
    assert code == 2 and "fitted.reduction_half must be a finite positive number" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_fitted_ridge_point_below_a_tenth_is_not_printed_as_zero():
    from roofline.core import units

    assert [units.ridge_point(x) for x in (0.0053224, 4.632, 500.0, 0.0)] == ["0.00532", "4.6", "500.0", "0.0"]
    a = roofline.analyze("mnv2", "s23-cpu")  # fitted ridge point about 0.005 MAC/B: compute time only
    assert f"ridge point {units.ridge_point(a.roof.ridge_point)} MAC/B" in a.assumptions()
    assert "ridge point 0.0 MAC/B" not in a.assumptions()
