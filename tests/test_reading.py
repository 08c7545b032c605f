"""One typed reading of a profile (issue 26): the Mode and Execution enums, resolve_reading, and the
validation block's reading parsed once when the profile is loaded."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

import roofline
from roofline.core.errors import InvalidInputError, ProfileError, RooflineError
from roofline.core.reading import Execution, Mode, parse_execution, parse_mode
from roofline.engine import Reading, resolve_reading
from roofline.hardware import Validation, profile_to_yaml, validation_to_dict
from roofline.studies.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "reports" / "validation-cpu" / "threads-2" / "profile-run1.yaml"
H200 = ROOT / "reports" / "validation-h200" / "profile-h200.yaml"


def test_the_enums_print_write_and_compare_as_their_strings():
    assert f"{Mode.FITTED}" == "fitted" and str(Mode.CALIBRATED) == "calibrated" and "%s" % Mode.SPEC == "spec"
    assert f"{Execution.EAGER:>7}|" == "  eager|" and str(Execution.GRAPH) == "graph"
    assert Mode.AUTO == "auto" and Execution.FUSED == "fused" and {"fused": 1}[Execution.FUSED] == 1
    assert json.dumps({"m": Mode.FITTED, "e": Execution.EAGER}) == '{"m": "fitted", "e": "eager"}'
    assert pd.DataFrame({"m": [Mode.SPEC]}).to_csv(index=False) == "m\nspec\n"
    assert roofline.analyze("mnv2", "pixel8-edgetpu").to_dict()["execution"] == "fused"
    # profiles are written with the plain text (the safe YAML dumper knows no enums of its own)
    v = Validation("measured", "runs", 3, 3, 3, "real runs", 0.1, 0.8, 1.3, reading=Mode.CALIBRATED)
    assert yaml.safe_load(yaml.safe_dump({"v": str(v.reading)})) == {"v": "calibrated"}
    assert validation_to_dict(v)["reading"] == "calibrated" and type(validation_to_dict(v)["reading"]) is str


def test_parse_accepts_the_enum_or_its_string_and_nothing_else():
    assert parse_mode("fitted") is Mode.FITTED and parse_mode(Mode.SPEC) is Mode.SPEC
    assert parse_execution("graph") is Execution.GRAPH and parse_execution(Execution.EAGER) is Execution.EAGER
    with pytest.raises(InvalidInputError, match=r"^roofline mode must be auto, spec, fitted or calibrated, got 'bes"):
        parse_mode("best")
    with pytest.raises(InvalidInputError, match=r"got 3$"):
        parse_mode(3)
    with pytest.raises(RooflineError, match=r"^unknown execution mode 'jit'; use one of fused, eager, graph$"):
        parse_execution("jit")
    with pytest.raises(RooflineError, match=r"^unknown execution mode NoneType; use one of"):
        parse_execution(None)


def test_a_spec_only_profile_reads_spec_fused_default():
    p = roofline.load_hardware("nvidia-h100")
    r = resolve_reading(p)
    assert isinstance(r, Reading) and r.mode is Mode.SPEC and r.execution is Execution.FUSED
    assert (r.convention.name, r.dtype, r.batch) == ("default", "fp16", 1)
    assert r.roof == p.roof() and r.roof.mode is Mode.SPEC and r.roof.peak_macs_per_s == p.peak_macs_per_s["fp16"].value


@pytest.mark.parametrize("name, convention", [("pixel8-edgetpu", "default"), ("pixel6-cpu", "unfused")])
def test_a_fitted_profile_reads_as_its_fit_counted(name, convention):
    p = roofline.load_hardware(name)
    r = resolve_reading(p)
    assert r.mode is Mode.FITTED and r.roof.mode is Mode.FITTED
    assert (p.fitted.convention, p.fitted.execution) == (convention, "fused")  # what the fit counted with
    assert (r.convention.name, r.execution) == (convention, Execution.FUSED)
    assert r.roof.ridge_point == pytest.approx(p.fitted.ridge_point_macs_per_byte)


def test_a_measured_profile_reads_calibrated_and_eager():
    p = roofline.load_hardware(MEASURED)
    r = resolve_reading(p)
    assert (r.mode, r.execution, r.convention.name, r.dtype) == (Mode.CALIBRATED, Execution.EAGER, "unfused", "fp32")
    assert r.roof.ceilings == p.ceilings[0].macs_per_s and r.roof.ceilings_batch == 1


def test_explicit_choices_override_the_profile_defaults():
    fitted, measured = roofline.load_hardware("pixel8-edgetpu"), roofline.load_hardware(MEASURED)
    r = resolve_reading(fitted, "spec", execution="eager")
    assert (r.mode, r.execution, r.convention.name) == (Mode.SPEC, Execution.EAGER, "unfused")
    r = resolve_reading(fitted, Mode.FITTED, convention="unfused", execution=Execution.GRAPH, dtype="int8", batch=4)
    assert (r.mode, r.execution, r.convention.name, r.dtype, r.batch) == (Mode.FITTED, Execution.GRAPH, "unfused",
                                                                          "int8", 4)
    r = resolve_reading(measured, "spec")  # not through its ceilings: the plain defaults
    assert (r.mode, r.execution, r.convention.name) == (Mode.SPEC, Execution.FUSED, "default")
    r = resolve_reading(measured, convention="default")
    assert (r.mode, r.execution, r.convention.name) == (Mode.CALIBRATED, Execution.EAGER, "default")


def test_a_sweep_reads_spec_where_auto_would_read_calibrated():
    measured = roofline.load_hardware(MEASURED)
    r = resolve_reading(measured, sweep=True)
    assert (r.mode, r.execution, r.convention.name) == (Mode.SPEC, Execution.EAGER, "unfused")
    assert resolve_reading(roofline.load_hardware("pixel8-edgetpu"), sweep=True).mode is Mode.FITTED
    with pytest.raises(InvalidInputError, match="a sweep varies the peak or the bandwidth"):
        resolve_reading(measured, "calibrated", sweep=True)
    setup = sweep(["mnv2"], [5.0], hw=MEASURED).attrs["setup"]  # the sweep applies it
    assert setup.roofline is Mode.SPEC and setup.convention == "unfused" and "; spec roofline of" in setup.describe()


def test_a_calibrated_reading_takes_the_ceilings_of_the_traced_batch():
    p = roofline.load_hardware(H200)
    assert [c.batch for c in p.ceilings] == [1, 256]
    assert resolve_reading(p, batch=200).roof.ceilings_batch == 256
    a = roofline.analyze("mnv2", p, input_shape=(256, 3, 224, 224))  # the batch of the input shape
    assert a.roof.ceilings_batch == 256 and a.roof.ceilings == p.ceilings[1].macs_per_s
    assert roofline.analyze("mnv2", p).roof.ceilings_batch == 1


@pytest.mark.parametrize("kw, message", [
    ({"mode": "best"}, "roofline mode must be auto, spec, fitted or calibrated, got 'best'"),
    ({"execution": "jit"}, "unknown execution mode 'jit'; use one of fused, eager, graph"),
    ({"execution": 3}, "unknown execution mode 3; use one of fused, eager, graph"),
])
def test_bad_mode_or_execution_is_one_line(kw, message):
    for call in (lambda: resolve_reading(roofline.load_hardware("pixel6-cpu"), **kw),
                 lambda: roofline.analyze("mnv2", "pixel6-cpu", **kw),
                 lambda: sweep(["mnv2"], [5.0], hw="pixel6-cpu", **kw)):
        with pytest.raises(RooflineError) as e:
            call()
        assert str(e.value) == message


def test_the_cli_says_a_bad_execution_in_one_line(cli):
    code, out, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "--exec", "jit")
    assert code == 2 and err.strip().splitlines() == ["error: unknown execution mode 'jit'; use one of fused, "
                                                      "eager, graph"]


def _banded(tmp_path: Path, **block) -> Path:
    doc = yaml.safe_load(MEASURED.read_text())
    doc["validation"] = {"status": "measured", "data": "runs", "rows": 3, "models": 3, "folds": 3,
                         "heldout_median_error": 0.1, "ratio_p10": 0.8, "ratio_p90": 1.3, **block}
    f = tmp_path / "banded.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    return f


def test_an_explicit_reading_key_wins_over_the_method_text(tmp_path):
    f = _banded(tmp_path, reading="spec", method="real runs of models ..., read calibrated with eager execution")
    p = roofline.load_hardware(f)
    assert p.validation.reading is Mode.SPEC
    assert roofline.analyze("mnv2", p, mode="spec").band.validated
    assert roofline.analyze("mnv2", p).band is None  # calibrated: not the reading the runs used


def test_a_legacy_block_falls_back_to_the_method_text(tmp_path):
    p = roofline.load_hardware(_banded(tmp_path, method="real runs of models the profile's microbenchmarks never "
                                                        "ran, read spec with eager execution and convention default"))
    assert p.validation.reading is Mode.SPEC
    assert roofline.analyze("mnv2", p, mode="spec").band.validated and roofline.analyze("mnv2", p).band is None
    p = roofline.load_hardware(_banded(tmp_path, method="real runs"))  # says nothing: the default reading
    assert p.validation.reading is None
    a = roofline.analyze("mnv2", p)
    assert a.band.validated and (a.band.low_ratio, a.band.high_ratio) == (0.8, 1.3)
    assert roofline.analyze("mnv2", p, mode="spec").band is None


@pytest.mark.parametrize("bad", ["auto", "best", 3])
def test_a_bad_reading_key_names_the_field(tmp_path, bad):
    with pytest.raises(ProfileError, match=r"validation\.reading must be one of spec, fitted, calibrated, got "):
        roofline.load_hardware(_banded(tmp_path, reading=bad, method="real runs"))


def test_save_band_writes_the_reading_as_a_key(tmp_path):
    from roofline.measure.validate import ValidationRun

    p = roofline.load_hardware(MEASURED)
    analyses = {m: roofline.analyze(m, p) for m in roofline.list_models()[:9]}  # --save-band needs 9 models
    pred = [a.total_latency_s * 1e3 for a in analyses.values()]
    meas = [x * r for x, r in zip(pred, (0.9, 1.1, 1.2, 0.95, 1.0, 1.05, 0.85, 1.15, 1.3))]
    models = pd.DataFrame({"model": list(analyses), "predicted_ms": pred, "measured_ms": meas,
                           "error": [x / m - 1 for x, m in zip(pred, meas)], "macs": range(1, 10)})
    run = ValidationRun(p, "cpu", "fp32", 2, "eager", 1, False, models, pd.DataFrame(), analyses, threads=2)
    banded = run.band_profile()
    assert banded.validation.reading is Mode.CALIBRATED
    text = profile_to_yaml(banded)
    block = yaml.safe_load(text)["validation"]
    assert block["reading"] == "calibrated" and "read calibrated with eager execution" in block["method"]
    f = tmp_path / "banded.yaml"
    f.write_text(text)
    assert roofline.load_hardware(f).validation == Validation(**{**block, "terms": (), "reading": Mode.CALIBRATED})
    band = roofline.analyze("mnv2", f).band
    assert band.validated and (band.low_ratio, band.high_ratio) == (block["ratio_p10"], block["ratio_p90"])
    # the key alone decides: with the method text edited away, the band still holds for calibrated only
    f.write_text(text.replace("read calibrated with", "read spec with"))
    assert roofline.load_hardware(f).validation.reading is Mode.CALIBRATED
    assert roofline.analyze("mnv2", f).band.validated and roofline.analyze("mnv2", f, mode="spec").band is None


def _committed_profiles() -> list[Path]:
    return sorted([*ROOT.glob("hardware_profiles/*.yaml"), *ROOT.glob("reports/profile-validation/profiles/*.yaml"),
                   *ROOT.glob("reports/validation-*/**/profile*.yaml")])


@pytest.mark.parametrize("path", _committed_profiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_profiles_give_the_band_in_their_yaml(path):
    """Every committed profile loads unchanged and analyze's band is the one its YAML states."""
    doc = yaml.safe_load(path.read_text())
    p = roofline.load_hardware(path)
    assert profile_to_yaml(p) == profile_to_yaml(roofline.load_hardware(yaml.safe_load(profile_to_yaml(p))))
    a = roofline.analyze("mnv2", path)
    band = a.band
    v = doc.get("validation")
    if v is None:  # no band of its own: an estimate whose band holds it, except for raw microbenchmarks
        assert "reading" not in profile_to_yaml(p) and band is None
        assert (a.estimate is None) == (p.status == "measured, unvalidated")
        return
    assert "reading" not in v and p.validation.reading is None  # no shipped block says one: the default reading
    assert band.validated
    family = p.fitted.family_factor("mnv2") if p.fitted and p.fitted.family else ("", 1.0)
    if family is None and "new_family_ratio_p10" in v:
        assert (band.low_ratio, band.high_ratio) == (v["new_family_ratio_p10"], v["new_family_ratio_p90"])
    else:
        assert (band.low_ratio, band.high_ratio) == (v["ratio_p10"], v["ratio_p90"])


def test_a_roof_holds_a_mode():
    from roofline.hardware import Roof

    assert Roof(2e12, 6.8e10, "int8", "spec").mode is Mode.SPEC
    with pytest.raises(InvalidInputError, match="not auto"):
        Roof(2e12, 6.8e10, "int8", "auto")
    assert replace(resolve_reading(roofline.load_hardware("nvidia-h100")).roof, dtype="fp32").mode is Mode.SPEC
