"""LiteRT (issue 27, items 3 and 4): TFLite graphs written without TensorFlow, ``validate`` of a ``.tflite``
file under LiteRT, ``profile --runtime litert``, and an int8 graph read at int8."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("flatbuffers")

import roofline  # noqa: E402
from roofline.core.errors import RooflineError  # noqa: E402
from roofline.core.reading import Runtime, parse_runtime  # noqa: E402
from roofline.measure import ceilings  # noqa: E402
from roofline.measure.budget import Budget  # noqa: E402
from roofline.measure.litert_profile import LiteSessions, _check, _ladder, probe_net  # noqa: E402
from roofline.measure.litert_runtime import open_interpreter  # noqa: E402
from roofline.measure.probes import count, probes  # noqa: E402
from roofline.measure.profiler import profile_machine, to_profile  # noqa: E402
from roofline.measure.tflite_build import VALID, TfliteNet  # noqa: E402
from roofline.trace import trace  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tflite"
TINY = Budget(matmul_n=256, conv_hw=14, buffer_bytes=8 << 20, trials=3, warmup=1)


def _write(net: TfliteNet, path: Path) -> Path:
    path.write_bytes(net.finish())
    return path


@pytest.mark.parametrize("int8", [False, True])
def test_written_graph_counted_by_hand_and_run(int8, tmp_path):
    net = TfliteNet(int8)
    x = net.input((1, 8, 8, 16))
    y = net.conv(x, 32, 3, act="RELU")                         # 8x8x32, 3x3x16 per output
    y = net.depthwise(y, 3, 2, multiplier=2)                   # 4x4x64, stride 2
    y = net.pool("AVERAGE_POOL_2D", y, 4, 1, VALID)            # 1x1x64
    net.outputs = [net.fc(y, 10)]
    path = _write(net, tmp_path / "g.tflite")
    rows = trace(f"tflite:{path}").layers
    assert list(rows["op"]) == ["conv2d", "dwconv2d", "pool", "fc"]
    # conv: 8*8*32 outputs x 3*3*16; depthwise: 4*4*64 outputs x 3*3; FC on a 1x1x64 map: 64*10
    assert list(rows["macs"]) == [8 * 8 * 32 * 9 * 16, 4 * 4 * 64 * 9, 0, 64 * 10]
    # weights and biases: 32*9*16 + 32; 64*9 + 64; 10*64 + 10
    assert list(rows["weight_elems"]) == [4640, 640, 0, 650]
    table = trace(f"tflite:{path}")
    assert table.dtype == ("int8" if int8 else "float32")
    if int8:  # int8 weights at 1 B, int32 biases at 4 B
        assert list(table.own_bytes()["weight_bytes"]) == [4608 + 128, 576 + 256, 0, 640 + 40]
    it = open_interpreter(str(path), None, 1)
    it.invoke()
    out = it.get_output_details()[0]
    assert list(out["shape"]) == [1, 1, 1, 10] and out["dtype"] == (np.int8 if int8 else np.float32)


@pytest.mark.parametrize("int8", [False, True])
def test_every_probe_counts_as_its_pytorch_twin(int8, tmp_path):
    """A probe written as TFLite is the layer the PyTorch probe is: same MACs and output elements, same class
    once the engine reads it; the ones TFLite has no single op for are left out."""
    from roofline.core.taxonomy import class_candidates, measured_ops

    skipped = set()
    for i, p in enumerate(probes(1, quick=True)):
        net = probe_net(p, int8)
        if net is None:
            skipped.add(p.op)
            continue
        rows = trace(f"tflite:{_write(net, tmp_path / f'p{i}.tflite')}").layers
        twin = count(p, 1)
        assert float(rows["macs"].sum()) == twin.macs, p
        assert float(rows["out_elems"].iloc[0]) == twin.out_elems, p
        row = rows.iloc[:1]
        assert p.op in class_candidates(measured_ops(row)[0], row["kernel"].iloc[0], row["groups"].iloc[0]), p
    assert skipped == {"attention", "bn", "silu", "norm"}


def test_graph_probes_count_as_written_and_read_as_their_class(tmp_path):
    """LiteRT's own probes (large depthwise convs, windowed average pools, the memory ops converted graphs have):
    counted by hand, and the engine reads each row as the probe's class."""
    from roofline.core.taxonomy import class_candidates, measured_ops
    from roofline.measure.litert_profile import COPIES, graph_probes

    seen = set()
    for i, p in enumerate(graph_probes(1, False, True)):
        net = probe_net(p, True, COPIES)
        rows = trace(f"tflite:{_write(net, tmp_path / f'g{i}.tflite')}").layers
        assert len(rows) == COPIES and len(net.outputs) == COPIES  # every copy kept: each is a graph output
        row = rows.iloc[:1]
        assert measured_ops(row)[0] == p.op or p.op in class_candidates(measured_ops(row)[0]), p
        seen.add(p.op)
        if p.op == "softmax":  # a classifier's: rows of 1,000 logits
            assert int(row["out_elems"].iloc[0]) == p.inputs[0][1] * 1000
            continue
        b, c, h, w = p.inputs[0]
        if p.op == "dwconv_large":  # a depthwise conv: outputs x taps
            m = p.make()
            k, s = m.kernel_size[0], m.stride[0]
            assert int(row["macs"].iloc[0]) == c * (-(-h // s)) ** 2 * k * k
        if p.op == "concat":  # two maps in, one of twice the channels out
            assert int(row["in_elems"].iloc[0]) == 2 * c * h * w and int(row["out_elems"].iloc[0]) == 2 * c * h * w
        if p.op == "pad":  # one pixel on each side
            assert int(row["out_elems"].iloc[0]) == c * (h + 2) * (w + 2)
    assert seen == {"dwconv_large", "avgpool", "softmax", "mul", "sigmoid", "concat", "pad", "copy"}
    assert "copy" not in {p.op for p in graph_probes(1, True, False)}  # QUANTIZE only in an int8 profile


def test_variants_large_depthwise_and_windowed_average_pool():
    import pandas as pd

    from roofline.core.taxonomy import measured_ops

    rows = pd.DataFrame({"op": ["dwconv2d", "dwconv2d", "dwconv2d", "pool", "pool", "pool"],
                         "aten": ["", "", "", "tflite::average_pool_2d", "aten::avg_pool2d",
                                  "aten::adaptive_avg_pool2d"],
                         "in_shape": ["1x32x56x56", "1x32x56x56", "1x32x56x56", "1x32x28x28", "1x32x28x28",
                                      "1x32x28x28"],
                         "out_shape": ["1x32x56x56", "1x32x56x56", "1x64x28x28", "1x32x28x28", "1x32x28x28",
                                       "1x32x1x1"],
                         "kernel": ["5x5", "7x7", "7x7", "", "", ""]})
    # a depthwise conv of more outputs than inputs stays dwconv_mult whatever its taps; a global pool stays pool
    assert measured_ops(rows) == ["dwconv2d", "dwconv_large", "dwconv_mult", "avgpool", "avgpool", "pool"]


def test_the_synthetic_networks_run(tmp_path):
    for name, net in (("ladder", _ladder(28, True)), ("check", _check(False))):
        path = _write(net, tmp_path / f"{name}.tflite")
        open_interpreter(str(path), None, 1).invoke()
    rows = trace(f"tflite:{tmp_path / 'ladder.tflite'}").layers
    # 8 inverted residuals of 3 convs, and an add where the stride is 1 and the widths agree (4 of them)
    assert len(rows) == 8 * 3 + 4


def test_profile_through_litert_without_ceilings():
    run = profile_machine("cpu", ("int8", "fp32"), threads=1, quick=True, ceilings=False, budget=TINY,
                          runtime="litert")
    assert run.runtime is Runtime.LITERT and set(run.peaks) == {"fp32", "int8"}
    assert run.peak_details["int8"]["matmul"].what == "LiteRT FULLY_CONNECTED 256x256x256 int8"
    assert "LiteRT CONV_2D 1x14x14x256 -> 256, 3x3, int8" in run.peak_details["int8"]["conv"].what
    assert run.ceilings_dtype == "int8"  # the first --dtype: a profile for int8 graphs
    assert set(run.overhead) == {"inference", "litert"}
    prof = to_profile(run, "litert-here", allow_noisy=True)  # what it holds, not how quiet the host was
    assert str(prof.machine["runtime"]).startswith("litert ") and "LiteRT" in prof.description
    k = prof.overhead.per_kernel_s
    assert k["fused"].confidence == "measured" and k["eager"].confidence == "low"
    assert prof.default_dtype == "fp32" and prof.overhead.fresh_memory_s_per_byte is None


def test_ceilings_through_litert(monkeypatch):
    from torch import nn

    from roofline.measure.probes import Probe

    grid = [Probe("conv1x1", lambda c=c: nn.Conv2d(c, c, 1, bias=False), ((1, c, 14, 14),)) for c in (16, 64, 128)]
    grid += [Probe("add", lambda: None, ((1, c, 28, 28),)) for c in (16, 64, 128)]  # no TFLite op: left out
    grid += [Probe("activation", nn.ReLU, ((1, c, 28, 28),)) for c in (16, 64, 128)]
    monkeypatch.setattr(ceilings, "probes", lambda batch, quick: iter(grid))
    pads = [Probe("pad", lambda: nn.ZeroPad2d(1), ((1, c, 14, 14),)) for c in (16, 32, 64)]  # LiteRT's own
    monkeypatch.setattr(LiteSessions, "extra_probes", lambda self, batch, quick: iter(pads))
    with LiteSessions(1, "int8") as s:
        fits = ceilings.measure_class_fits("cpu", "int8", 1, 3, 1e10, 1e12, sessions=s)
    assert set(fits) == {"conv1x1", "activation", "pad"} and fits["pad"].unit == "B/s"
    assert fits["conv1x1"].unit == "MAC/s" and fits["activation"].unit == "B/s"
    assert fits["conv1x1"].shapes == 3 and fits["conv1x1"].rate > 0


def test_an_int8_graph_reads_at_int8():
    hw = {"name": "npu", "kind": "npu", "default_dtype": "fp32", "peak_macs_per_s": {"fp32": 1e11, "int8": 4e11},
          "mem_bw_bytes_per_s": 1e10}
    a8 = roofline.analyze(str(FIXTURES / "mnv1_025_96_int8.tflite"), hw, estimate=False)
    af = roofline.analyze(str(FIXTURES / "mnv1_025_96_float.tflite"), hw, estimate=False)
    assert a8.dtype == "int8" and af.dtype == "fp32"
    assert roofline.analyze(str(FIXTURES / "mnv1_025_96_int8.tflite"), hw, dtype="fp32", estimate=False).dtype == "fp32"
    only_fp32 = dict(hw, peak_macs_per_s={"fp32": 1e11})
    assert roofline.analyze(str(FIXTURES / "mnv1_025_96_int8.tflite"), only_fp32, estimate=False).dtype == "fp32"


def test_validate_a_tflite_file_under_litert():
    from roofline.measure.validate import validate

    hw = {"name": "cpu-spec", "kind": "cpu", "default_dtype": "fp32", "peak_macs_per_s": {"fp32": 1e11, "int8": 4e11},
          "mem_bw_bytes_per_s": 1e10}
    model = str(FIXTURES / "mnv1_025_96_int8.tflite")
    v = validate([model], hw, runs=3, processes=1, threads=1)
    assert v.execution == "litert" and list(v.models["model"]) == [roofline.trace(model).model]
    row = v.models.iloc[0]
    assert 0 < row["measured_ms"] < 1e3 and row["error"] == pytest.approx(row["predicted_ms"] / row["measured_ms"] - 1)
    assert v.analyses[row["model"]].dtype == "int8"
    assert v.layers.empty and sum("end to end only" in w for w in v.warnings) == 1


def test_runtime_mismatches_are_one_line(cli_error):
    model = str(FIXTURES / "mnv1_025_96_int8.tflite")
    err = cli_error("validate", model, "--hw", "pixel8-edgetpu", "--runtime", "onnxruntime")
    assert "a TFLite file: it runs under LiteRT" in err
    err = cli_error("profile", "--runtime", "litert", "--dtype", "fp16")
    assert "measures fp32 and int8, not fp16" in err
    err = cli_error("profile", "--runtime", "torch", "--dtype", "int8")  # its ceilings are float ones
    assert "give --dtype fp32,int8, or --no-ceilings" in err
    err = cli_error("profile", "--runtime", "onnxruntime", "--dtype", "fp16")
    assert "measures fp32 and int8, not fp16" in err
    assert parse_runtime("litert") is Runtime.LITERT


def test_without_the_extra_validate_names_it(cli_error, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    with pytest.raises(RooflineError, match="tflite extra"):
        open_interpreter(str(FIXTURES / "mnv1_025_96_int8.tflite"), None, 1)
    err = cli_error("validate", str(FIXTURES / "mnv1_025_96_int8.tflite"), "--hw", "pixel8-edgetpu")
    assert 'pip install -e ".[tflite]"' in err


@pytest.mark.parametrize("threads", [2, 1])
def test_committed_litert_report_follows_from_its_profile(threads, tmp_path):
    """Regression snapshot: reports/validation-litert-int8 (benchmarks/litert_validate.sh). The profile's own
    self-check network, written again, is predicted as the profile recorded it with today's reader and engine;
    every row adds up; the measured side meets issue 27's bars (median <= 15 %, worst <= 35 %, Spearman >= 0.9)
    over at least 6 int8 models."""
    import pandas as pd

    from roofline.core.stats import spearman

    folder = Path(__file__).resolve().parents[1] / "reports" / "validation-litert-int8" / f"threads-{threads}"
    profile = roofline.load_hardware(folder / "profile-run1.yaml")
    assert profile.machine["threads_used"] == threads and str(profile.machine["runtime"]).startswith("litert ")
    assert profile.default_dtype == "int8" and {"dwconv_large", "avgpool", "mul"} <= set(profile.ceilings[0].bytes_per_s
                                                                                       | profile.ceilings[0].macs_per_s)
    check = _write(_check(True), tmp_path / "check.tflite")
    a = roofline.analyze(f"tflite:{check}", profile, mode="calibrated", execution="fused")
    assert a.dtype == "int8"
    assert a.total_latency_s == pytest.approx(float(profile.machine["self_check_predicted_s"]), rel=5e-4)
    m = pd.read_csv(folder / "models.csv")
    assert len(m) >= 6 and all(m["model"].str.endswith("_int8.tflite"))
    assert (m["roofline_ms"] + m["overhead_ms"]).to_numpy() == pytest.approx(m["predicted_ms"].to_numpy(), rel=1e-6)
    err = m["predicted_ms"] / m["measured_ms"] - 1
    assert err.abs().median() <= 0.15 and err.abs().max() <= 0.35
    assert spearman(m["predicted_ms"], m["measured_ms"]) >= 0.9


def test_a_litert_profile_reads_in_its_ceilings_dtype(monkeypatch):
    """``--dtype int8,fp32``: int8 ceilings and both peaks; the profile's default dtype is its ceilings' (a
    calibrated reading needs them), and an int8 graph reads through them."""
    from torch import nn

    from roofline.measure.probes import Probe

    grid = [Probe("conv1x1", lambda c=c: nn.Conv2d(c, c, 1, bias=False), ((1, c, 14, 14),)) for c in (16, 64, 128)]
    grid += [Probe("activation", nn.ReLU, ((1, c, 28, 28),)) for c in (16, 64, 128)]
    monkeypatch.setattr(ceilings, "probes", lambda batch, quick: iter(grid))
    monkeypatch.setattr(LiteSessions, "extra_probes", lambda self, batch, quick: iter(()))
    run = profile_machine("cpu", ("int8", "fp32"), threads=1, quick=True, budget=TINY, runtime="litert")
    prof = to_profile(run, "litert-int8", allow_noisy=True)
    assert run.ceilings_dtype == "int8" and set(prof.peak_macs_per_s) == {"int8", "fp32"}
    assert prof.default_dtype == "int8" and set(prof.ceilings[0].macs_per_s) == {"conv1x1"}
    a = roofline.analyze(str(FIXTURES / "mnv1_025_96_int8.tflite"), prof, estimate=False)
    assert a.dtype == "int8" and a.roof.mode == "calibrated"
    assert "written as a TFLite graph, under LiteRT" in run.check["network"] and run.check["measured_s"] > 0
