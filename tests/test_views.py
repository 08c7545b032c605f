"""What a researcher sees: the notebook, figures, the HTML report and the CLI views."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import roofline
from roofline import units
from roofline.plots import RooflineFigure

ROOT = Path(__file__).resolve().parent.parent


def test_tour_notebook_executes_and_displays_without_magics():
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / "tour.ipynb", as_version=4)
    assert not any("%matplotlib" in c.source for c in nb.cells if c.cell_type == "code")
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    outputs = {c.source.splitlines()[0]: [set(o.get("data", {})) for o in c.outputs]
               for c in nb.cells if c.cell_type == "code"}
    errors = [f"{o['ename']}: {o['evalue']}" for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert not errors, errors
    for first_line in ("r.plot()", "r.plot_layers()"):
        assert {"image/png", "image/svg+xml"} <= outputs[first_line][0]
    assert any("image/png" in d for d in outputs[next(k for k in outputs if k.startswith("plot_accuracy"))])
    assert "text/html" in outputs['r = roofline.analyze("mnv4-hybrid-l", hw="pixel8-edgetpu")'][0]


def test_html_reprs_use_human_units():
    a = roofline.analyze("mnv4-hybrid-l", "pixel8-edgetpu")
    page = a._repr_html_()
    # the headline in human units, its 80 % band and where the band comes from
    assert f"{units.seconds(a.total_latency_s)} (80 %: " in page and "7.71 G MACs" in page and "37.8 M params" in page
    assert "leave-one-out over 19 models" in page
    assert 'class="l memory"' in page and "latency model: execution fused" in page
    assert "0.000" not in re.sub(r'data-v="[^"]*"', "", page)  # no raw seconds in the visible text
    t = roofline.trace("mnv2")._repr_html_()
    assert "301 M MACs" in t and "3.5 M params" in t
    from roofline.sweep import sweep

    s = sweep(["mnv2", "mnv1"], [0, 500])._repr_html_()
    assert "RP sweep" in s and "bandwidth 4e+10 B/s" in s and " ms" in s


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.svgs, self.sortable, self.th = [], [], 0, 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.svgs += tag == "svg"
        self.th += tag == "th"
        self.sortable += tag == "table" and "sortable" in (a.get("class") or "")
        for k in ("src", "href", "xlink:href"):
            if a.get(k):
                self.refs.append(a[k])


def test_html_report_is_one_self_contained_file(cli, tmp_path):
    out = tmp_path / "r.html"
    code, _, err = cli("report", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu", "--hw", "s23-cpu", "-o", str(out))
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    text = out.read_text()
    page = _Page()
    page.feed(text)
    assert page.svgs == 3 and page.sortable == 2  # two roofline charts and the per-layer plot; a table per profile
    assert all(r.startswith("#") for r in page.refs)  # no external resources: only in-page references
    assert "<script>" in text and not re.search(r"(src|href)=[\"']?(https?:|//)|url\((?!#)|@import", text)
    assert "pixel8-edgetpu" in text and "s23-cpu" in text and "Assumptions" in text
    assert text.count('class="l memory"') > 187  # every layer on the EdgeTPU is memory-bound
    for hw in ("pixel8-edgetpu", "s23-cpu"):  # the two totals, side by side, with their bands
        a = roofline.analyze("mnv4-hybrid-l", hw)
        assert units.seconds(a.total_latency_s) in text and units.seconds_range(*a.latency_band_s) in text


def test_sweep_at_the_profile_ridge_point_equals_analyze(cli):
    a = roofline.analyze("mnv4-hybrid-l", "pixel8-edgetpu")
    rp = repr(a.roof.ridge_point)
    code, out, err = cli("sweep", "mnv4-hybrid-l", "--rp", rp, "--hw", "pixel8-edgetpu", "--format", "csv")
    assert code == 0, err
    row = out.splitlines()[1].split(",")
    header = out.splitlines()[0].split(",")
    assert float(row[header.index("latency_s")]) == pytest.approx(a.total_latency_s, rel=1e-9)
    code, out, err = cli("sweep", "mnv2", "mnv1", "--rp", "0,500")
    assert code == 0 and "mnv1" in out and "500" in out, err


def test_default_analyze_view_fits_in_100_columns(cli):
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 100
    a = roofline.analyze("mnv4-hybrid-l", "pixel8-edgetpu")
    assert f"{units.seconds(a.total_latency_s)} (80 %" in " ".join(out.split()) and "slowest layers" in out and "By op type" in out
    code, out, _ = cli("analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu", "--all")
    assert out.count("stage4.uib_") >= 40  # every layer


def test_pareto_panels_are_chosen_and_nothing_is_dropped_silently(cli, tmp_path):
    png, svg = tmp_path / "f.png", tmp_path / "s.svg"
    code, _, err = cli("pareto", "--group", "paper-fig2", "--rp", "0:500:5", "--plot", str(png), "--panels",
                       "0,50,500", "--sweep-plot", str(svg))
    assert code == 0, err
    assert png.stat().st_size > 20_000 and svg.read_text().startswith("<?xml")
    code, _, err = cli("pareto", "--group", "paper-fig2", "--rp", "0:500:5", "--plot", str(png), "--panels", "7")
    assert code == 2 and "--panels 7: not among the --rp ridge points" in err


def test_figures_display_themselves_and_label_log_axes():
    a = roofline.analyze("mnv2", "pixel6-cpu")
    fig = a.plot()
    assert isinstance(fig, RooflineFigure) and fig._repr_png_()[:4] == b"\x89PNG"
    assert fig._repr_svg_().lstrip().startswith("<?xml")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any("layer latency" in t.get_text() for t in fig.legends[0].get_texts())  # marker-size legend
    assert "pixel6-cpu" in ax.get_title() and "int8" in ax.get_title()
    assert f"convention {a.convention.name}" in ax.get_title()


def test_sweep_plot_and_output_formats_from_the_suffix(cli, tmp_path):
    png, csv, js = tmp_path / "s.png", tmp_path / "s.csv", tmp_path / "a.json"
    code, _, err = cli("sweep", "mnv1", "mnv2", "mnv4-conv-s", "--rp", "0:500:50", "--plot", str(png),
                       "--mark", "pixel8-edgetpu,s23-cpu", "-o", str(csv))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert csv.read_text().splitlines()[0].startswith("model,rp_macs_per_byte")  # .csv picked CSV
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", str(js))
    assert code == 0 and json.loads(js.read_text())["model"] == "mnv2", err
    for args in (("sweep", "mnv2", "--rp", "0,5", "-o", str(tmp_path / "x.png")),
                 ("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", str(tmp_path / "y.pdf")),
                 ("trace", "mnv2", "-o", str(tmp_path / "z.svg"))):
        code, _, err = cli(*args)
        assert code == 2 and "writes text" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "s.csv", "s.png"]  # no text in an image
    code, _, err = cli("sweep", "mnv2", "--rp", "5,50", "--plot", str(png), "--relative-to", "mnv9")
    assert code == 2 and "unknown model 'mnv9'" in err


def test_sweep_result_plots_itself_relative_to_a_model():
    from roofline.sweep import sweep

    s = sweep(["mnv2", "mnv1"], [5, 50, 500])
    fig = s.plot(relative_to="mnv2")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and "mnv2's" in ax.get_ylabel()
    ref = [line for line in ax.get_lines() if line.get_label() == "v2"][0]
    assert list(ref.get_ydata()) == [1.0, 1.0, 1.0]  # the reference model is 1 at every RP
