"""Issue 29 points 16-18: several profiles by pattern, the cross-device chart, readable plots, headers
and help, and noisy peaks flagged."""

from __future__ import annotations

import pytest

# --- 18: a peak measured under load is flagged (it sets the ridge point) --------------------------


def test_a_peak_spread_by_17_percent_retries_and_is_flagged(monkeypatch):
    from roofline.measure import peaks, timing
    from roofline.measure.budget import Budget

    calls = []

    def fake(fn, trials, warmup, device, inner=1):  # trials spread about 14 %: a loaded machine
        calls.append(trials)
        return [1.0, 1.15, 1.32] if trials == 3 else [(1.0, 1.05, 1.1, 1.15, 1.2, 1.32)[i % 6] for i in range(trials)]

    monkeypatch.setattr(timing, "time_calls", fake)
    monkeypatch.setattr(timing.time, "sleep", lambda s: None)
    m = peaks.measure_matmul("cpu", "fp32", Budget(8, 4, 1024, 3, 0))
    assert 0.10 < m.spread < 0.20  # under the 20 % that flags other figures
    assert calls == [3, 6, 6]  # retried twice at the peak's 10 % limit
    assert m.noisy and "noisy" in m.describe() and m.trials == 15


def test_a_quiet_peak_is_not_flagged(monkeypatch):
    from roofline.measure import peaks, timing
    from roofline.measure.budget import Budget

    monkeypatch.setattr(timing, "time_calls", lambda fn, trials, *a, **k: [1.0, 1.02, 1.04][:trials])
    m = peaks.measure_conv("cpu", "fp32", Budget(8, 4, 1024, 3, 0))
    assert m.spread < 0.05 and not m.noisy and m.trials == 3


def _run(peak_spread: float, bw_spread: float):
    from roofline.measure.profiler import ProfileRun
    from roofline.measure.timing import PEAK_NOISY_SPREAD, Measurement

    peak = Measurement(5.1e10, peak_spread, "MAC/s", "matmul 1024^3 fp32", 3, limit=PEAK_NOISY_SPREAD)
    bw = Measurement(1e10, bw_spread, "B/s", "triad", 7)
    return ProfileRun("cpu", {"fp32": peak}, {"fp32": {"matmul": peak}}, bw,
                      Measurement(1.2e10, 0.01, "B/s", "copy", 7),
                      machine={"threads_used": 1, "date": "2026-11-29", "cpu": "test cpu"})


def test_profile_run_flags_a_peak_over_10_percent_but_not_a_bandwidth_under_20():
    from roofline.measure.profiler import to_profile

    run = _run(0.17, 0.17)
    assert run.noisy == ["peak fp32"]
    p = to_profile(run, "loaded")
    assert "peak fp32" in p.machine["noisy"] and "10 % for a peak" in p.machine["noisy"]
    assert _run(0.04, 0.17).noisy == []


def test_profile_cli_warns_about_a_noisy_peak(cli, monkeypatch):
    import roofline.measure.profiler as profiler

    monkeypatch.setattr(profiler, "profile_machine", lambda *a, **k: _run(0.17, 0.01))
    monkeypatch.setattr(profiler, "check_device", lambda d: None)
    code, out, err = cli("profile", "--no-ceilings", "--quick")
    assert code == 0, err
    assert "warning: peak fp32 is noisy (spread above 10 % after extra trials)" in err
    assert "ridge point made from it is unreliable" in err


# --- 16: several profiles by pattern, and the cross-device chart ------------------------------------


def test_expand_hardware_all_kinds_and_globs():
    from roofline.hardware import expand_hardware, list_hardware, load_hardware

    assert expand_hardware(["all"]) == list_hardware()
    npu = expand_hardware(["kind:npu"])
    assert npu and all(load_hardware(n).kind == "npu" for n in npu)
    assert set(npu) == {n for n in list_hardware() if load_hardware(n).kind == "npu"}
    assert expand_hardware(["pixel8*"]) == ["pixel8-edgetpu"]
    # names and files pass through; duplicates once, first place kept
    assert expand_hardware(["rtx3090", "rtx*", "kind:cpu"])[:2] == ["rtx3090", "pixel6-cpu"]
    assert expand_hardware(["rtx3090", "rtx*"]) == ["rtx3090"]


