"""Issue 29, points 5, 6, 10, 11 and 15: tables never import modules, user text is never rich markup,
table cells follow the command line's number rule, YAML on stdout keeps the report off it, and one
model argument means the same in every command."""

from __future__ import annotations

import pytest
import yaml

from roofline.core.errors import RooflineError
from roofline.fit.measurements import Columns, read_measurements
from roofline.hardware.transfer import derive

MODEL_FILE = """
from torch import nn
def factory():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
"""


def _table(tmp_path, text: str, name: str = "t.csv"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


# --- 5: a table names models; it never imports a module -------------------------------------------

@pytest.mark.parametrize("cell", ["builtins:input", "os:abort", "code:interact", "roofline.cli:main"])
def test_table_module_cells_are_refused_naming_the_line(tmp_path, cell, monkeypatch):
    import importlib

    imported = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda n, *a: imported.append(n) or real(n, *a))
    f = _table(tmp_path, f"model,ms\nmnv2,2\n{cell},3\nmnv1,4\n")
    with pytest.raises(RooflineError) as e:
        read_measurements(f)
    assert str(e.value).startswith(f"{f}: line 3: model '{cell}' names a module to import")
    assert imported == []


def test_fit_cli_refuses_a_module_cell_before_any_work(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _table(tmp_path, "model,ms\nmnv2,2\nmnv1,3\nos:abort,4\n")
    code, out, err = cli("fit", "t.csv")
    assert code == 2 and out == ""
    assert err.splitlines() == ["error: t.csv: line 4: model 'os:abort' names a module to import; a data file "
                                "runs code only from a model file named by its path (path/to/file.py:factory); "
                                "give module:factory models on the command line (--model)"]


def test_table_model_file_by_its_path_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynet.py").write_text(MODEL_FILE)
    df = read_measurements(_table(tmp_path, "model,ms\nmynet.py:factory,2\nmnv2,3\n"))
    assert df["model"].tolist() == ["mynet.py:factory", "mnv2"]
    with pytest.raises(RooflineError, match=r"line 2: model file gone.py does not exist"):
        read_measurements(_table(tmp_path, "model,ms\ngone.py:factory,2\n"))


def test_report_folder_module_names_are_refused(tmp_path):
    from roofline.measure.validate import load_validation

    folder = tmp_path / "rep"
    folder.mkdir()
    (folder / "validation.json").write_text('{"predicted_with": {}, "dtype": "fp32", "batch": 1}')
    (folder / "models.csv").write_text("model,predicted_ms\nos:abort,1.0\n")
    (folder / "layers.csv").write_text("model\n")
    with pytest.raises(RooflineError, match=r"models.csv: model 'os:abort' names a module to import"):
        load_validation(folder, "rtx3090")


# --- 6: user text printed through rich is text, never markup ----------------------------------------

def test_markup_in_names_prints_as_written(cli, tmp_path):
    folder = tmp_path / "a["
    folder.mkdir()
    out_file = str(folder) + "/]:smile:.yaml"  # a path whose text holds [/] and an emoji code
    code, out, err = cli("derive", "x[/]y :smile: [link=http://e]z", "--like", "rtx3090", "--peak", "fp16=3e13",
                         "--bw", "9e11", "-o", out_file)
    assert code == 0, err
    assert err == f"wrote {out_file}\n"
    code, _, err = cli("derive", "plain", "--like", "rtx3090", "--peak", "fp16=3e13", "--bw", "9e11",
                       "-o", str(tmp_path / "plain.yaml"))
    assert code == 0, err
    code, out, err = cli("analyze", "mnv2", "--hw", out_file, "--hw", str(tmp_path / "plain.yaml"))
    assert code == 0, err
    assert "x[/]y :smile: [link=http://e]z" in out  # the profile column never wraps


def test_rendered_text_keeps_markup_characters():
    from rich.table import Table

    from roofline.cli.views import _as_text

    t = Table(title="[/] :smile:")
    t.add_column("[bold]m")
    t.add_row("a[/]b :smile: [link=x]c")
    text = _as_text(t)
    assert "[/] :smile:" in text and "[bold]m" in text and "a[/]b :smile: [link=x]c" in text


# --- 10: tables follow the command line's rules --------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("model,ms\nmnv2,٥\n", "line 2: ms '٥': write numbers with ASCII digits (0-9)"),
    ("model,ms\nmnv2,５\n", "line 2: ms '５': write numbers with ASCII digits (0-9)"),
    ("model,ms\nmnv2,1_000\n", "line 2: ms '1_000': write numbers with ASCII digits (0-9), without _"),
    ("model,ms,resolution\nmnv2,3,2_24\n", "line 2: resolution '2_24': write numbers"),
    ("model,ms,ms\nmnv2,3,4\n", "line 1: column 'ms' appears twice in the header"),
    ("# c\nmodel,ms\n\"mnv2\n\",3\nmnv1,abc\n", "line 5: ms 'abc' is not a number"),  # a cell over 2 lines
    ("model,ms,width\nmnv2-0.5x,3,\nmnv2,4,0.5\n", "lines 2 and 3 both measure mnv2-0.5x at native"),
])
def test_table_cells(tmp_path, text, message):
    with pytest.raises(RooflineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_measurements(_table(tmp_path, text))


def test_width_is_part_of_the_model_group(tmp_path):
    from roofline.fit.measurements import groups_of

    df = read_measurements(_table(tmp_path, "model,ms,width,resolution\nmnv2-0.5x,3,,160\nmnv2,4,0.5,224\n"
                                            "mnv2,5,,224\nmnv2,6,1.0,160\n"))
    assert df["model"].tolist() == ["mnv2-0.5x", "mnv2-0.5x", "mnv2", "mnv2"]
    assert df["width"].tolist() == [0.5, 0.5, None, None]
    assert len(set(groups_of(df))) == 2
    with pytest.raises(RooflineError, match="line 2: model 'mnv2-0.5x' names width 0.5 but width=0.75"):
        read_measurements(_table(tmp_path, "model,ms,width\nmnv2-0.5x,3,0.75\n"))


def test_empty_column_names_are_refused(tmp_path):
    f = _table(tmp_path, "model,ms\nmnv2,3\n")
    with pytest.raises(RooflineError, match="--throughput-col names no column"):
        read_measurements(f, Columns(throughput=""))


@pytest.mark.parametrize(("args", "message"), [
    (("--terms", ""), "--terms '' names no term; give terms (kernel,inference) or none"),
    (("--terms", " , "), "--terms ' , ' names no term"),
    (("--throughput-col", ""), "--throughput-col names no column (got ''); give a column name"),
])
def test_fit_options_naming_nothing(cli, tmp_path, args, message):
    f = _table(tmp_path, "model,ms\nmnv2,3\nmnv1,4\nmnv3-l,5\n")
    code, out, err = cli("fit", str(f), *args)
    assert code == 2 and out == "" and err.startswith(f"error: {message}") and err.count("\n") == 1


@pytest.mark.parametrize(("name", "message"), [
    ("", "the new profile needs a name, got ''"),
    ("a\nb", "profile name 'a\\nb' must be one line"),
    (" a", "must be one line of text without leading or trailing spaces"),
    ("rtx3090", "'rtx3090' is a shipped profile: --hw rtx3090 would still read the shipped one"),
])
def test_derive_new_names(name, message):
    with pytest.raises(RooflineError) as e:
        derive(name, "rtx3090", {"fp16": 3e13}, 9e11)
    assert message in str(e.value)


def test_derive_repeated_peak_is_refused(cli):
    code, out, err = cli("derive", "x", "--like", "rtx3090", "--peak", "fp16=3e13", "--peak", "fp16=4e13",
                         "--bw", "9e11")
    assert code == 2 and out == ""
    assert err == "error: --peak fp16= is given more than once; give each dtype one peak\n"
    code, out, _ = cli("derive", "x", "--like", "rtx3090", "--peak", "fp16=3e13", "--bw", "9e11")
    assert code == 0 and yaml.safe_load(out)["name"] == "x"


# --- 11: YAML on stdout, the report on stderr -------------------------------------------------------

def test_fit_yaml_on_stdout_is_yaml_alone(cli, tmp_path):
    rows = ["mnv1", "mnv2", "mnv3-l", "mnv3-s", "mnv4-conv-s", "mnv2-1.5x"]
    f = _table(tmp_path, "model,ms\n" + "".join(f"{m},{1 + i * 0.7:.2f}\n" for i, m in enumerate(rows)))
    code, out, err = cli("fit", str(f), "-o", "-", "--terms", "none", "--no-cache")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert isinstance(doc, dict) and doc["name"] == "fitted-device"
    assert "fitted 6 rows of 6 models" in err and "80 % band" in err and "fitted 6 rows" not in out


def test_profile_yaml_on_stdout_is_yaml_alone(cli, monkeypatch):
    import roofline.measure.profiler as profiler

    made = {}

    class Run:
        machine = {"cpu": "test cpu", "threads_used": 1, "date": "2024-01-01"}
        peaks, overhead, ceilings, noisy, check = {}, {}, {}, [], None
        bandwidth = copy = type("M", (), {"value": 1e10, "unit": "B/s", "spread": 0.01, "trials": 3,
                                          "what": "triad"})()

    class Roof:
        dtype, ridge_point = "fp32", 4.0

    class Prof:
        def roof(self):
            return Roof()

    def to_profile(run, name, allow_noisy):
        made["name"] = name
        return Prof()

    monkeypatch.setattr(profiler, "profile_machine", lambda *a, **k: Run())
    monkeypatch.setattr(profiler, "to_profile", to_profile)
    monkeypatch.setattr(profiler, "check_device", lambda d: None)
    import roofline.hardware as hardware

    monkeypatch.setattr(hardware, "profile_to_yaml", lambda p: "name: local-cpu\n")
    code, out, err = cli("profile", "--no-ceilings", "-o", "-")
    assert code == 0, err
    assert out == "# Measured by roofline profile on 2024-01-01\nname: local-cpu\n"
    assert "ridge point (fp32): 4.00 MACs/byte" in err and "Measured on test cpu" in err
    assert made["name"] == "local-cpu"  # not "-"


# --- 15: one model argument -----------------------------------------------------------------------

@pytest.fixture
def mynet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynet.py").write_text(MODEL_FILE)
    return "mynet.py:factory"


@pytest.mark.parametrize("command", [("analyze", "--hw", "pixel6-edgetpu"), ("trace",)])
def test_single_model_commands_take_a_model_file_positionally(cli, mynet, command):
    code, out, err = cli(command[0], mynet, *command[1:], "--format", "csv")
    assert code == 0, err
    assert "conv2d" in out or "conv" in out
    code2, out2, _ = cli(command[0], "--model", mynet, *command[1:], "--format", "csv")
    assert code2 == 0 and out2 == out


def test_model_option_takes_zoo_names(cli):
    code, out, err = cli("trace", "--model", "mnv2", "--format", "csv")
    code2, out2, _ = cli("trace", "mnv2", "--format", "csv")
    assert code == 0 and code2 == 0 and out == out2


@pytest.mark.parametrize("command", ["sweep", "pareto"])
def test_sweep_and_pareto_take_model_and_files(cli, mynet, command, tmp_path):
    code, out, err = cli(command, "--model", "mnv2", "--model", mynet, "--rp", "5", "--format", "csv",
                         *(("--accuracy", str(_acc(tmp_path))) if command == "pareto" else ()))
    assert code == 0, err
    models = {line.split(",")[0] for line in out.splitlines()[1:]}
    assert models == {"mnv2", "mynet.py:factory"}  # a model file's rows are named as it was given
    code, out2, err = cli(command, "mnv2", mynet, "--rp", "5", "--format", "csv",
                          *(("--accuracy", str(_acc(tmp_path))) if command == "pareto" else ()))
    assert code == 0 and out2 == out


def _acc(tmp_path):
    f = tmp_path / "acc.csv"
    f.write_text("model,top1\nmnv2,72.0\nmynet.py:factory,40.0\n")
    return f


def test_models_option_naming_a_model_says_so(cli):
    code, out, err = cli("sweep", "--models", "mnv2")
    assert code == 2
    assert err == ("error: unknown model group 'mnv2'; use one of paper-fig2, paper-fig3, zoo; 'mnv2' is a "
                   "model: name models as arguments or with --model\n")


def test_validate_takes_model_option(cli, mynet):
    from roofline.cli import models as cli_models

    rest, specs = cli_models._model_names(["mnv2", mynet], ["mnv1", "pkg.mod:f"])
    assert rest == ["mnv2", "mnv1"] and specs == [mynet, "pkg.mod:f"]
    code, _, err = cli("validate", "--model", "gone.py:f", "--hw", "rtx3090")
    assert code == 2 and err == "error: model file gone.py does not exist\n"


def test_one_help_text_for_every_model_option(cli):
    from roofline.cli.app import MODEL_HELP

    texts = {}
    for command in ("trace", "analyze", "report", "sweep", "pareto", "validate"):
        code, out, _ = cli(command, "--help")
        assert code == 0
        flat = " ".join(out.replace("│", " ").split())
        texts[command] = "--model" in flat and "FILE.py:FACTORY" in flat and "timm:NAME" in flat
    assert all(texts.values()), texts
    assert "FILE.py:FACTORY" in MODEL_HELP
