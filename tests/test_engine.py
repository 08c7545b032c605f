"""Hardware profiles, conventions, the roofline engine and `roofline analyze`."""

import json
import math
import os

import numpy as np
import pytest
from torch import nn

import roofline
from roofline.engine import roofline_times
from roofline.core.errors import ProfileError, RooflineError, UnknownHardwareError
from roofline.hardware import Roof

REQUIRED = ["pixel6-cpu", "s23-cpu", "pixel4-dsp", "pixel6-edgetpu", "pixel7-edgetpu", "pixel8-edgetpu",
            "s23-gpu", "pixel7-gpu", "iphone13-ane", "a17pro-ane", "coral-usb", "jetson-orin-nano",
            "rpi5-cpu", "nvidia-a100", "nvidia-h100", "nvidia-h200"]

TOY = {"name": "toy", "kind": "cpu", "default_dtype": "int8",
       "peak_macs_per_s": {"int8": 1e9, "fp32": 2.5e8}, "mem_bw_bytes_per_s": 1e8}


def test_builtin_profiles_cover_every_kind():
    names = roofline.list_hardware()
    assert set(REQUIRED) <= set(names)
    kinds = {roofline.load_hardware(n).kind for n in names}
    assert kinds == {"cpu", "gpu", "dsp", "npu"}
    for n in names:
        p = roofline.load_hardware(n)
        assert p.mem_bw_bytes_per_s.source and p.mem_bw_bytes_per_s.confidence
        assert all(f.source and f.confidence for f in p.peak_macs_per_s.values())


def test_fitted_profiles_read_fitted_by_default_and_spec_on_request():
    for name in ("pixel6-cpu", "s23-cpu", "pixel4-dsp", "pixel8-edgetpu"):
        p = roofline.load_hardware(name)
        assert p.roof().mode == "fitted" and math.isclose(p.roof().ridge_point, p.fitted.ridge_point_macs_per_byte)
        assert p.roof(mode="spec").mode == "spec"
        assert p.roof(mode="spec").peak_macs_per_s == p.peak_macs_per_s[p.default_dtype].value


def test_hand_computed_layers():
    # conv 3x3, 8 -> 16 channels, 10x10, no bias: 115,200 MACs, 1,152 weight bytes (int8),
    # 800 input + 1,600 output activation bytes
    m = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(),
                      nn.Conv2d(16, 16, 1, bias=False))
    a = roofline.analyze(m, TOY, input_shape=(1, 8, 10, 10))
    l0, l1 = a.layers.iloc[0], a.layers.iloc[1]
    assert (l0["macs"], l0["weight_bytes"], l0["activation_bytes"]) == (115_200, 1152, 800 + 1600)
    assert l0["mac_time_s"] == pytest.approx(115_200 / 1e9)
    assert l0["mem_time_s"] == pytest.approx((1152 + 2400) / 1e8)
    # 115.2 us of MACs against 35.5 us of memory traffic: compute-bound
    assert l0["latency_s"] == max(l0["mac_time_s"], l0["mem_time_s"]) and l0["bound"] == "compute"
    # 1x1 conv 16 -> 16: 25,600 MACs, 256 weight bytes, 1,600 + 1,600 activation bytes
    assert (l1["macs"], l1["weight_bytes"], l1["activation_bytes"]) == (25_600, 256, 3200)
    assert l1["latency_s"] == pytest.approx((256 + 3200) / 1e8) and l1["bound"] == "memory"  # 34.6 > 25.6 us
    assert a.total_latency_s == pytest.approx(l0["latency_s"] + l1["latency_s"])
    # fp32: 4 bytes per element and the fp32 peak
    a32 = roofline.analyze(m, TOY, input_shape=(1, 8, 10, 10), dtype="fp32")
    assert a32.layers.iloc[0]["weight_bytes"] == 4 * 1152
    assert a32.layers.iloc[0]["mac_time_s"] == pytest.approx(115_200 / 2.5e8)
    # the paper's convention: input activations only
    ap = roofline.analyze(m, TOY, input_shape=(1, 8, 10, 10), convention="mnv4-paper")
    assert ap.layers["activation_bytes"].tolist() == [800, 1600]


def test_convention_and_trace_must_agree_on_fusion():
    with pytest.raises(RooflineError, match="needs a trace with fuse=False"):
        roofline.analyze(roofline.trace("mnv2"), TOY, convention="unfused")
    unfused = roofline.analyze("mnv2", TOY, convention="unfused")
    fused = roofline.analyze("mnv2", TOY)
    assert unfused.totals["macs"] == fused.totals["macs"]
    assert unfused.totals["activation_bytes"] > fused.totals["activation_bytes"]  # BN/ReLU6 write too


