"""How far to trust a number: profile status, validation blocks, bands, transfer, shipped profiles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

import roofline
from roofline.engine.band import prior_bands
from roofline.core.errors import ProfileError, RooflineError
from roofline.hardware import list_hardware, load_hardware, profile_to_yaml
from roofline.studies.measured import DEVICES
from roofline.hardware.transfer import derive

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "profile-validation"


def test_every_shipped_profile_says_where_its_number_comes_from():
    statuses = {n: load_hardware(n).status for n in list_hardware()}
    # the seven Table 6 devices and the RTX 3090 are fitted and cross-validated
    for name in [*DEVICES.values(), "rtx3090"]:
        assert statuses[name] == "fitted", name
        v = load_hardware(name).validation
        assert v.folds >= 4 and v.rows >= v.models >= 9 and v.ratio_p10 < 1 < v.ratio_p90, name
    assert statuses["nvidia-h100"] == "spec-only, unvalidated"
    assert set(statuses.values()) <= {"fitted", "spec-only, unvalidated", "measured, unvalidated",
                                      "fitted, in-sample only", "measured", "transferred"}


def test_shipped_profiles_are_the_reports_fits():
    """hardware_profiles/ and the prior bands are what `roofline reproduce profiles` wrote."""
    for f in sorted((REPORT / "profiles").glob("*.yaml")):
        shipped = load_hardware(f.stem)
        reported = load_hardware(f)
        assert shipped.fitted == reported.fitted and shipped.validation == reported.validation, f.stem
        assert shipped.overhead == reported.overhead
    committed = json.loads((REPORT / "prior_bands.json").read_text())
    assert committed == prior_bands()


def test_analyze_prints_the_band_and_how_the_profile_was_validated(cli):
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "s23-gpu")
    assert code == 0, err
    v = load_hardware("s23-gpu").validation
    a = roofline.analyze("mnv4-hybrid-l", "s23-gpu")
    lo, hi = a.latency_band_s
    assert lo == pytest.approx(a.total_latency_s * v.ratio_p10) and hi == pytest.approx(a.total_latency_s * v.ratio_p90)
    flat = " ".join(out.split())
    assert "80 %:" in flat and f"over {v.models} models" in flat and "profile fitted" in flat
    doc = a.to_dict()
    assert doc["totals"]["latency_low_s"] == pytest.approx(lo) and doc["band"]["validated"] is True


def test_a_spec_only_profile_prints_eq1_as_a_lower_bound_and_leads_with_an_estimate(cli):
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "nvidia-h100")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "spec-only, unvalidated" in flat and "Eq. 1 lower bound (spec sheet)" in flat and "estimated from" in flat
    a = roofline.analyze("mnv4-hybrid-l", "nvidia-h100")
    assert a.band is None and a.is_lower_bound  # Eq. 1 at the spec sheet has no band of its own
    e = a.estimate
    assert e.basis in ("transferred", "prior") and e.low_s <= e.seconds <= e.high_s and e.low_s < e.high_s
    assert e.seconds > a.total_latency_s  # every validated gpu ran slower than its spec sheet's Eq. 1
    doc = a.to_dict()
    assert doc["totals"]["latency_low_s"] is None and doc["totals"]["latency_is_lower_bound"] is True
    assert doc["totals"]["estimate_s"] == pytest.approx(e.seconds) and doc["estimate"]["basis"] == str(e.basis)


def test_the_prior_estimate_is_spec_eq1_times_the_kinds_median():
    from roofline.engine.band import prior
    from roofline.engine.estimate import Basis, estimate

    hw = roofline.load_hardware("pixel4-gpu")
    spec = roofline.analyze("mnv2", hw, mode="spec", overhead=False, convention="default", estimate=False)

    def reanalyze(profile, **reading):
        if reading.get("mode") is None:  # no transfer: straight to the prior
            raise roofline.RooflineError("no transfer in this test")
        return roofline.analyze("mnv2", profile, estimate=False, **reading)

    e = estimate(hw, "fp16", reanalyze)
    pr = prior("gpu")
    assert e.basis == Basis.PRIOR and e.seconds == pytest.approx(spec.total_latency_s * pr.median, rel=1e-12)
    assert (e.low_s, e.high_s) == pytest.approx((spec.total_latency_s * pr.low, spec.total_latency_s * pr.high),
                                                rel=1e-12)


def test_an_unvalidated_reading_of_a_validated_profile_leads_with_its_validated_reading():
    v = roofline.load_hardware("pixel8-edgetpu").validation
    full = roofline.analyze("mnv2", "pixel8-edgetpu")
    for a in (roofline.analyze("mnv2", "pixel8-edgetpu", mode="spec"),
              roofline.analyze("mnv2", "pixel8-edgetpu", overhead=False)):
        assert a.band is None and a.estimate.basis == "validated reading"
        assert a.estimate.seconds == pytest.approx(full.total_latency_s, rel=1e-12)
        assert (a.estimate.band.low_ratio, a.estimate.band.high_ratio) == (min(v.ratio_p10, 1), max(v.ratio_p90, 1))
    assert "this reading (unvalidated)" in roofline.analyze("mnv2", "pixel8-edgetpu", overhead=False).latency_text()


def test_a_band_holds_its_own_point():
    from roofline.engine.band import Band

    off = Band(1.05, 1.4, "a biased fit", True)  # held-out ratios all above 1: widened down to the prediction
    assert (off.low_ratio, off.high_ratio) == (1.0, 1.4) and off.around(2.0) == (2.0, 2.8)


def test_derive_transfers_terms_and_widens_the_band(cli, tmp_path):
    out = tmp_path / "new.yaml"
    code, _, err = cli("derive", "rtx4090-guess", "--like", "rtx3090", "--peak", "fp16=8.26e13", "--bw", "1.008e12",
                       "-o", str(out))
    assert code == 0, err
    p, like = load_hardware(out), load_hardware("rtx3090")
    assert p.status == "transferred" and p.kind == "gpu"
    assert p.validation.ratio_p10 < like.validation.ratio_p10 and p.validation.ratio_p90 > like.validation.ratio_p90
    # the same shares of the spec sheet: fitted peak / spec peak and fitted bandwidth / spec bandwidth carry over
    share_like = like.roof("fp16").peak_macs_per_s / like.peak_macs_per_s["fp16"].value
    assert p.roof("fp16").peak_macs_per_s / 8.26e13 == pytest.approx(share_like)
    assert p.fitted.efficiency == like.fitted.efficiency
    # family multipliers stay with the source device; the band widens the source's band without them
    assert like.fitted.family and not p.fitted.family and p.validation.new_family_ratio_p10 is None
    lv = like.validation
    assert p.validation.ratio_p10 * p.validation.ratio_p90 == pytest.approx(
        lv.new_family_ratio_p10 * lv.new_family_ratio_p90, rel=1e-3)  # the same centre (log), sqrt(2) x the width
    assert p.validation.ratio_p90 / p.validation.ratio_p10 == pytest.approx(
        (lv.new_family_ratio_p90 / lv.new_family_ratio_p10) ** math.sqrt(2), rel=1e-3)  # ratios: 4 digits in a file
    a = roofline.analyze("mnv2", out)
    assert "transferred" in a.latency_text()
    with pytest.raises(ProfileError, match="validated"):
        derive("x", "nvidia-h100", {"fp16": 1e14}, 1e12)  # spec-only: nothing to transfer


def test_validation_block_round_trips_and_is_checked(tmp_path):
    p = load_hardware("pixel8-edgetpu")
    again = load_hardware(yaml.safe_load(profile_to_yaml(p)))
    assert again.validation == p.validation and again.fitted == p.fitted
    doc = yaml.safe_load(profile_to_yaml(p))
    doc["validation"]["ratio_p10"] = 2.0  # above ratio_p90
    with pytest.raises(ProfileError, match="ratio_p10 <= ratio_p90"):
        load_hardware(doc)
    doc = yaml.safe_load(profile_to_yaml(p))
    doc["validation"]["status"] = "guessed"
    with pytest.raises(ProfileError, match="validation.status must be one of"):
        load_hardware(doc)
    doc = yaml.safe_load(profile_to_yaml(p))
    doc["fitted"]["efficiency"] = {"dwconv": 1e-9}
    with pytest.raises(ProfileError, match="fitted.efficiency.dwconv"):
        load_hardware(doc)
    doc["fitted"]["efficiency"] = {"depthwise": 0.5}
    with pytest.raises(ProfileError, match="unknown op class 'depthwise'"):
        load_hardware(doc)


def _efficiency_profile() -> dict:
    return {"name": "eff", "kind": "npu", "default_dtype": "int8", "peak_macs_per_s": {"int8": 2e12},
            "mem_bw_bytes_per_s": 2e10,
            "fitted": {"dtype": "int8", "ridge_point_macs_per_byte": 100.0, "mem_bw_bytes_per_s": 2e10,
                       "efficiency": {"dwconv": 0.25, "elementwise": 0.5}}}


def test_efficiency_factors_divide_each_layers_roofline_time():
    prof = _efficiency_profile()
    plain = roofline.analyze("mnv2", {**prof, "fitted": {**prof["fitted"], "efficiency": {}}}, overhead=False)
    eff = roofline.analyze("mnv2", prof, overhead=False)
    ratio = (eff.layers["latency_s"] / plain.layers["latency_s"]).to_numpy()
    dw = (eff.layers["op"] == "dwconv2d").to_numpy()
    add = (eff.layers["op"] == "add").to_numpy()
    assert dw.any() and add.any()
    assert ratio[dw] == pytest.approx(4.0) and ratio[add] == pytest.approx(2.0)  # 1 / 0.25 and 1 / 0.5
    assert ratio[~dw & ~add] == pytest.approx(1.0)


def test_sweep_at_the_profiles_ridge_point_equals_analyze_with_efficiency_factors():
    from roofline.studies.sweep import sweep

    prof = _efficiency_profile()
    df = sweep(["mnv2"], [100.0, 300.0], hw=prof)
    a = roofline.analyze("mnv2", prof)
    assert df["latency_s"].iloc[0] == pytest.approx(a.total_latency_s, rel=1e-12)


def test_sweep_band_only_at_the_profiles_own_ridge_point():
    from roofline.studies.sweep import sweep

    p = load_hardware("pixel8-edgetpu")
    rp = p.roof().ridge_point
    df = sweep(["mnv2"], [rp, 50.0], hw="pixel8-edgetpu")
    a = roofline.analyze("mnv2", "pixel8-edgetpu")
    assert df["latency_low_s"].iloc[0] == pytest.approx(a.latency_band_s[0], rel=1e-9)
    assert df["latency_low_s"].isna().iloc[1]


def test_fit_refuses_forcing_more_terms_than_the_models_support(tmp_path, cli):
    csv = tmp_path / "m.csv"
    csv.write_text("model,ms\nmnv2,5\nmnv1,6\nmnv3-l,4\nmnv4-conv-s,2.4\n")
    code, _, err = cli("fit", str(csv), "--terms", "kernel,inference")
    assert code == 2 and "needs measurements of more models than 4" in err
    code, _, err = cli("fit", str(csv), "--terms", "dwconv,bogus")
    assert code == 2 and "unknown term 'bogus'" in err


def test_report_page_shows_the_band(tmp_path):
    from roofline.present.report import html_report

    page, analyses = html_report("mnv2", ["s23-gpu", "nvidia-h100"])
    assert "80 % band" in page and "spec-only, unvalidated" in page
    with pytest.raises(RooflineError):
        html_report("mnv2", [])


@pytest.mark.slow
def test_validate_report_states_the_bytes_per_element_it_used(cli, tmp_path):
    """An int8 profile's validation report says 1 B/element, as the engine used (not the fp16 default)."""
    code, out, err = cli("validate", "mnv3-s", "--hw", "pixel6-cpu", "--runs", "1", "-o", str(tmp_path / "v"),
                         "--format", "csv")
    assert code == 0, err
    text = (tmp_path / "v" / "README.md").read_text()
    assert "weights 1 B/element, activations 1 B/element" in text and "2 B/element" not in text
    rows = out.strip().splitlines()  # --format csv: a header and one row per model, on stdout
    assert len(rows) == 2 and rows[1].startswith("mnv3-s,") and "predicted" in rows[0]


