"""Bounded, identifiable fits (issue 30, item 2) and the honest, nested accuracy figure (item 3)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from roofline.core.checks import MAC_RATE
from roofline.core.errors import ProfileError
from roofline.fit.selection import group_folds, select
from roofline.fit.table_fit import fit_designs, measurement_designs
from roofline.fit.terms import Bounds, Params, fit_params
from roofline.hardware import load_hardware, profile_to_yaml
from roofline.studies.measured import table6

from conftest import FIT_ZOO
from conftest import zoo_design as _zoo_design

EXACT = Params({"int8": 2e12}, 2e10)  # a plain roofline: its latencies are fitted exactly


def _rows(pairs: list[tuple[str, float]]) -> pd.DataFrame:
    """Measurement rows (as read_measurements gives) of (model, ms) at native resolution, batch 1, int8."""
    return pd.DataFrame({"model": [m for m, _ in pairs], "resolution": None, "batch": 1, "dtype": "int8",
                         "width": None, "latency_s": [ms / 1e3 for _, ms in pairs], "line": range(2, len(pairs) + 2)})


def _pixel8_zoo() -> list[tuple[str, float]]:
    t = table6(full=False)
    return list(zip(t["model"], t["pixel8_edgetpu"].astype(float)))


def test_peak_and_bandwidth_bounds_are_multiples_of_the_spec_sheet():
    b = Bounds({"int8": 2e12}, 5e10)
    assert b.peak("int8")[:2] == pytest.approx((2e10, 2e13))      # 0.01x to 10x the spec peak
    assert b.bandwidth()[:2] == pytest.approx((5e8, 5e12))        # 0.01x to 100x the spec bandwidth
    assert b.peak("fp16")[:2] == MAC_RATE                         # no spec peak for fp16: the loader's range
    assert Bounds().bandwidth()[:2] == (1e6, 1e17)


def test_pixel8_less_one_model_no_longer_degenerates_and_loads():
    """The paper's Pixel 8 EdgeTPU rows less mnv4-conv-m: unbounded, kernel + inference + reduction trade the
    peak against the half-length to the edge (1e17 MAC/s, h = 1e5) and the loader refuses the profile (ridge
    point above 1e6 MAC/B). Bounded by the spec sheet and checked, the fit keeps a sound term set that loads."""
    pairs = [r for r in _pixel8_zoo() if r[0] != "mnv4-conv-m"]
    traced = measurement_designs(_rows(pairs), "default", "fused")
    d = traced[1]["default"]
    free = fit_params(d, ("kernel", "inference", "reduction"))
    assert free.peak_macs_per_s["int8"] == pytest.approx(1e17) and free.reduction_half == pytest.approx(1e5)
    base = load_hardware("pixel8-edgetpu")
    f = fit_designs(*traced, base=base, outer_folds=0)
    spec = base.peak_macs_per_s["int8"].value
    assert f.params.at_bound == () and not f.note
    assert 0.01 * spec < f.params.peak_macs_per_s["int8"] < 10 * spec
    chosen = f.candidates[f.candidates["chosen"]].iloc[0]
    assert chosen["dropped"] == "" and chosen["score"] == f.candidates.loc[f.candidates["dropped"] == "", "score"].min()
    p = f.profile("p8", "npu", base)
    assert load_hardware(yaml.safe_load(profile_to_yaml(p))).fitted.ridge_point_macs_per_byte < 1e6
    # forced to the degenerate set without a spec sheet, it is dropped (the loader refuses it): the plain roofline
    g = fit_designs(*traced, terms=["kernel", "inference", "reduction"], outer_folds=0)
    assert g.params.terms == () and "every candidate term set was dropped" in g.note
    row = g.candidates[g.candidates["terms"] == "kernel, inference, reduction"].iloc[0]
    assert row["dropped"].startswith("fit on every row: the profile loader refuses it") and not row["chosen"]
    g.profile("p8", "npu")  # loads


@pytest.mark.slow
def test_pixel8_less_one_outer_fold_keeps_a_sound_fit():
    """The issue's case itself: the full Table 6 Pixel 8 rows (zoo and timm) less outer fold 1 of
    reports/profile-validation's split, fitted with --convention auto against the Pixel 8 spec sheet."""
    pytest.importorskip("timm")
    from roofline.studies.profile_report import table6_datasets

    ds = next(x for x in table6_datasets() if x.profile == "pixel8-edgetpu")
    kept, designs, execution, dropped = measurement_designs(ds.rows, "auto", ds.execution)
    d0 = designs["default"]
    train = np.setdiff1d(np.arange(d0.n_rows), group_folds(d0.groups, 4, seed=1)[0])
    assert len(set(d0.groups[train])) == 14
    base = load_hardware("pixel8-edgetpu")
    f = fit_designs(kept.iloc[train].reset_index(drop=True), {c: d.subset(train) for c, d in designs.items()},
                    execution, dropped, base=base, outer_folds=0)
    assert f.params.at_bound == ()
    assert f.params.peak_macs_per_s["int8"] < 10 * base.peak_macs_per_s["int8"].value
    f.profile("p8", "npu", base)