def test_compute_bound_layer():
    a = roofline.analyze(nn.Linear(1024, 1024, bias=False), {**TOY, "mem_bw_bytes_per_s": 1e12},
                         input_shape=(64, 1024))
    r = a.layers.iloc[0]
    assert r["bound"] == "compute" and r["latency_s"] == pytest.approx(64 * 1024 * 1024 / 1e9)
    assert r["intensity_macs_per_byte"] == pytest.approx(64 * 1024 * 1024 / (1024 * 1024 + 2 * 64 * 1024))


def test_ridge_point_zero_is_macs_only():
    a = roofline.analyze("mnv4-conv-s", TOY)
    macs = a.layers["macs"].to_numpy(np.float64)
    byts = (a.layers["weight_bytes"] + a.layers["activation_bytes"]).to_numpy()
    _, mem, lat = roofline_times(macs, byts, 1e9, np.inf)
    assert lat.sum() == macs.sum() / 1e9 and not mem.any()
    huge = roofline.analyze("mnv4-conv-s", {**TOY, "mem_bw_bytes_per_s": 1e17})
    assert huge.total_latency_s == pytest.approx(186_005_568 / 1e9, rel=1e-9)


def test_on_chip_weights():
    a = roofline.analyze("mnv4-conv-s", "coral-usb", on_chip=True)  # 3.8 MB of int8 weights < 8 MiB
    assert a.layers["weight_bytes"].sum() == 0
    # the Edge TPU keeps activations on chip: only the 3x224x224 input and the 1000 logits cross USB
    assert a.layers["activation_bytes"].sum() == 3 * 224 * 224 + 1000
    assert "activations kept on chip" in a.assumptions()
    off = roofline.analyze("mnv4-conv-s", "coral-usb")
    assert off.layers["activation_bytes"].sum() == off.table.layers[["in_elems", "out_elems"]].sum().sum()
    b = roofline.analyze("mnv4-conv-l", "coral-usb", on_chip=True)  # 32.6 MB: only the first layers fit
    full = roofline.analyze("mnv4-conv-l", "coral-usb")
    cached = full.layers["weight_bytes"].sum() - b.layers["weight_bytes"].sum()
    assert 0 < cached <= 8 * 1024 * 1024
    with pytest.raises(RooflineError, match="no on_chip_bytes"):
        roofline.analyze("mnv2", "pixel7-gpu", on_chip=True)


def test_notebook_api(tmp_path):
    r = roofline.analyze("mnv4-hybrid-l", hw="pixel8-edgetpu")
    # the roofline plus the profile's fitted overheads: a cost per kernel and one per inference
    p = roofline.load_hardware("pixel8-edgetpu")
    eq1 = roofline.analyze("mnv4-hybrid-l", hw="pixel8-edgetpu", overhead=False)
    assert r.roofline_latency_s == eq1.total_latency_s
    per_kernel = p.overhead.kernel_cost(r.latency.execution).value
    g = p.fitted.family["mobilenetv4"]  # the fit's multiplier for the MobileNetV4 family on this device
    assert r.family == ("mobilenetv4", g)
    assert r.total_latency_s == pytest.approx(
        g * (eq1.total_latency_s + r.layers["kernels"].sum() * per_kernel + p.overhead.inference_s), rel=1e-12)
    s = r.summary()
    assert s["macs"] == 7_711_877_120 and s["params"] == 37_764_624
    assert f"convention: {p.fitted.convention}" in repr(r) and "<table" in r._repr_html_()
    fig = r.plot(tmp_path / "roofline.png")
    assert (tmp_path / "roofline.png").stat().st_size > 10_000 and fig.axes[0].get_xscale() == "log"
    r.plot_layers(tmp_path / "layers.svg")
    assert (tmp_path / "layers.svg").read_text().startswith("<?xml")


def test_json_keys_are_stable(cli, tmp_path):
    f = tmp_path / "a.json"
    code, _, err = cli("analyze", "mnv4-conv-s", "--hw", "pixel6-cpu", "--format", "json", "-o", str(f))
    assert code == 0, err
    doc = json.loads(f.read_text())
    assert {"model", "hardware", "convention", "totals", "layers"} <= set(doc)
    assert set(doc["totals"]) == {"macs", "params", "weight_bytes", "activation_bytes", "kernels",
                                  "roofline_latency_s", "overhead_s", "latency_s", "latency_low_s",
                                  "latency_high_s", "latency_is_lower_bound", "estimate_s", "estimate_low_s",
                                  "estimate_high_s"}
    assert set(doc["layers"][0]) == {"name", "op", "macs", "weight_bytes", "activation_bytes",
                                     "mac_time_s", "mem_time_s", "kernels", "overhead_s", "family_multiplier",
                                     "latency_s", "bound"}
    p = roofline.load_hardware("pixel6-cpu")  # the fitted overheads the profile ships
    assert doc["execution"] == "fused" and doc["per_kernel_s"] == p.overhead.kernel_cost("fused").value
    assert doc["per_inference_s"] == p.overhead.inference_s
    assert doc["totals"]["macs"] == 186_005_568