def test_analyze_compares_several_profiles_in_one_table(cli):
    code, out, err = cli("analyze", "mnv2", "--hw", "pixel8-edgetpu", "--hw", "s23-gpu", "--format", "json")
    assert code == 0, err
    docs = json.loads(out)
    assert [d["hardware"] for d in docs] == ["pixel8-edgetpu", "s23-gpu"]
    for d in docs:
        a = roofline.analyze("mnv2", d["hardware"])
        assert d["totals"]["latency_s"] == pytest.approx(a.total_latency_s)
    code, out, err = cli("analyze", "mnv2", "--hw", "pixel8-edgetpu", "--hw", "nvidia-h100")
    assert code == 0 and "pixel8-edgetpu" in out and "nvidia-h100" in out and "80 % band" in out, err
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel8-edgetpu", "--hw", "s23-gpu", "--all")
    assert code == 2 and "take one profile" in err


def _family_profile() -> dict:
    doc = yaml.safe_load(profile_to_yaml(load_hardware("pixel8-edgetpu")))
    doc["name"] = "fam"
    doc["fitted"]["family"] = {"mnv4": 2.0}
    doc["validation"]["ratio_p10"], doc["validation"]["ratio_p90"] = 0.9, 1.1
    doc["validation"]["new_family_ratio_p10"], doc["validation"]["new_family_ratio_p90"] = 0.5, 2.0
    return doc