def test_a_typo_row_is_named_before_the_report(cli, tmp_path):
    """mnv3-s measured 1000 ms among Pixel 8 rows of about 1 ms: named first, with what was measured and
    predicted; its band would then not load, and the refusal names the row."""
    csv = tmp_path / "typo.csv"
    csv.write_text("model,ms\n" + "".join(f"{m},{v}\n" for m, v in _pixel8_zoo()) + "mnv3-s,1000\n")
    code, out, err = cli("fit", str(csv), "--outer-folds", "0", "-o", str(tmp_path / "t.yaml"))
    lines = out.splitlines()
    assert lines[0].startswith("1 row the fit cannot explain by 10x or more")
    assert lines[1].startswith("  mnv3-s (native resolution, batch 1): measured 1 s, predicted ")
    assert "criterion" in out and "chosen by the criterion:" in out  # what it selects by, beside the medians
    assert code == 2 and "mnv3-s (measured 1 s" in err and not (tmp_path / "t.yaml").exists()


def test_the_unexplained_rows_are_on_the_fit():
    pairs = _pixel8_zoo() + [("mnv3-s", 1000.0)]
    f = fit_designs(*measurement_designs(_rows(pairs), "default", "fused"), terms=["kernel", "inference"],
                    outer_folds=0)
    u = f.unexplained
    assert list(u["model"]) == ["mnv3-s"] and u["measured_s"].iloc[0] == 1.0
    assert u["predicted_s"].iloc[0] < 0.01  # a few ms: what its layers explain


def test_a_candidate_at_a_bound_is_dropped_with_its_reason():
    """Latencies of a 2e12 MAC/s device fitted against a spec sheet of 1e11 (peak at most 1e12): every term
    set ends with its peak at the bound; none is chosen but the plain roofline, and each says why."""
    d = _zoo_design([(m, 224) for m in FIT_ZOO[:8]], EXACT)
    s = select(d, bounds=Bounds({"int8": 1e11}))
    t = s.cv_results_
    assert (t["dropped"].str.contains(r"peak int8 \(MAC/s\) = 1e\+12 at its upper bound \(0.01-10x the spec "
                                      r"sheet's 1e\+11 MAC/s\)")).all()
    assert s.params_.terms == () and t.loc[t["chosen"], "terms"].tolist() == ["(roofline only)"]
    assert s.note.startswith("every candidate term set was dropped")


def test_a_candidate_the_loader_refuses_is_never_chosen():
    d = _zoo_design([(m, 224) for m in FIT_ZOO[:8]], EXACT, noise=0.05)
    s = select(d, admit=lambda conv, p: "refused for the test" if "kernel" in p.terms else None)
    t = s.cv_results_
    assert "kernel" not in s.params_.terms and not s.note
    better = t[t["score"] < t.loc[t["chosen"], "score"].iloc[0]]
    assert len(better) and (better["dropped"] == "fit on every row: refused for the test").all()