def test_cli_analyze_table_and_formats(cli):
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu", "--top", "3")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "predicted (roofline x class factors" in flat and "fitted roofline" in out and "slowest layers" in out
    fit = roofline.load_hardware("pixel8-edgetpu").fitted
    assert f"convention: {fit.convention}" in out and "1 B/element" in out
    code, out, _ = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "--spec", "--format", "csv")
    assert code == 0 and "spec roofline" in out and out.count("\n") > 60
    code, out, _ = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "--format", "markdown")
    assert code == 0 and "| name" in out


def test_compare_measured(cli):
    code, out, err = cli("analyze", "--hw", "pixel8-edgetpu", "--compare-measured", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("model,measured_ms,predicted_ms,ratio_predicted_to_measured")
    assert len(lines) == 12  # the 11 zoo models of Table 6
    assert "mnv4-conv-l,2.4," in out


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\n", "missing field 'mem_bw_bytes_per_s'"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\nmem_bw_bytes_per_s: 1.0e+9\n"
     "mem_bw_byte_per_s: 2\n", "unknown key 'mem_bw_byte_per_s' (did you mean mem_bw_bytes_per_s?)"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\nmem_bw_bytes_per_s: -5.0e+9\n",
     "mem_bw_bytes_per_s must be a finite positive number"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: fast}\nmem_bw_bytes_per_s: 1.0e+9\n",
     "peak_macs_per_s.int8 must be a number, got the string 'fast'"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\nmem_bw_bytes_per_s: 51.2\n",
     "implausibly small (below 1e+06): units are bytes per second"),
    ("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\n"
     "mem_bw_bytes_per_s: 68 GB/s\n", "units go in the key name"),
    ("name: x\nkind: tpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 1.0e+9}\nmem_bw_bytes_per_s: 1.0e+9\n",
     "kind must be one of"),
    ("name: x\nkind: cpu\ndefault_dtype: int4\npeak_macs_per_s: {int8: 1.0e+9}\nmem_bw_bytes_per_s: 1.0e+9\n",
     "default_dtype must be one of"),
    ("name: x\nkind: cpu\n  bad: [indent\n", "is not valid YAML"),
])
def test_bad_profiles(cli, tmp_path, yaml_text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ProfileError, match=None) as e:
        roofline.load_hardware(f)
    assert message in str(e.value) and str(f) in str(e.value)
    code, out, err = cli("analyze", "mnv2", "--hw", str(f))
    assert code == 2 and message in err and err.count("\n") == 1


def test_numeric_strings_from_yaml_1_1_are_numbers(tmp_path):
    f = tmp_path / "ok.yaml"  # PyYAML reads 6.83e10 (no exponent sign) as a string
    f.write_text("name: x\nkind: cpu\ndefault_dtype: int8\npeak_macs_per_s: {int8: 2e12}\nmem_bw_bytes_per_s: 6.83e10\n")
    assert roofline.load_hardware(f).roof() == Roof(2e12, 6.83e10, "int8", "spec")


def test_bad_analyze_inputs(cli, tmp_path):
    cases = [
        (("analyze", "mnv9", "--hw", "pixel6-cpu"), "unknown model 'mnv9'"),
        (("analyze", "mnv2", "--hw", "pixel9-cpu"), "did you mean pixel6-cpu"),
        (("analyze", "mnv2", "--hw", "pixel6-cpu", "--dtype", "fp16"), "has no peak for dtype fp16"),
        (("analyze", "mnv2", "--hw", "pixel6-cpu", "--dtype", "int4"), "unknown dtype 'int4'"),
        (("analyze", "mnv2", "--hw", "nvidia-h100", "--fitted"), "no fitted roofline"),
        (("analyze", "mnv2", "--hw", "pixel6-cpu", "--convention", "paper"), "unknown convention"),
        (("analyze", "mnv2"), "missing --hw"),
        (("analyze", "mnv2", "--hw", str(tmp_path / "nope.yaml")), "does not exist"),
    ]
    for args, message in cases:
        code, out, err = cli(*args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)


def test_output_errors_leave_no_file(cli, tmp_path):
    """Refused outputs are refused before any work and leave the folder as it was (also as root)."""
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", str(tmp_path / "missing" / "a.json"))
    assert code == 2 and "does not exist" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", str(blocker / "a.json"))
    assert code == 2 and f"directory {blocker} does not exist" in err
    code, _, err = cli("analyze", "mnv2", "--hw", "pixel6-cpu", "-o", str(tmp_path))
    assert code == 2 and "it is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and blocker.read_text() == "x"


def test_write_atomic_never_half_writes(tmp_path, monkeypatch):
    from roofline.core.io import write_atomic

    target = tmp_path / "out.csv"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(RooflineError, match="No space left"):
        write_atomic(target, "new contents")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_unknown_hardware_error_type():
    with pytest.raises(UnknownHardwareError, match="did you mean pixel8-edgetpu"):
        roofline.load_hardware("pixel8-edgtpu")