def test_family_multiplier_scales_its_familys_prediction_and_widens_other_bands():
    doc = _family_profile()
    plain = {**doc, "fitted": {k: v for k, v in doc["fitted"].items() if k != "family"}}
    a, b = roofline.analyze("mnv4-conv-s", doc), roofline.analyze("mnv4-conv-s", plain)
    assert a.family == ("mnv4", 2.0)
    assert a.total_latency_s == pytest.approx(2.0 * b.total_latency_s, rel=1e-12)
    assert (a.band.low_ratio, a.band.high_ratio) == (0.9, 1.1)  # its family was in the fit
    assert "family multiplier: x2" in a.assumptions()
    assert a.to_dict()["family_multiplier"] == {"family": "mnv4", "multiplier": 2.0}
    c = roofline.analyze("mnv2", doc)  # a family the fit had no multiplier for: unchanged, wider band
    assert c.family is None
    assert c.total_latency_s == pytest.approx(roofline.analyze("mnv2", plain).total_latency_s, rel=1e-12)
    assert (c.band.low_ratio, c.band.high_ratio) == (0.5, 2.0)
    assert "a family the fit did not see" in c.band.label
    assert roofline.analyze("mnv4-conv-s", doc, mode="spec").family is None  # spec reading: no fit terms
    again = load_hardware(yaml.safe_load(profile_to_yaml(load_hardware(doc))))
    assert again.fitted.family == {"mnv4": 2.0} and again.validation.new_family_ratio_p90 == 2.0


