"""What a researcher sees: the notebook, figures, the HTML report and the CLI views."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import roofline
from roofline.core import units
from roofline.present.plots import RooflineFigure

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
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
    for first_line in ("r.plot()", "r.plot_layers()"):  # each figure stored once, as PNG
        assert "image/png" in outputs[first_line][0] and "image/svg+xml" not in outputs[first_line][0]
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
    from roofline.studies.sweep import sweep

    s = sweep(["mnv2", "mnv1"], [0, 500])._repr_html_()
    assert "RP sweep" in s and "bandwidth 40 GB/s" in s and " ms" in s and "e+" not in s


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
    # the cross-device chart, two roofline charts and the per-layer plot; a table per profile
    assert page.svgs == 4 and page.sortable == 2
    assert all(r.startswith("#") for r in page.refs)  # no external resources: only in-page references
    assert "<script>" in text and not re.search(r"(src|href)=[\"']?(https?:|//)|url\((?!#)|@import", text)
    assert "pixel8-edgetpu" in text and "s23-cpu" in text and "Assumptions" in text
    analyses = [roofline.analyze("mnv4-hybrid-l", hw) for hw in ("pixel8-edgetpu", "s23-cpu")]
    # one row per layer per profile, marked by its bound: 187 layers each, both bounds on both profiles
    memory = [int((a.layers["bound"] == "memory").sum()) for a in analyses]
    assert [len(a.layers) for a in analyses] == [187, 187] and all(0 < m < 187 for m in memory)
    assert text.count('class="l memory"') == sum(memory)
    assert text.count('class="l compute"') == 2 * 187 - sum(memory)
    for a in analyses:  # the two totals, side by side, with their bands
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
    assert fig._repr_svg_() is None  # stored once in a notebook: PNG by default
    from roofline.present.plots import notebook_format

    try:
        notebook_format("svg")
        assert fig._repr_png_() is None and fig._repr_svg_().lstrip().startswith("<?xml")
    finally:
        notebook_format("png")
    assert fig.to_svg().lstrip().startswith("<?xml") and fig.to_png()[:4] == b"\x89PNG"
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
    svg = tmp_path / "marks.svg"
    code, _, err = cli("sweep", "mnv2", "--rp", "1:500:50", "--plot", str(svg), "--mark", "pixel8-edgetpu,s23-cpu")
    assert code == 0, err
    text = svg.read_text()  # the marks sit at the spec sheets' ridge points: 2.66e12 / 68.3e9 and 215e9 / 67.2e9
    assert "RP 38.9" in text and "RP 3.2" in text


def test_sweep_result_plots_itself_relative_to_a_model():
    from roofline.studies.sweep import sweep

    s = sweep(["mnv2", "mnv1"], [5, 50, 500])
    fig = s.plot(relative_to="mnv2")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and "relative to mnv2" in ax.get_ylabel()
    ref = [line for line in ax.get_lines() if line.get_label() == "v2"][0]
    assert list(ref.get_ydata()) == [1.0, 1.0, 1.0]  # the reference model is 1 at every RP


def test_hw_list_and_detail_print_si_prefixes_not_e_notation(cli):
    import re

    from roofline.hardware import list_hardware

    code, out, _ = cli("hw")
    assert code == 0 and "17.5 TMAC/s" in out and "51.2 GB/s" in out  # a17pro-ane: 1.75e13, 5.12e10
    for name in [None, *list_hardware()]:
        code, out, err = cli("hw", *([name] if name else []))
        assert code == 0, err
        assert not re.search(r"\de[+-]\d", out), (name, re.search(r".*\de[+-]\d.*", out).group(0))


def test_sweep_table_gives_percent_not_fractions(cli):
    code, out, err = cli("sweep", "mnv1", "--rp", "100")
    assert code == 0, err
    assert "memory-bound time" in out and "(%)" in out and "bandwidth 40 GB/s" in out
    row = next(line for line in out.splitlines() if "mnv1" in line)
    assert "79.1" in row and "0.7911" not in row  # mnv1 at RP 100: 79.1 % of Eq. 1's time memory-bound


def test_notebook_reprs_style_only_their_own_element():
    import re

    from roofline.studies.sweep import sweep

    views = {"analysis": roofline.analyze("mnv2", "pixel6-cpu")._repr_html_(),
             "layers": roofline.trace("mnv2")._repr_html_(),
             "sweep": sweep(["mnv2"], [0, 500])._repr_html_(),
             "card": roofline.model_card("mnv4-conv-m")._repr_html_()}
    for what, page in views.items():
        assert page.startswith('<div class="rl-repr"><style>'), what
        css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
        selectors = [sel.strip() for rule in re.findall(r"([^{}]+)\{", css) for sel in rule.split(",")]
        assert selectors and all(s.startswith(".rl-repr ") for s in selectors), (what, selectors)
        assert "body" not in css and "max-width: 1200px" not in css, what
    card = views["card"]
    assert "9,715,512" in card and "79.9 %" in card and "256 px" in card  # mnv4-conv-m: exact params, top-1
    assert "ModelCard(" not in card


def test_piped_output_honours_columns():
    import os
    import subprocess
    import sys

    def width(columns: str | None) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        if columns:
            env["COLUMNS"] = columns
        p = subprocess.run([sys.executable, "-m", "roofline.cli", "hw"], capture_output=True, text=True, env=env,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return max(len(line) for line in p.stdout.splitlines()), p.stdout

    assert width("70")[0] <= 70
    assert width(None)[0] <= 100
    wide, text = width("200")
    assert "spec-only, unvalidated" in text  # a wide pipe: the status no longer wraps


def test_plain_numbers_have_no_e_notation():
    assert [units.plain(x) for x in (0, 0.0123, 4.5, 19.62, 123.456, 6870.2, 2e-5)] == [
        "0", "0.0123", "4.5", "19.6", "123", "6,870", "0.00002"]


def test_analyze_all_fits_120_columns_and_never_cuts_a_name_or_number(cli):
    pytest.importorskip("timm")
    code, out, err = cli("analyze", "timm:fastvit_sa12", "--hw", "s23-cpu", "--all")
    assert code == 0, err
    lines = out.splitlines()
    assert max(map(len, lines)) <= 120
    assert "…" not in out and not re.search(r"\de[+-]\d", out)
    a = roofline.analyze("timm:fastvit_sa12", "s23-cpu")
    longest = max(a.layers["name"], key=len)
    assert longest in out  # the longest layer name, whole
    header = next(line for line in lines if line.lstrip().startswith("layer "))
    assert header.split() == ["layer", "op", "MACs", "bytes", "MAC/B", "bound", "roofline", "latency"]
    assert "overhead left out to fit 120 columns" in " ".join(out.split())
    row = next(line for line in lines if line.lstrip().startswith(longest + " "))
    r = a.layers[a.layers["name"] == longest].iloc[0]
    assert row.split()[-1] == units.plain(r.latency_s * 1e6)  # the last column, whole


def test_trace_table_never_cuts_names_or_counts_at_120_columns():
    import os
    import subprocess
    import sys

    pytest.importorskip("timm")
    env = dict(os.environ, COLUMNS="120")
    p = subprocess.run([sys.executable, "-m", "roofline.cli", "trace", "timm:fastvit_sa12"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(map(len, lines)) <= 120 and "…" not in p.stdout
    t = roofline.trace("timm:fastvit_sa12")
    longest = max(t.layers["name"], key=len)
    row = next(line for line in lines if line.lstrip().startswith(longest + " "))
    r = t.layers[t.layers["name"] == longest].iloc[0]
    assert f"{int(r.macs):,}" in row.split()  # the exact count, whole
    total = next(line for line in lines if line.lstrip().startswith("TOTAL"))
    assert f"{int(t.macs):,}" in total.split()


def test_shared_options_have_one_spelling_and_one_help_text():
    import typer

    from roofline.cli import app

    commands = typer.main.get_command(app).commands
    predicting = ("analyze", "report", "sweep", "pareto", "validate")

    def option(cmd: str, flag: str):
        return next((p for p in commands[cmd].params if flag in p.opts), None)

    shared = {"--fitted": predicting, "--convention": predicting, "--resolution": predicting,
              "--width": predicting, "--batch": predicting, "--exec": predicting, "--dtype": predicting,
              "--overhead": ("analyze", "report", "sweep", "pareto"), "--on-chip": ("analyze", "report"),
              "--calibrated": ("analyze", "report", "validate"), "--model": ("analyze", "report", "trace"),
              "--input-shape": ("analyze", "report", "trace"), "--vary": ("sweep", "pareto"),
              "--peak": ("sweep", "pareto"), "--bw": ("sweep", "pareto")}
    # where a command means something else by a shared option, its --help says so
    exceptions = {("validate", "--exec"), ("validate", "--dtype"), ("sweep", "--dtype"), ("pareto", "--dtype")}
    for flag, cmds in shared.items():
        helps = {}
        for c in cmds:
            p = option(c, flag)
            assert p is not None, f"{c} lacks {flag}"
            if (c, flag) not in exceptions:
                helps[c] = p.help
        assert len(set(helps.values())) == 1, (flag, helps)
    for c in ("sweep", "pareto"):  # left out on purpose, and said so
        assert option(c, "--calibrated") is None and "--calibrated is left out on purpose" in commands[c].help
    assert "except --exec" in commands["validate"].help


def test_help_shows_no_bool_type_and_cuts_nothing_at_80_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for cmd in ("", "models", "trace", "hw", "analyze", "derive", "report", "sweep", "pareto", "reproduce", "fit",
                "profile", "validate"):
        code, out, err = cli(*cmd.split(), "--help")
        assert code == 0, (cmd, err)
        assert "<bool>" not in out and "…" not in out, (cmd, out)
        assert max(map(len, out.splitlines())) <= 80, cmd
        if cmd == "analyze":
            assert "--compare-measured" in out and "timm:NAME" in out  # the model argument takes library names


def test_suggestions_start_with_prefix_and_substring_matches(cli):
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel8")
    assert code == 2 and "pixel8-edgetpu" in err.split("unknown hardware 'pixel8'")[1].split(",")[0], err
    code, _, err = cli("analyze", "mnv2", "--hw", "edgetpu")  # a substring of three profile names
    assert code == 2 and all(n in err for n in ("pixel8-edgetpu", "pixel6-edgetpu", "pixel7-edgetpu")), err


def test_fit_without_output_says_the_profile_was_not_saved(cli, tmp_path):
    code, _, err = cli("fit", str(ROOT / "examples" / "measured_pixel8_edgetpu.csv"), "--kind", "npu")
    assert code == 0 and "profile not saved: give -o FILE.yaml to write it" in err


def test_readme_gives_a_cpu_recipe_for_the_extras():
    text = (ROOT / "README.md").read_text()
    recipe = text[text.index("pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"):]
    # torch and torchvision from the same CPU index first, then the extras (which then pull no CUDA build)
    assert recipe.index('pip install -e ".[timm,torchvision]"') < 200
