"""Fitting tables of measurements: columns, known terms recovered, grouped folds, bands, the cache."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import roofline
from roofline.core.conventions import get_convention
from roofline.core.errors import CacheWarning, RooflineError
from roofline.fit.selection import conformal_band, cross_validate, group_folds, select
from roofline.fit.measurements import Columns, read_measurements
from roofline.fit.terms import Params, build_design, fit_params, predict
from roofline.trace.cache import TraceRequest, cache_key, trace_many, trace_request

from conftest import FIT_ZOO as ZOO
from conftest import zoo_design as _zoo_design



def test_columns_throughput_resolution_batch_and_blank_cells(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("# a comment line\n"
                 "net,img,bs,samples_per_s,dtype\n"
                 "mnv2,160,4,2000,\n"          # 4 samples / 2000 per s = 2 ms
                 "mobilenet_v2,,,500,fp16\n"   # alias; native resolution, batch 1: 1 / 500 s = 2 ms
                 "timm:resnet18,224,1024,3000,\n")
    df = read_measurements(f, Columns(model="net", throughput="samples_per_s", resolution="img", batch="bs"),
                           dtype="int8")
    assert list(df["model"]) == ["mnv2", "mnv2", "timm:resnet18"]
    assert df["resolution"].tolist() == [160, None, 224]
    assert df["batch"].tolist() == [4, 1, 1024]
    assert df["dtype"].tolist() == ["int8", "fp16", "int8"]
    assert df["latency_s"].tolist() == pytest.approx([4 / 2000, 1 / 500, 1024 / 3000])
    assert df["line"].tolist() == [3, 4, 5]  # file lines, the comment and header skipped


def test_columns_ms_and_width_and_bare_library_names(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("model,ms,width\nresnet18,3.5,\nmnv2,1.25,1.5\n")
    df = read_measurements(f, source="timm")
    assert df["model"].tolist() == ["timm:resnet18", "timm:mnv2"]  # bare names from --source timm
    with pytest.raises(RooflineError, match="line 2: unknown model 'resnet18'"):
        read_measurements(f)
    f.write_text("model,ms,width\nmnv2,3.5,\nmnv2,1.25,1.5\n")
    df = read_measurements(f)
    assert df["width"].tolist() == [None, 1.5] and df["latency_s"].tolist() == pytest.approx([3.5e-3, 1.25e-3])


@pytest.mark.parametrize(("text", "message"), [
    ("model,ms\nmnv2,5\nmnv2,6\n", "lines 2 and 3 both measure mnv2 at native"),
    ("model,ms,resolution\nmnv2,5,224\nmnv2,6,160\nmnv2,7,224\n", "lines 2 and 4 both measure mnv2 at 224 px"),
    ("model,ms,resolution\nmnv2,5,22.5\n", "resolution must be a whole number"),
    ("model,ms,dtype\nmnv2,5,int4\n", "dtype 'int4' is not one of"),
    ("model,ms,width\nmnv2,5,1e-300\n", "width 1e-300 is outside 1/64 to 4"),
    ("model,ms\n,5\n", "the model cell is empty"),
])
def test_table_refusals_name_the_line(tmp_path, text, message):
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(RooflineError, match=message):
        read_measurements(f)


def test_compressed_suffix_is_read_as_plain_text(tmp_path):
    f = tmp_path / "t.zip"  # pandas would guess a zip archive from the name
    f.write_text("model,ms\nmnv2,5\n")
    assert read_measurements(f)["model"].tolist() == ["mnv2"]


TRUE = Params({"int8": 2e12}, 2e10, per_kernel_s=20e-6, per_inference_s=0.3e-3,
              efficiency={"dwconv": 0.25}, terms=("kernel", "inference", "dwconv"))


def test_known_terms_are_recovered_from_synthetic_latencies():
    rows = [(m, r) for m in ZOO for r in (160, 224)]
    d = _zoo_design(rows, TRUE)
    p = fit_params(d, TRUE.terms)
    assert p.peak_macs_per_s["int8"] == pytest.approx(2e12, rel=0.05)
    assert p.mem_bw_bytes_per_s == pytest.approx(2e10, rel=0.05)
    assert p.per_kernel_s == pytest.approx(20e-6, rel=0.05)
    assert p.per_inference_s == pytest.approx(0.3e-3, rel=0.1)
    assert p.efficiency["dwconv"] == pytest.approx(0.25, rel=0.05)  # shrinkage toward 1 is small here
    assert np.max(np.abs(predict(d, p) / d.measured_s - 1)) < 0.02


def test_a_class_the_data_do_not_need_stays_near_one():
    rows = [(m, r) for m in ZOO for r in (160, 224)]
    d = _zoo_design(rows, Params({"int8": 2e12}, 2e10))
    p = fit_params(d, ("dwconv", "elementwise"))
    assert p.efficiency["dwconv"] == pytest.approx(1.0, abs=0.02)
    assert p.efficiency["elementwise"] == pytest.approx(1.0, abs=0.02)


def test_no_model_is_split_across_folds():
    rng = np.random.default_rng(3)
    groups = rng.choice([f"m{i}" for i in range(23)], size=120)
    folds = group_folds(groups, 4)
    assert len(folds) == 4
    assert sorted(np.concatenate(folds).tolist()) == list(range(120))  # a partition of the rows
    for g in set(groups):
        holding = [i for i, f in enumerate(folds) if g in set(groups[f])]
        assert len(holding) == 1, g
    assert len(group_folds(groups[:10], 0)) == len(set(groups[:10]))  # 0: leave-one-model-out


def test_cross_validation_holds_out_whole_models():
    rows = [(m, r) for m in ZOO[:6] for r in (160, 192, 224)]
    d = _zoo_design(rows, TRUE)
    folds = group_folds(d.groups, 3)
    cv = cross_validate(d, ("kernel",), folds)
    # the same model at three resolutions is always predicted by a fit that saw none of them
    for f in folds:
        train_models = set(d.groups[np.setdiff1d(np.arange(d.n_rows), f)])
        assert not train_models & set(d.groups[f])
    assert np.all(np.isfinite(cv.heldout_s))


def test_conformal_band_quantiles():
    r = np.arange(1, 20) / 10.0  # 19 ratios: floor(0.1 * 20) = 2nd and ceil(0.9 * 20) = 18th smallest
    assert conformal_band(r) == (0.2, 1.8)
    assert conformal_band(np.array([0.9, 1.1, 1.0])) == (0.9, 1.1)  # too few: the extremes


def test_band_coverage_on_synthetic_data():
    """Noisy synthetic measurements (log-normal, sigma 0.1): the 80 % band of a fit on one set covers
    about 80 % of a second, independent set of the same models."""
    rows = [(m, r) for m in ZOO for r in (128, 160, 192, 224)]
    train = _zoo_design(rows, TRUE, noise=0.1, seed=1)
    test = _zoo_design(rows, TRUE, noise=0.1, seed=2)
    s = select(train, ("kernel", "inference", "dwconv"))
    p, cv = s.params_, s.cv_
    lo, hi = conformal_band(train.measured_s / cv.heldout_s)
    pred = predict(test, p)
    covered = np.mean((test.measured_s >= pred * lo) & (test.measured_s <= pred * hi))
    assert 0.65 <= covered <= 0.95, covered


def test_selection_prefers_the_simpler_model_on_plain_roofline_data():
    rows = [(m, r) for m in ZOO for r in (160, 224)]
    d = _zoo_design(rows, Params({"int8": 1e12}, 1e10), noise=0.02)
    s = select(d)
    conv, p, cv, table = s.convention, s.params_, s.cv_, s.cv_results_
    assert table["chosen"].sum() == 1
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["heldout_median_error"] < 0.05
    assert all(abs(np.log(v)) < 0.2 for v in p.efficiency.values())


def test_corrupt_cache_entry_is_ignored(tmp_path):
    req = TraceRequest("mnv2", 160)
    t1 = trace_many([req], use_cache=True)  # writes the entry under ROOFLINE_CACHE_DIR (conftest: tmp)
    from roofline.trace.cache import cache_dir

    entry = cache_dir() / f"{cache_key(req)}.npz"
    assert entry.is_file()
    t2 = trace_request(req)
    assert t2.layers.equals(t1[0].layers) and t2.macs == t1[0].macs
    entry.write_bytes(b"not an npz file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t3 = trace_request(req)
    assert any(issubclass(w.category, CacheWarning) and "unreadable" in str(w.message) for w in caught)
    assert t3.macs == t1[0].macs  # traced again
    assert entry.read_bytes()[:2] == b"PK"  # and the entry rewritten as a valid archive


def test_unwritable_cache_is_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(blocker / "sub"))  # a folder under a file: cannot exist
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = trace_request(TraceRequest("mnv2", 128))
    assert t.macs > 0 and any(issubclass(w.category, CacheWarning) for w in caught)


def test_fit_cli_on_a_table_with_resolutions_and_batches(cli, tmp_path):
    rows = [(m, r, b) for m in ZOO[:8] for r, b in ((160, 1), (224, 4))]
    tables = [roofline.trace(m, resolution=r, batch=b) for m, r, b in rows]
    d = build_design(tables, ["int8"] * len(rows), np.ones(len(rows)), [m for m, _, _ in rows],
                     get_convention("default"), "fused")
    t = predict(d, TRUE)
    csv = tmp_path / "m.csv"
    pd.DataFrame({"model": [m for m, _, _ in rows], "resolution": [r for _, r, _ in rows],
                  "batch": [b for _, _, b in rows], "ms": t * 1e3}).to_csv(csv, index=False)
    code, out, err = cli("fit", str(csv), "--terms", "kernel,inference,dwconv", "-o", str(tmp_path / "p.yaml"))
    assert code == 0, err
    assert "depthwise conv: 0.2" in out and "per kernel: 20" in out  # 0.25 and 20 µs, recovered
    p = roofline.load_hardware(tmp_path / "p.yaml")
    assert p.fitted.efficiency["dwconv"] == pytest.approx(0.25, rel=0.05)
    # the fitted profile predicts a row through analyze as the fit did
    a = roofline.analyze("mnv2", tmp_path / "p.yaml", resolution=224, batch=4)
    assert a.total_latency_s == pytest.approx(float(t[rows.index(("mnv2", 224, 4))]), rel=0.03)


def test_eq1_fit_recovers_a_known_roofline():
    """The paper reproduction's Eq. 1 fit (least squares on log latency) returns the ridge point and
    bandwidth that generated exact latencies; a change of its objective or search shows here."""
    from roofline.fit.table_fit import fit_roofline, latency_sums, model_costs

    costs = model_costs([roofline.trace(m) for m in ZOO], "mnv4-paper", "int8")
    t = latency_sums(costs, np.array([37.0]))[0] / 3e10  # RP 37 MAC/B, 30 GB/s
    f = fit_roofline(costs, t, ZOO)
    assert f.ridge_point_macs_per_byte == pytest.approx(37.0, rel=2e-3)
    assert f.mem_bw_bytes_per_s == pytest.approx(3e10, rel=2e-3) and f.median_rel_error < 1e-3


def test_a_model_file_row_is_traced_and_fitted(tmp_path, cli):
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef small():\n    return nn.Sequential("
                                      "nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3))\n")
    csv = tmp_path / "m.csv"
    csv.write_text(f"model,ms,resolution\nmnv2,5,\nmnv1,6,\nmnv3-s,2,\n{tmp_path}/nets.py:small,0.8,64\n")
    rows = read_measurements(csv)
    assert rows["model"].tolist()[-1] == f"{tmp_path}/nets.py:small" and rows["resolution"].tolist()[-1] == 64
    code, out, err = cli("fit", str(csv), "--terms", "none")
    assert code == 0 and "fitted 4 rows of 4 models (0 dropped)" in out, err


def test_a_rows_family_is_its_architecture():  # more in tests/test_families.py
    from roofline.zoo.families import model_family

    assert model_family("mnv4-conv-m") == model_family("mnv4-hybrid-l") == "mobilenetv4"
    assert model_family("mnv2-1.5x") == "mobilenetv2"


def test_a_family_multiplier_is_recovered_and_predicts_a_held_out_member():
    """Synthetic latencies where the device runs every mnv4 model 3x slower than its layers say: the
    family term finds x3 from the mnv4 models it sees and applies it to one it did not see."""
    true = Params({"int8": 2e12}, 2e10, per_kernel_s=20e-6, terms=("kernel", "family"), family={"mobilenetv4": 3.0})
    rows = [(m, r) for m in ZOO for r in (160, 224)]
    d = _zoo_design(rows, true, noise=0.02)
    assert d.families() == ("mobilenetv1", "mobilenetv2", "mobilenetv3", "mobilenetv4")
    held = np.flatnonzero(d.groups == "mnv4-conv-l")
    train = np.setdiff1d(np.arange(d.n_rows), held)
    p = fit_params(d.subset(train), ("kernel", "family"))
    # multipliers are centred: their geometric mean is 1 (the base time terms carry it)
    others = np.exp(np.mean([np.log(p.family[f]) for f in ("mobilenetv1", "mobilenetv2", "mobilenetv3")]))
    assert p.family["mobilenetv4"] / others == pytest.approx(3.0, rel=0.1)
    assert all(abs(np.log(p.family[f] / others)) < 0.1 for f in ("mobilenetv1", "mobilenetv2", "mobilenetv3"))
    ratio = predict(d.subset(held), p) / d.measured_s[held]
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    plain = fit_params(d.subset(train), ("kernel",))  # without it the held-out member is ~3x off
    assert np.all(predict(d.subset(held), plain) / d.measured_s[held] < 0.6)
    # cross-validation keeps a second set of held-out predictions without the multipliers
    cv = cross_validate(d, ("kernel", "family"), group_folds(d.groups, 4))
    mnv4 = np.array([g.startswith("mnv4") for g in d.groups])
    assert np.median(np.abs(cv.heldout_s[mnv4] / d.measured_s[mnv4] - 1)) < 0.1
    assert np.median(cv.heldout_plain_s[mnv4] / d.measured_s[mnv4]) < 0.6


def test_selection_tries_the_family_term_only_beside_other_families():
    from roofline.fit.selection import candidates

    rows = [(m, 224) for m in ZOO]
    d = _zoo_design(rows, TRUE)
    assert any("family" in c for c in candidates(d))
    only_mnv2 = _zoo_design([("mnv2", 224), ("mnv2-0.5x", 224), ("mnv2-1.5x", 224), ("mnv2-2.0x", 224)], TRUE)
    assert not any("family" in c for c in candidates(only_mnv2))