def test_family_multipliers_and_their_band_are_checked():
    doc = _family_profile()
    doc["fitted"]["family"] = {"mnv4": 1e-9}
    with pytest.raises(ProfileError, match="fitted.family.mnv4"):
        load_hardware(doc)
    doc = _family_profile()
    del doc["validation"]["new_family_ratio_p90"]
    with pytest.raises(ProfileError, match="new_family_ratio_p10 and new_family_ratio_p90"):
        load_hardware(doc)


def test_reproduce_without_timm_refuses_to_replace_a_full_report(cli, tmp_path, monkeypatch):
    import roofline.studies.reproduce as rep

    monkeypatch.setattr(rep, "timm_available", lambda: False)
    out = tmp_path / "paper"
    out.mkdir()
    full = "device,set,models\npixel6-cpu,zoo,9\npixel6-cpu,table6,19\n"
    (out / "table16.csv").write_text(full)
    code, _, err = cli("reproduce", "mnv4", "-o", str(out))
    assert code == 2 and "full Table 6 model set" in err and "roofline[timm]" in err
    assert (out / "table16.csv").read_text() == full  # untouched
    code, _, err = cli("reproduce", "profiles", "-o", str(tmp_path / "p"))
    assert code == 2 and "needs the timm extra" in err and not (tmp_path / "p").exists()