def test_nested_check_on_a_small_table():
    """Exact plain-roofline latencies of 12 zoo models, one of them (mnv2) measured 2x slow, the plain roofline
    forced. The outer fold that holds mnv2 out is fitted on exact rows: it recovers the roofline and predicts
    mnv2 at half its measurement (error 50 %, the worst), outside its band; the outer split is 4 folds, seed 1."""
    d = _zoo_design([(m, None) for m in FIT_ZOO], EXACT)
    pairs = [(m, t * 1e3 * (2.0 if m == "mnv2" else 1.0)) for m, t in zip(FIT_ZOO, d.measured_s)]
    traced = measurement_designs(_rows(pairs), "default", "fused")
    f = fit_designs(*traced, terms=[], outer_folds=4)
    n, o = f.nested, f.nested.outer
    assert n.folds == 4 and len(o) == 12
    row = o[o["model"] == "mnv2"].iloc[0]
    assert row["predicted_s"] / row["measured_s"] == pytest.approx(0.5, rel=1e-6) and not row["inside_band"]
    s = n.summary()
    assert s["worst"] == pytest.approx(0.5, rel=1e-6) and s["median"] < 0.05
    outer = group_folds(traced[1]["default"].groups, 4, seed=1)
    held = next(h for h in outer if "mnv2" in set(traced[1]["default"].groups[h]))
    others = [i for i in held if o["model"].iloc[i] != "mnv2"]  # held out beside mnv2: predicted exactly
    assert np.allclose(o["predicted_s"].iloc[others], o["measured_s"].iloc[others], rtol=1e-6)
    v = f.validation()
    assert (v.nested_folds, v.nested_heldout_worst_error) == (4, pytest.approx(0.5, rel=1e-6))
    assert v.nested_band_coverage == pytest.approx(o["inside_band"].mean()) and v.headline()[1] == "nested"


def test_nested_check_is_on_by_default_from_12_models():
    d = _zoo_design([(m, None) for m in FIT_ZOO], EXACT, noise=0.05)
    pairs = [(m, t * 1e3) for m, t in zip(FIT_ZOO, d.measured_s)]
    traced = measurement_designs(_rows(pairs), "default", "fused")
    assert fit_designs(*traced, terms=[]).nested.folds == 4
    few = measurement_designs(_rows(pairs[:11]), "default", "fused")
    assert fit_designs(*few, terms=[]).nested is None


def _profile_dict(**nested) -> dict:
    p = load_hardware("pixel8-edgetpu")
    v = dataclasses.replace(p.validation, **nested)
    return yaml.safe_load(profile_to_yaml(dataclasses.replace(p, validation=v)))


def test_the_nested_keys_round_trip_and_old_files_still_load():
    keys = dict(nested_heldout_median_error=0.118, nested_heldout_worst_error=0.41, nested_spearman=0.93,
                nested_band_coverage=0.79, nested_folds=4)
    raw = _profile_dict(**keys)
    assert {k: raw["validation"][k] for k in keys} == keys
    v = load_hardware(raw).validation
    assert {k: getattr(v, k) for k in keys} == keys and v.headline() == (0.118, "nested")
    for k in keys:  # a file written before the nested check
        raw["validation"].pop(k)
    old = load_hardware(raw).validation
    assert old.nested_heldout_median_error is None and old.headline() == (old.heldout_median_error, "held out")


@pytest.mark.parametrize(("patch", "message"), [
    ({"nested_folds": 99}, "nested_folds = 99 is more than validation.models"),
    ({"nested_folds": 2.5}, "validation.nested_folds must be a positive integer"),
    ({"nested_band_coverage": 1.5}, "validation.nested_band_coverage must be a number from 0 to 1"),
    ({"nested_spearman": 2}, "validation.nested_spearman must be a correlation"),
    ({"nested_heldout_median_error": 0.5, "nested_heldout_worst_error": 0.2}, "nested_heldout_median_error is above"),
])
def test_bad_nested_keys_are_refused(patch, message):
    raw = _profile_dict()
    raw["validation"].update(patch)
    with pytest.raises(ProfileError, match=message):
        load_hardware(raw)


def test_hw_shows_the_nested_figure_first(cli, tmp_path):
    path = tmp_path / "p8.yaml"
    path.write_text(yaml.safe_dump(_profile_dict(nested_heldout_median_error=0.118, nested_heldout_worst_error=0.41,
                                                 nested_spearman=0.93, nested_band_coverage=0.79, nested_folds=4)))
    code, out, err = cli("hw", str(path))
    assert code == 0, err
    assert ("nested check (4 outer folds, each training part running the whole selection; the honest figure): "
            "median error 11.8%, worst 41.0%, Spearman 0.930, 80 % band coverage 79%") in out
    assert out.index("\n  nested check") < out.index("\n  held-out median error")
    assert "(the selection's own folds: optimistic)" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, _ = cli("hw")
    assert code == 0 and ("held out)" in out or "nested)" in out)


def test_outer_folds_of_one_is_refused_before_any_trace(cli, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("model,ms\nmnv1,1\nmnv2,1\nmnv3-s,1\n")
    code, _, err = cli("fit", str(csv), "--outer-folds", "1")
    assert code == 2 and "--outer-folds must be 0 (no nested check) or at least 2, got 1" in err
