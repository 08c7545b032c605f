"""Issue 29, points 7, 8, 9 (and 17, 18 where done): models with no layers, API argument checks,
profile validation/fitted blocks checked as a whole."""

import copy
import glob
from pathlib import Path

import numpy as np
import pytest
import yaml
from torch import nn

import roofline
from roofline.core.errors import InvalidInputError, ProfileError
from roofline.hardware import load_hardware
from roofline.present.plots import plot_layer_latency, plot_roofline
from roofline.present.report import html_report, write_html_report

ROOT = Path(__file__).resolve().parent.parent


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


# --- 7: a model with no layers ------------------------------------------------------------------

@pytest.mark.parametrize("module", [nn.Identity(), nn.Flatten()], ids=["Identity", "Flatten"])
def test_no_layer_model_plots_say_no_layers(module, tmp_path):
    a = roofline.analyze(module, "pixel8-edgetpu", input_shape=(1, 3, 8, 8))
    assert len(a.layers) == 0
    fig = a.plot_layers(tmp_path / "layers.png")
    assert any(t.startswith("no layers") for t in _texts(fig))
    assert (tmp_path / "layers.png").read_bytes()[:4] == b"\x89PNG"
    fig = a.plot(tmp_path / "roof.svg")
    assert any(t.startswith("no layers") for t in _texts(fig))
    assert "<svg" in (tmp_path / "roof.svg").read_text()


def test_no_layer_model_report_renders(tmp_path):
    page, analyses = html_report(nn.Identity(), ["pixel8-edgetpu", "rtx3090"], input_shape=(1, 3, 8, 8))
    assert [a.hardware.name for a in analyses] == ["pixel8-edgetpu", "rtx3090"]
    assert page.count("no layers") >= 3  # two roofline charts and the per-layer panels
    out = write_html_report(nn.Flatten(), ["pixel8-edgetpu"], tmp_path / "r.html", input_shape=(1, 3, 8, 8))
    assert "Flatten" in out.read_text() and "no layers" in out.read_text()


def test_layer_plot_of_a_model_with_layers_keeps_its_legend():
    a = roofline.analyze("mnv2", "pixel8-edgetpu")
    fig = plot_layer_latency([a])
    assert fig.legends and not any(t.startswith("no layers") for t in _texts(fig))
    assert not any(t.startswith("no layers") for t in _texts(plot_roofline(a)))


# --- 8: API arguments ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnv2():
    return roofline.analyze("mnv2", "pixel8-edgetpu")


@pytest.mark.parametrize("n, message", [
    (2.5, "slowest(n) must be an integer, got 2.5"), ("3", "slowest(n) must be an integer, got '3'"),
    (-1, "slowest(n) must be an integer at least 1, got -1"), (0, "slowest(n) must be an integer at least 1, got 0"),
    (True, "slowest(n) must be an integer, got True")])
def test_slowest_refuses_non_counts(mnv2, n, message):
    with pytest.raises(InvalidInputError) as e:
        mnv2.slowest(n)
    assert str(e.value) == message


def test_slowest_takes_numpy_integers(mnv2):
    top = mnv2.slowest(np.int64(3))
    assert len(top) == 3 and top["latency_s"].iloc[0] == mnv2.layers["latency_s"].max()


@pytest.mark.parametrize("method", ["plot", "plot_layers"])
@pytest.mark.parametrize("path", [5, b"x.png", ""])
def test_plot_path_must_be_a_file_name(mnv2, method, path):
    with pytest.raises(InvalidInputError, match=rf"^{method}\(path\) must be a file name"):
        getattr(mnv2, method)(path)


def test_numpy_bools_are_flags():
    a = roofline.analyze("mnv2", "pixel8-edgetpu", on_chip=np.bool_(False), overhead=np.bool_(True))
    b = roofline.analyze("mnv2", "pixel8-edgetpu", on_chip=False, overhead=True)
    assert a.on_chip is False and a.total_latency_s == b.total_latency_s
    with pytest.raises(InvalidInputError, match="^on_chip must be True or False, got 1$"):
        roofline.analyze("mnv2", "pixel8-edgetpu", on_chip=np.int64(1))


# --- 9: validation / fitted blocks as a whole -----------------------------------------------------

PROFILES = sorted(glob.glob(str(ROOT / "hardware_profiles" / "*.yaml"))
                  + glob.glob(str(ROOT / "reports" / "**" / "*.yaml"), recursive=True))


def test_every_shipped_and_committed_profile_loads():
    assert len(PROFILES) >= 30
    for f in PROFILES:
        assert load_hardware(f).name


def test_fit_terms_match_the_fit():
    from roofline.fit.terms import TERMS
    from roofline.hardware.consistency import FIT_TERMS

    assert set(FIT_TERMS) == set(TERMS)


BASE = yaml.safe_load((ROOT / "hardware_profiles" / "pixel8-edgetpu.yaml").read_text())