@pytest.mark.slow
def test_validate_table_gives_errors_in_percent(cli):
    code, out, err = cli("validate", "mnv3-s", "--hw", "pixel6-cpu", "--runs", "1")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "model" in line and "MACs" in line)
    assert "error (%)" in header and "spread (%)" in header
    row = next(line for line in out.splitlines() if line.strip().startswith("mnv3-s"))
    assert "56.5 M" in row  # mnv3-s: 56,510,400 MACs
    error_pct = float(row.split()[-1])
    assert abs(error_pct) > 1.5  # percent, not a fraction: the phone profile is far off this machine


def test_report_takes_every_model_source_and_option_analyze_takes(cli, tmp_path):
    (tmp_path / "net.py").write_text("import torch\n\ndef f():\n    return torch.nn.Conv2d(3, 8, 3)\n")
    page = tmp_path / "r.html"
    code, _, err = cli("report", "--model", f"{tmp_path}/net.py:f", "--input-shape", "1,3,32,32",
                       "--hw", "coral-usb", "--no-overhead", "--on-chip", "-o", str(page))
    assert code == 0, err
    text = page.read_text()
    assert "Conv2d" in text and "1x3x32x32" in text
    assert "on-chip weight caching on" in text and "overhead terms: none" in text
    a = roofline.analyze(roofline.trace(torch.nn.Conv2d(3, 8, 3), (1, 3, 32, 32)), "coral-usb",
                         overhead=False, on_chip=True)
    assert a.latency_text().split(" (")[0] in text  # the page's number is analyze's with the same options
    code, _, err = cli("report", "--hw", "pixel8-edgetpu", "-o", str(tmp_path / "x.html"))
    assert code == 2 and "missing MODEL" in err


def test_eq1_alone_leaves_the_family_multiplier_out():
    doc = _family_profile()
    a = roofline.analyze("mnv4-conv-s", doc, overhead=False)
    assert a.family is None and "Eq. 1 alone" in a.assumptions()
    assert a.total_latency_s == pytest.approx(roofline.analyze("mnv4-conv-s", doc).roofline_latency_s, rel=1e-12)


def test_the_headline_says_how_the_total_is_made_with_a_family_multiplier(cli):
    a = roofline.analyze("mnv4-hybrid-l", "pixel8-edgetpu")
    g = a.family[1]
    assert a.total_latency_s == pytest.approx(g * (a.roofline_latency_s + a.overhead_s), rel=1e-12)
    assert a.breakdown().endswith(f", all x{g:.3g} for the mobilenetv4 family")
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu")
    assert code == 0 and f"all x{g:.3g} for the mobilenetv4 family" in " ".join(out.split())
    assert f"all x{g:.3g} for the mobilenetv4 family" in a._repr_html_()


def test_repeated_profile_runs_give_a_ratio_or_a_range_where_a_term_fitted_at_zero():
    from roofline.present.validate_report import _profile_runs_md

    text = _profile_runs_md([{"profile": "a.yaml", "peak_macs_per_s": 4e11, "eager_per_kernel_s": 0.0},
                             {"profile": "b.yaml", "peak_macs_per_s": 5e11, "eager_per_kernel_s": 1.676e-06}])
    # 5e11 / 4e11 - 1 = 25 %; a term one run fitted at 0 has no ratio: its range instead of inf %
    assert "Largest difference between runs: peak_macs_per_s 25.0%, eager_per_kernel_s 0 to 1.676e-06." in text