@pytest.mark.parametrize("pattern, message", [
    ("zzz*", "matches no shipped profile"), ("kind:tpu", "unknown kind 'tpu'"),
])
def test_a_pattern_that_matches_nothing_is_one_clear_error(pattern, message):
    from roofline.core.errors import UnknownHardwareError
    from roofline.hardware import expand_hardware

    with pytest.raises(UnknownHardwareError, match=message):
        expand_hardware([pattern])


def test_one_profile_commands_refuse_a_pattern_matching_several_but_take_one_match(cli):
    code, out, err = cli("sweep", "mnv2", "--hw", "pixel*", "--rp", "5")
    assert code == 2 and err.startswith("error: --hw 'pixel*' matches 7 profiles (pixel4-dsp")
    assert "this takes one profile" in err and "Traceback" not in err
    code, out, err = cli("validate", "mnv2", "--hw", "kind:cpu")
    assert code == 2 and "--hw 'kind:cpu' matches 3 profiles (pixel6-cpu, rpi5-cpu, s23-cpu)" in err
    code, one, err = cli("sweep", "mnv2", "--hw", "rtx*", "--rp", "5", "--format", "csv")
    code2, named, err2 = cli("sweep", "mnv2", "--hw", "rtx3090", "--rp", "5", "--format", "csv")
    assert code == code2 == 0 and one == named  # a pattern matching one profile is that profile


def test_analyze_takes_kind_and_glob_patterns(cli):
    code, out, err = cli("analyze", "mnv4-conv-s", "--hw", "kind:dsp", "--hw", "pixel8*", "--format", "csv")
    assert code == 0, err
    assert "pixel4-dsp" in out and "pixel8-edgetpu" in out and "pixel7-gpu" not in out


def test_report_has_the_cross_device_chart(cli, tmp_path):
    page = tmp_path / "r.html"
    code, out, err = cli("report", "mnv2", "--hw", "kind:dsp", "--hw", "pixel8-edgetpu", "--hw", "coral-usb",
                         "-o", str(page))
    assert code == 0, err
    text = page.read_text()
    assert "<h2>Predicted latency across profiles</h2>" in text
    chart = text.split("<h2>Predicted latency across profiles</h2>")[1].split("<h2>")[0]
    assert "validated: band from the profile" in chart and "unvalidated reading: estimate" in chart


def test_plot_devices_bars_bands_and_validated_apart():
    import roofline
    from roofline.present.plots import plot_devices

    an = [roofline.analyze("mnv2", h) for h in ("pixel8-edgetpu", "coral-usb", "nvidia-h100")]
    fig = plot_devices(an)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 3
    at = {round(y): t.get_text().split(" ")[0] for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    by_name = {at[round(b.get_y() + b.get_height() / 2)]: b for b in bars}
    assert set(by_name) == {a.hardware.name for a in an}
    top_down = sorted(by_name, key=lambda n: -by_name[n].get_y())
    # the bars are the estimates (the reading itself where validated), fastest on top
    assert top_down == [a.hardware.name for a in sorted(an, key=lambda a: a.estimate.seconds)]
    for a in an:
        assert by_name[a.hardware.name].get_width() == pytest.approx(a.estimate.seconds * 1e3)
    hatched = {n: bool(b.get_hatch()) for n, b in by_name.items()}
    for a in an:
        assert hatched[a.hardware.name] == (not (a.band is not None and a.band.validated))
    assert any(hatched.values()) and not all(hatched.values())
    # error bars: the 80 % band of each estimate, which holds its bar's end
    segs = [s for c in ax.collections for s in c.get_segments()]
    spans = sorted((round(s[0][0], 9), round(s[1][0], 9)) for s in segs)
    want = sorted((round(a.estimate.low_s * 1e3, 9), round(a.estimate.high_s * 1e3, 9)) for a in an)
    assert spans == want
    for a in an:
        assert a.estimate.low_s <= a.estimate.seconds <= a.estimate.high_s
    # the spec-only ones' Eq. 1 lower bounds: a tick each
    ticks = sorted(x for line in ax.lines if line.get_gid() == "eq1-lower-bound" for x in line.get_xdata())
    assert ticks == pytest.approx(sorted(a.total_latency_s * 1e3 for a in an if a.band is None and a.is_lower_bound))
    assert any(len(t.get_text()) > 1 for t in ax.get_xticklabels())


# --- 17: plots -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_df():
    from roofline.studies.sweep import sweep

    return sweep(["mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l", "mnv4-hybrid-m", "mnv2"], "1:500:25")


def test_mark_labels_of_close_profiles_do_not_overlap(sweep_df):
    from roofline.hardware import load_hardware
    from roofline.present.plots import plot_sweep

    names = ["s23-gpu", "pixel8-edgetpu", "rtx3090", "pixel7-edgetpu"]  # ridge points 27-39 MAC/B
    marks = {n: load_hardware(n).roof(mode="spec").ridge_point for n in names}
    fig = plot_sweep(sweep_df, marks=marks)
    ax = fig.axes[0]
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    anns = [t for t in ax.texts if "\nRP " in t.get_text()]
    assert sorted(t.get_text().split("\n")[0] for t in anns) == sorted(names)
    boxes = [t.get_window_extent(r) for t in anns]
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i))


