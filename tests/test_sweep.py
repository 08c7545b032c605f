"""Ridge-point sweeps, Pareto fronts, the paper reproduction and `roofline fit`."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import roofline
from roofline.core.errors import RooflineError
from roofline.studies.pareto import front_ranges, pareto, pareto_mask
from roofline.studies.sweep import MODEL_GROUPS, expand_models, parse_rps, sweep


def test_rp_zero_is_macs_over_peak():
    df = sweep(["mnv2", "mnv4-conv-s"], [0, 5, 50], vary="bandwidth", peak=1e11)
    at0 = df[df.rp_macs_per_byte == 0].set_index("model")["latency_s"]
    # sum of per-layer MACs / peak: equal to total MACs / peak up to float summation order
    assert at0["mnv2"] == pytest.approx(300_774_272 / 1e11, rel=1e-12)
    assert at0["mnv4-conv-s"] == pytest.approx(186_005_568 / 1e11, rel=1e-12)
    assert (df[df.rp_macs_per_byte == 0]["mem_time_share"] == 0).all()
    paper = sweep(["mnv2"], [0], bw=40e9)  # the paper's reading: MACs at the RP-5 peak, 0.2 TMAC/s
    assert paper["latency_s"].iloc[0] == pytest.approx(300_774_272 / 2e11, rel=1e-12)


def test_latency_non_increasing_in_bandwidth():
    rps = np.arange(0, 501, 5.0)  # fixed peak: bandwidth = peak / RP falls as RP rises
    df = sweep(list(MODEL_GROUPS["paper-fig3"]), rps, vary="bandwidth", peak=2e12)
    for _, g in df.groupby("model"):
        assert np.all(np.diff(g.sort_values("rp_macs_per_byte")["latency_s"].to_numpy()) >= 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1e8, 1e13), min_size=2, max_size=6))
def test_a_faster_machine_at_the_same_ridge_point_is_never_slower(bws):
    """At a fixed RP, more bandwidth means proportionally more peak too (vary=peak)."""
    table = roofline.trace("mnv3-l")
    lat = [sweep([table], [50], bw=b)["latency_s"].iloc[0] for b in sorted(bws)]
    assert all(a >= b for a, b in zip(lat, lat[1:]))


def test_sweep_equals_analyze_exactly():
    rps = [0.5, 5, 31.2, 433.8]
    df = sweep(["mnv4-hybrid-m", "mnv1"], rps, bw=3e10, convention="mnv4-paper")
    for r in df.itertuples():
        hw = {"name": "x", "kind": "npu", "default_dtype": "int8",
              "peak_macs_per_s": {"int8": r.rp_macs_per_byte * 3e10}, "mem_bw_bytes_per_s": 3e10}
        a = roofline.analyze(r.model, hw, convention="mnv4-paper")
        assert a.total_latency_s == r.latency_s
        assert (a.layers["bound"] == "memory").sum() == r.memory_bound_layers


def test_pareto_hand_made_with_ties():
    lat = np.array([1.0, 2.0, 2.0, 3.0, 1.5, 2.0, 1.0])
    acc = np.array([70., 75., 75., 74., 69., 73., 70.])
    #                A     B    B'   C    D    E    A' (A tied with A')
    assert pareto_mask(lat, acc).tolist() == [True, True, True, False, False, False, True]


def test_pareto_front_ranges_and_slowdown():
    df = pd.DataFrame({"model": ["a", "b", "a", "b", "a", "b"], "rp_macs_per_byte": [0, 0, 5, 5, 10, 10],
                       "latency_s": [1.0, 2.0, 3.0, 2.0, 1.0, 2.0], "top1": [70.0, 70.0] * 3})
    p = pareto(df)
    assert p["pareto_optimal"].tolist() == [True, False, False, True, True, False]
    assert p["slowdown_vs_front"].tolist() == [1.0, 2.0, 1.5, 1.0, 1.0, 2.0]
    r = front_ranges(p).set_index("model")
    assert r.loc["a", "rp_ranges"] == "0; 10" and r.loc["b", "rp_ranges"] == "5"
    assert not r["universal"].any()


def test_mnv4_on_front_in_paper_reproduction():
    p = pareto(sweep(list(MODEL_GROUPS["paper-fig2"]), "0:500:50", convention="mnv4-paper"))
    r = front_ranges(p).set_index("model")
    assert r.loc[["mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l"], "universal"].all()
    assert r.loc["mnv2", "rp_ranges"] == "never"


def test_expand_models_and_groups():
    assert expand_models(groups=["paper-fig2"]) == list(MODEL_GROUPS["paper-fig2"])
    assert expand_models(families=["mnv4"]) == ["mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l",
                                                 "mnv4-hybrid-m", "mnv4-hybrid-l"]
    assert expand_models(["mobilenet_v2", "mnv2"]) == ["mnv2"]


def test_parse_rps():
    assert parse_rps("0:500:5").tolist() == list(range(0, 501, 5))
    assert parse_rps("0,5,50,500").tolist() == [0, 5, 50, 500]
    for bad, msg in [("10:0:5", "empty"), ("-5,5", ">= 0"), ("0:10:0", "step must be positive"),
                     ("a,b", "must look like")]:
        with pytest.raises(RooflineError, match=msg):
            parse_rps(bad)


def test_cli_sweep_and_pareto(cli, tmp_path):
    f = tmp_path / "s.csv"
    code, out, err = cli("sweep", "mnv2", "--models", "paper-fig3", "--rp", "0:500:100", "--format", "csv",
                         "-o", str(f))
    assert code == 0, err
    df = pd.read_csv(f)
    assert len(df) == 5 * 6 and set(df["model"]) == {"mnv2", *MODEL_GROUPS["paper-fig3"]}
    code, out, err = cli("pareto", "--models", "paper-fig2", "--rp", "0,500", "--convention", "mnv4-paper")
    assert code == 0, err
    assert "Pareto fronts" in out and "mnv3-l-0.5x (69.2" in out and "mnv4-conv-l" in out
    acc = tmp_path / "acc.csv"
    acc.write_text("model,top1\nmnv2,60\nmnv1,80\n")  # at RP 0 mnv2 (1.5 ms) is faster than mnv1 (2.8 ms)
    code, out, err = cli("pareto", "mnv2", "mnv1", "--rp", "0", "--accuracy", str(acc))
    assert code == 0 and "mnv2 (60.0, 1.5), mnv1 (80.0, 2.84)" in out
    acc.write_text("model,top1\nmnv2,80\nmnv1,60\n")  # now mnv2 dominates
    code, out, err = cli("pareto", "mnv2", "mnv1", "--rp", "0", "--accuracy", str(acc))
    assert code == 0 and "mnv2 (80.0, 1.5) " in out and "mnv1 (" not in out


def test_cli_bad_sweep_inputs(cli, tmp_path):
    cases = [(("sweep", "mnv2", "--rp", "10:0:5"), "empty"),
             (("sweep", "mnv2", "--rp", "-1,5"), ">= 0"),
             (("sweep", "mnv2", "mnv9"), "unknown model 'mnv9'"),
             (("sweep",), "no models given"),
             (("pareto", "mnv2", "--models", "fig9"), "unknown model group")]
    for args, message in cases:
        code, out, err = cli(*args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)


P6_CPU = [("mnv2-0.5x", 2.4), ("mnv3-l-0.5x", 2.4), ("mnv2", 5.0), ("mnv4-conv-s", 2.4), ("mnv1", 6.1),
          ("mnv2-1.5x", 9.3), ("mnv2-2.0x", 13.9), ("mnv4-conv-m", 11.4), ("mnv4-hybrid-m", 14.3),
          ("mnv4-conv-l", 59.9), ("mnv4-hybrid-l", 87.6)]  # MNv4 paper Table 6, Pixel 6 CPU (ms)


def test_cli_fit_writes_a_valid_profile(cli, tmp_path):
    csv = tmp_path / "p6.csv"
    csv.write_text("model,ms\n" + "\n".join(f"{m},{v}" for m, v in P6_CPU) + "\n")
    out_yaml = tmp_path / "my-device.yaml"
    code, out, err = cli("fit", str(csv), "--terms", "none", "-o", str(out_yaml))
    assert code == 0, err
    # in-sample, held-out and MACs-only figures are printed side by side
    assert "in-sample" in out and "held out" in out and "MACs only, held out" in out
    assert "leave-one-model-out" in out  # 11 models: fewer than 20
    p = roofline.load_hardware(out_yaml)
    assert p.name == "my-device" and p.status == "fitted" and p.roof().mode == "fitted"
    v = p.validation
    assert (v.rows, v.models, v.folds) == (11, 11, 11) and v.terms == ()
    assert v.ratio_p10 < 1 < v.ratio_p90 and 0 <= v.heldout_median_error < 1
    assert not p.overhead.per_kernel_s and not p.fitted.efficiency
    a = roofline.analyze("mnv4-conv-l", out_yaml)
    lo, hi = a.latency_band_s
    assert lo < a.total_latency_s < hi and "leave-one-out over 11 models" in a.latency_text()
    # forced terms are fitted and written, with units
    code, out, err = cli("fit", str(csv), "--terms", "kernel,inference", "-o", str(out_yaml))
    assert code == 0 and "per kernel:" in out and "per inference:" in out, err
    p = roofline.load_hardware(out_yaml)
    assert "fused" in p.overhead.per_kernel_s and p.overhead.per_inference_s is not None
    assert p.validation.terms == ("kernel", "inference")


@pytest.mark.parametrize(("text", "message"), [
    ("model,latency\nmnv2,5\n", "no column 'ms'"),
    ("model,ms\nmnv2,fast\nmnv1,3\nmnv3-l,2\n", "line 2: ms 'fast' is not a number"),
    ("model,ms\nmnv2,0\nmnv1,3\nmnv3-l,2\n", "line 2: ms must be a positive number"),
    ("model,ms\nmnv2,1e9\nmnv1,3\nmnv3-l,2\n", "outside the plausible range"),
    ("model,ms,batch\nmnv2,5,2.5\nmnv1,3,\nmnv3-l,2,\n", "batch must be a whole number"),
    ("model,ms\nmnv2,5\nmnv1,3\nmnv2,4\n", "lines 2 and 4 both measure mnv2"),
    ("model,ms\nmnv2,5\nmnv1,3\n", "needs measurements of at least 3 models"),
    ("model,ms\nmnv2,5\nresnet50,3\nmnv1,3\n", "unknown model 'resnet50'"),
])
def test_cli_fit_bad_input(cli, tmp_path, text, message):
    csv = tmp_path / "m.csv"
    csv.write_text(text)
    code, out, err = cli("fit", str(csv), "-o", str(tmp_path / "x.yaml"))
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.yaml").exists()


def test_fitted_ridge_points_near_the_papers():
    from roofline.studies.reproduce import table16

    t = table16(full=False).set_index("device")
    assert set(t["set"]) == {"zoo"}
    for device, row in t.iterrows():
        ratio = row["our_fitted_rp"] / row["paper_fitted_rp"]
        if row["our_rp_is_lower_bound"]:  # flat fit above our RP: the paper's must lie above it
            assert row["our_fitted_rp"] <= row["paper_fitted_rp"] * 1.5, device
        assert 1 / 1.5 <= ratio <= 1.5, (device, ratio)
    assert t.loc["pixel4-dsp", "rs_roofline_at_paper_rp"] > t.loc["pixel4-dsp", "rs_macs"]
    assert t.loc["pixel6-cpu", "paper_rs_roofline"] == 0.973  # the paper's Table 16 (Qin et al. 2024), not ours


@pytest.mark.slow
def test_reproduce_regenerates_the_report(tmp_path, cli):
    code, _, err = cli("reproduce", "mnv4", "-o", str(tmp_path / "rep"))
    assert code == 0, err
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"README.md", "fig2_accuracy_vs_latency.png", "fig2_front_distance.png",
            "fig3_per_layer_latency.png", "fig2_latency.csv", "fig3_per_layer.csv", "table16.csv"} <= files
    text = (tmp_path / "rep" / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| pixel8-edgetpu |"))
    assert "433.8" in row and "0.973" in row and "0.857" in row  # the paper's numbers beside ours
    fig2 = pd.read_csv(tmp_path / "rep" / "fig2_latency.csv")
    conv_l_rp0 = fig2[(fig2.model == "mnv4-conv-l") & (fig2.rp_macs_per_byte == 0)]["latency_s"].iloc[0]
    assert math.isclose(conv_l_rp0, 6_376_220_672 / 2e11, rel_tol=1e-12)
    fig3 = pd.read_csv(tmp_path / "rep" / "fig3_per_layer.csv")
    fc = fig3[(fig3.model == "mnv4-conv-m") & (fig3.rp_macs_per_byte == 500) & (fig3.op == "fc")]
    # the final FC at RP 500: (1280 x 1000 weights + 1000 bias + 1280 input bytes) / 40 GB/s
    assert fc["latency_us"].max() == pytest.approx((1_281_000 + 1280) / 40e9 * 1e6)


def test_committed_report_is_linked_from_readme():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    assert "reports/mnv4-paper/README.md" in readme
    for png in ("fig2_accuracy_vs_latency.png", "fig3_per_layer_latency.png"):
        assert (root / "reports" / "mnv4-paper" / png).stat().st_size > 20_000


def test_spearman_with_ties_without_scipy():
    from roofline.core.stats import spearman

    # ranks [1, 2.5, 2.5, 4, 5] and [2, 1, 3.5, 3.5, 5]: Pearson of the ranks = 29/38
    assert spearman([1, 2, 2, 3, 5], [2, 1, 4, 4, 9]) == pytest.approx(29 / 38)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