def _val(**kw):
    return lambda d: d["validation"].update(kw)


def _family(key):
    return lambda d: d["fitted"]["family"].update({key: 1.0})


@pytest.mark.parametrize("change, field", [
    (_val(ratio_p10=1.1, ratio_p90=1.3), "validation band ratio_p10 1.1 to ratio_p90 1.3 leaves out 1"),
    (_val(ratio_p10=0.5, ratio_p90=0.9), "validation band ratio_p10 0.5 to ratio_p90 0.9 leaves out 1"),
    (_val(folds=20), "validation.folds = 20 is more than validation.models = 19"),
    (_val(folds=1), "validation.folds = 1: a fit's cross-validation"),
    (_val(rows=5), "validation.rows = 5 is fewer than validation.models = 19"),
    (_val(terms=["kernel", "bogus"]), "validation.terms has unknown term 'bogus'"),
    (_val(terms=["kernel", "dwconv", "matmul", "attention", "family", "kernel"]),
     "validation.terms lists 'kernel' twice"),
    (_val(heldout_median_error=1000), "validation.heldout_median_error = 1000 is not a median error"),
    (_val(heldout_median_error=0.5), "validation.heldout_median_error = 0.5 is above validation.heldout_worst"),
    (_family(""), "fitted.family key '' is not a model family"),
    (_family("../../etc"), "fitted.family key '../../etc' is not a model family"),
    (_family("x" * 5000), "fitted.family key of 5,000 characters is not a model family"),
    (_family("MNV4"), "fitted.family key 'MNV4' is not a model family"),
    (_family("mnv4-conv"), "fitted.family key 'mnv4-conv' is not a model family"),
    (lambda d: d["fitted"]["efficiency"].update(norm=1.0), "fitted.efficiency.norm has no term in validation.terms"),
    (lambda d: d["fitted"].update(reduction_half=10.0), "fitted.reduction_half has no 'reduction' term"),
])
def test_profile_blocks_checked_as_a_whole(change, field, tmp_path):
    d = copy.deepcopy(BASE)
    change(d)
    with pytest.raises(ProfileError) as e:
        load_hardware(d)
    assert str(e.value).startswith(f"<dict>: {field}")
    path = tmp_path / "p.yaml"  # from a file: the message names it
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(ProfileError) as e:
        load_hardware(path)
    assert str(e.value).startswith(f"{path}: {field}")


def test_measured_band_may_leave_out_1():
    """``validate --save-band`` measures a biased profile: its band is the correction, not nonsense."""
    d = copy.deepcopy(BASE)
    d["validation"].update(status="measured", ratio_p10=1.2, ratio_p90=1.5, terms=[], folds=19)
    v = load_hardware(d).validation
    assert (v.ratio_p10, v.ratio_p90) == (1.2, 1.5)


# --- 18: tables never cut a name; readable headers; --quick's help -------------------------------

@pytest.fixture
def cli100(cli, monkeypatch):
    """The CLI with its stdout console made afresh at 100 columns (a pipe's default width)."""
    from roofline.cli.app import out

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(out, "_console", None)
    return cli


def test_trace_depth_table_keeps_every_name_whole(cli100):
    code, text, err = cli100("trace", "mnv4-hybrid-l", "--depth", "3")
    assert code == 0, err
    names = roofline.trace("mnv4-hybrid-l").by_module(3)["module"].tolist()
    assert len(names) > 100 and max(map(len, names)) >= 25
    rows = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert rows == names
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 100
    assert "elements" in text  # every column kept: headers wrap instead


def test_a_table_too_wide_for_the_terminal_is_printed_uncut(cli, monkeypatch):
    from roofline.cli.app import out

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(out, "_console", None)
    code, text, err = cli("trace", "mnv4-hybrid-l", "--depth", "3")
    assert code == 0, err
    assert "stage1.fused_ib_0.project" in text and "…" not in text


def test_pareto_table_headers_are_words(cli100):
    code, text, err = cli100("pareto", "mnv2", "mnv4-conv-s", "--rp", "0,50")
    assert code == 0, err
    assert "top-1 (%)" in text and "share of RPs on the front" in text and "RP ranges (MAC/B)" in text
    assert "top1" not in text and "on_front_share" not in text and "rp_ranges" not in text
    code, csv_text, err = cli100("pareto", "mnv2", "mnv4-conv-s", "--rp", "0,50", "--format", "csv")
    assert csv_text.splitlines()[0] == "model,top1,on_front_share,universal,rp_ranges"  # data keeps its names


def test_profile_quick_help_says_how_long():
    """The README measures --quick at 16.7-17.4 s on the 2-core CI machine; the help said "a few seconds"."""
    import typer

    from roofline.cli import app

    cmd = typer.main.get_command(app).commands["profile"]
    text = next(p.help for p in cmd.params if p.name == "quick")
    assert text.startswith("15-20 s on 2 cores") and "few seconds" not in text