def test_relative_plot_names_the_reference_and_labels_several_ticks(sweep_df):
    from roofline.present.plots import plot_sweep

    fig = plot_sweep(sweep_df, relative_to="mnv4-conv-m")
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("latency relative to mnv4-conv-m")
    fig.draw_without_rendering()
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.yaxis.get_majorticklabels() + ax.yaxis.get_minorticklabels()
             if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 3, shown


def test_a_log_axis_under_a_decade_gets_several_labelled_ticks():
    from roofline.present.plots import _figure, label_log_axis

    with _figure((4, 3)) as fig:
        ax = fig.add_subplot()
        ax.plot([1, 2], [0.85, 1.25])
        ax.set_yscale("log")
        ax.set_ylim(0.85, 1.25)
        label_log_axis(ax.yaxis)
    fig.draw_without_rendering()
    shown = [t.get_text() for t in ax.yaxis.get_majorticklabels() + ax.yaxis.get_minorticklabels()
             if t.get_text() and 0.85 <= t.get_position()[1] <= 1.25]
    assert len(shown) >= 3 and "1" in shown, shown


def test_each_model_of_a_family_has_its_own_colour(sweep_df):
    from matplotlib.colors import to_hex

    from roofline.present.plots import plot_sweep

    ax = plot_sweep(sweep_df).axes[0]
    colours = {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines() if ln.get_label().startswith("v4")}
    assert len(colours) == 4 and len(set(colours.values())) == 4, colours


def test_front_distance_title_and_legend_do_not_overlap_the_axes():
    from roofline.present.plots import plot_front_distance
    from roofline.studies.pareto import pareto
    from roofline.studies.sweep import MODEL_GROUPS, parse_rps, sweep

    p = pareto(sweep(MODEL_GROUPS["paper-fig2"], parse_rps("0,50,500")))
    fig = plot_front_distance(p, title="Distance from the Pareto front (1.0 = on it): " + p.attrs["setup"].describe())
    fig.draw_without_rendering()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    title, legend = ax.title.get_window_extent(r), fig.legends[0].get_window_extent(r)
    assert not title.overlaps(legend)
    assert legend.x0 >= ax.get_window_extent(r).x1  # the legend outside the axes, at the right
    pos = ax.get_position()
    assert pos.width > 0.6  # the axes take most of the width, not the middle third
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width


def test_roofline_chart_draws_the_roof_of_a_class_factor_above_1():
    import roofline
    from roofline.present.plots import plot_roofline

    a = roofline.analyze("mnv4-conv-s", "pixel8-edgetpu")
    f = a.roof.efficiency["dwconv"]
    assert f > 1
    fig = plot_roofline(a)
    ax = fig.axes[0]
    roofs = [ln for ln in ax.get_lines() if "depthwise conv roof" in ln.get_label()]
    assert len(roofs) == 1 and "class factor 3.54 > 1" in roofs[0].get_label()
    base = [ln for ln in ax.get_lines() if ln.get_label().startswith("roofline")][0]
    assert roofs[0].get_ydata() == pytest.approx(base.get_ydata() * f)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("depthwise conv roof" in t for t in labels)
    # a profile without factors above 1 draws none
    b = roofline.analyze("mnv2", "rtx3090")
    if not any(v > 1 for v in (b.roof.efficiency or {}).values()):
        assert not [ln for ln in plot_roofline(b).axes[0].get_lines() if " roof:" in ln.get_label()]


# --- 18: the rest ----------------------------------------------------------------------------------


def test_html_number_cells_do_not_wrap():
    import roofline
    from roofline.present.html import NOTEBOOK_CSS, table
    import pandas as pd

    assert ".rl-repr table.rl td.n {white-space: nowrap;}" in NOTEBOOK_CSS
    html = table(pd.DataFrame({"what": ["MACs"], "value": ["23.9 M"], "n": [3.5]}))
    assert '<td class="l n" data-v="23.9 M">23.9 M</td>' in html and '<td class="n" data-v="3.5">' in html
    assert '<td class="l" data-v="MACs">' in html
    page = roofline.analyze("mnv2", "rtx3090")._repr_html_()
    assert 'class="n"' in page


def test_sweep_peak_takes_derive_spelling_and_a_bare_float(cli):
    outs = []
    for peak in ("fp16=3.5e12", "3.5e12"):
        code, out, err = cli("sweep", "mnv2", "--vary", "bandwidth", "--peak", peak, "--rp", "5,50")
        assert code == 0, err
        outs.append(" ".join(out.split()))
    assert "bandwidth varied, peak 3.5 TMAC/s; convention default; fp16;" in outs[0]
    assert "bandwidth varied, peak 3.5 TMAC/s; convention default; int8;" in outs[1]
    code, out, err = cli("sweep", "mnv2", "--vary", "bandwidth", "--peak", "fp16=3.5e12", "--dtype", "int8")
    assert code == 2 and "--peak fp16=3.5e12 is a fp16 peak but --dtype is int8" in err
    code, out, err = cli("sweep", "mnv2", "--vary", "bandwidth", "--peak", "fast")
    assert code == 2 and "--peak must look like fp16=3.5e13 or 3.5e13, got 'fast'" in err


def _help(cli, cmd: str) -> str:
    import re

    code, out, err = cli(cmd, "--help")
    assert code == 0, err
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())


def test_hw_help_says_one_or_several(cli):
    for cmd in ("analyze", "report", "space"):
        assert "Hardware profiles: a name or YAML file; repeat for several, or give all, " \
               "kind:cpu|gpu|dsp|npu" in _help(cli, cmd), cmd
    for cmd in ("sweep", "pareto", "lut"):
        assert "One hardware profile: a name ('roofline hw' lists them) or a YAML file." in _help(cli, cmd), cmd
    assert "One profile to predict with" in _help(cli, "validate")
    for cmd in ("sweep", "pareto"):
        assert "dtype=MAC/s as in derive (fp16=3.5e13" in _help(cli, cmd), cmd


def test_validate_table_has_worded_headers_and_no_endless_line(cli, monkeypatch):
    import pandas as pd

    import roofline
    import roofline.measure.validate as mv

    a = roofline.analyze("mnv2", "rtx3090")

    class Run:
        setup = "x " * 300  # a 600-character setup line
        analyses = {"mnv2": a}
        warnings: list = []
        models = pd.DataFrame([{"model": "mnv2", "macs": 3e8, "kernels": 60, "roofline_ms": 1.0, "overhead_ms": 0.2,
                                "predicted_ms": 1.2, "measured_ms": 1.1, "spread": 0.02, "process_spread": 0.01,
                                "page_faults": 10.0, "error": 0.09}])
        median_abs_error, median_abs_error_layers = 0.09, float("nan")
        spearman_models = spearman_layers = spearman_macs = float("nan")

    monkeypatch.setattr(mv, "validate", lambda *args, **kw: Run())
    code, out, err = cli("validate", "mnv2", "--hw", "rtx3090")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 200
    header = next(line for line in out.splitlines() if line.strip().startswith("model"))
    for words in ("Eq. 1 (ms)", "predicted (ms)", "measured (ms)", "spread between processes (%)", "page faults",
                  "error (%)"):
        assert words in header
    assert "_" not in header


def test_sweep_plot_prints_no_table_unless_asked(cli, tmp_path):
    """Issue 29, point 17: `sweep --plot` wrote the figure and also printed a 500-line table."""
    png = tmp_path / "s.png"
    code, out, err = cli("sweep", "mnv2", "mnv1", "--rp", "0:500:5", "--plot", str(png))
    assert code == 0 and png.stat().st_size > 10_000
    assert out == "" and f"wrote {png}" in err
    code, out, err = cli("sweep", "mnv2", "mnv1", "--rp", "0:500:5", "--plot", str(png), "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 1 + 2 * 101  # header + 2 models x 101 ridge points
