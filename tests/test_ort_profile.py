"""`roofline profile --runtime onnxruntime` (issue 27, item 4): this CPU measured through ONNX Runtime."""

import json
from pathlib import Path

import pytest
from torch import nn

pytest.importorskip("onnxruntime")

import roofline  # noqa: E402
from roofline.core.errors import InvalidInputError, ProfileError, RooflineError  # noqa: E402
from roofline.core.reading import Runtime, parse_runtime  # noqa: E402
from roofline.measure import ceilings  # noqa: E402
from roofline.measure.budget import Budget  # noqa: E402
from roofline.measure.ort_profile import KernelTimer, OrtSessions, kernel_chain  # noqa: E402
from roofline.measure.overheads import CHECK_INPUT, CheckNetwork, self_check  # noqa: E402
from roofline.measure.probes import Probe  # noqa: E402
from roofline.measure.profiler import profile_machine, to_profile  # noqa: E402

MEASURED = Path(__file__).resolve().parents[1] / "reports/validation-onnxruntime/threads-1/profile-run1.yaml"
TINY = Budget(matmul_n=256, conv_hw=14, buffer_bytes=8 << 20, trials=3, warmup=1)


class _FakeSession:
    """A session whose profile is a file the test wrote: (op, microseconds) per node per run."""

    def __init__(self, path, runs: list[list[tuple[str, int]]]):
        events = []
        for run in runs:
            events.append({"cat": "Session", "name": "model_run", "dur": 1})
            events += [{"cat": "Node", "name": f"{op}_{i}_kernel_time", "dur": us, "args": {"op_name": op}}
                       for i, (op, us) in enumerate(run)]
        path.write_text(json.dumps(events))
        self.path = path

    def run(self, *_):
        return None

    def end_profiling(self) -> str:
        return str(self.path)


def test_kernel_time_leaves_out_layout_reorders(tmp_path):
    run = [("ReorderInput", 40), ("Conv", 100), ("ReorderOutput", 7)]
    t = KernelTimer(_FakeSession(tmp_path / "p.json", [run, [("ReorderInput", 40), ("Conv", 120),
                                                              ("ReorderOutput", 7)]] * 2), {}, inner=2)
    t()
    t()
    # two calls of two runs each: (100 + 120) / 2 µs of kernel time per run, the reorders left out
    assert t.seconds() == pytest.approx([110e-6, 110e-6])
    short = KernelTimer(_FakeSession(tmp_path / "q.json", [run]), {}, inner=2)
    short()
    with pytest.raises(ProfileError, match="expected the same nodes in each of 2"):
        short.seconds()


def test_the_chain_is_twenty_fused_kernels(tmp_path):
    from roofline.trace.onnx_graph import trace_onnx

    with OrtSessions(1) as s:
        path = s.export(kernel_chain(), ((1, 16, 8, 8),), "chain")
        rows = trace_onnx(path).layers
    # PyTorch runs 60 kernels (conv, BN, ReLU); the exported graph folds BN, the reader fuses the ReLU
    assert len(rows) == 20 and set(rows["op"]) == {"conv2d"} and set(rows["kernel"]) == {"1x1"}
    assert int(rows["macs"].sum()) == 20 * 16 * 16 * 8 * 8


def test_profile_through_onnx_runtime_without_ceilings():
    run = profile_machine("cpu", ("fp32", "int8"), threads=1, quick=True, ceilings=False, budget=TINY,
                          runtime="onnxruntime")
    assert run.runtime is Runtime.ONNXRUNTIME and set(run.peaks) == {"fp32", "int8"}
    assert run.peak_details["fp32"]["matmul"].what == "ONNX Runtime MatMul 256x256x256 fp32"
    assert "ONNX Runtime Conv 1x256x14x14 -> 256, 3x3" in run.peak_details["fp32"]["conv"].what
    assert run.peak_details["int8"]["matmul"].what == "ONNX Runtime MatMulInteger 256x256x256 (uint8 x int8 -> int32)"
    assert set(run.overhead) == {"inference", "onnxruntime"}  # no fresh-memory term: the arena keeps its buffers
    assert "fused into 20 kernels" in run.overhead["onnxruntime"].what
    prof = to_profile(run, "ort-here", allow_noisy=True)  # what it holds, not how quiet the host was
    assert str(prof.machine["runtime"]).startswith("onnxruntime ") and "ONNX Runtime" in prof.description
    k = prof.overhead.per_kernel_s
    assert k["fused"].value == pytest.approx(float(f"{run.overhead['onnxruntime'].value:.4g}"))
    assert k["fused"].confidence == "measured" and k["eager"].confidence == "low"
    assert prof.overhead.fresh_memory_s_per_byte is None
    assert prof.overhead.per_inference_s.value == pytest.approx(float(f"{run.overhead['inference'].value:.4g}"))


def test_ceilings_through_onnx_runtime(monkeypatch):
    grid = [Probe("conv1x1", lambda c=c: nn.Conv2d(c, c, 1, bias=False), ((1, c, 14, 14),)) for c in (16, 64, 128)]
    grid += [Probe("activation", nn.ReLU, ((1, c, 28, 28),)) for c in (16, 64, 128)]
    monkeypatch.setattr(ceilings, "probes", lambda batch, quick: iter(grid))
    with OrtSessions(1) as s:
        fits = ceilings.measure_class_fits("cpu", "fp32", 1, 3, 1e10, 1e11, sessions=s)
    assert set(fits) == {"conv1x1", "activation"}
    assert fits["conv1x1"].unit == "MAC/s" and fits["activation"].unit == "B/s"
    assert fits["conv1x1"].shapes == 3 and fits["conv1x1"].rate > 0 and fits["activation"].rate > 0


def test_self_check_predicts_the_exported_graph_fused(tmp_path):
    prof = roofline.load_hardware(MEASURED)
    with OrtSessions(1) as s:
        path = s.export(CheckNetwork().eval(), (CHECK_INPUT,), "check")
        out = self_check(prof, [2e-3] * 5, "fp32", graph=f"onnx:{path}")
        a = roofline.analyze(f"onnx:{path}", prof, mode="calibrated", execution="fused")
    assert out["predicted_s"] == pytest.approx(float(f"{a.total_latency_s:.4g}"))
    assert out["measured_s"] == 2e-3 and out["error"] == pytest.approx(round(a.total_latency_s / 2e-3 - 1, 4))
    assert "exported to ONNX, fused, under ONNX Runtime" in out["network"]


def test_bad_runtime_requests():
    with pytest.raises(RooflineError, match="measures fp32 and int8, not fp16"):
        profile_machine("cpu", ("fp16",), runtime="onnxruntime")
    with pytest.raises(InvalidInputError, match="runtime must be one of torch, onnxruntime"):
        parse_runtime("tensorrt")
    assert parse_runtime("onnxruntime") is Runtime.ONNXRUNTIME


def test_cli_profile_runtime_bad_value(cli):
    code, out, err = cli("profile", "--runtime", "tensorrt")
    assert code == 2 and "Traceback" not in err and "tensorrt" in err
    code, out, err = cli("profile", "--runtime", "onnxruntime", "--dtype", "bf16")
    assert code == 2 and "measures fp32 and int8, not bf16" in err and "Traceback" not in err


@pytest.mark.parametrize("threads", [2, 1])
def test_committed_onnxruntime_reports_follow_from_their_profile(threads, tmp_path):
    """Regression snapshot: reports/validation-onnxruntime (benchmarks/ort_validate.sh). The zoo models,
    exported as the script exports them, are predicted as the report says with today's reader and engine,
    and the measured side meets issue 27's bars (median <= 15 %, worst <= 35 %, Spearman >= 0.9)."""
    import importlib.util

    import numpy as np
    import pandas as pd

    from roofline.core.stats import spearman
    from roofline.measure.onnx_runtime import export_onnx

    root = Path(__file__).resolve().parents[1]
    folder = root / "reports" / "validation-onnxruntime" / f"threads-{threads}"
    profile = roofline.load_hardware(folder / "profile-run1.yaml")
    assert profile.machine["threads_used"] == threads and str(profile.machine["runtime"]).startswith("onnxruntime")
    m = pd.read_csv(folder / "models.csv")
    assert len(m) == 12 and all(m["model"].str.endswith(".onnx"))
    spec = importlib.util.spec_from_file_location("check_onnx_counts", root / "benchmarks" / "check_onnx_counts.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for name in ("mnv1", "mnv4-conv-m"):
        r = roofline.model_card(name).resolution
        path = export_onnx(bench.randomize(roofline.build_model(name)), (1, 3, r, r), tmp_path, name)
        a = roofline.analyze(str(path), profile, mode="calibrated", execution="fused")
        row = m[m["model"] == f"{name}.onnx"].iloc[0]
        assert a.total_latency_s * 1e3 == pytest.approx(row["predicted_ms"], rel=1e-9)
    err = m["predicted_ms"] / m["measured_ms"] - 1
    assert np.median(np.abs(err)) <= 0.15 and np.abs(err).max() <= 0.35
    assert spearman(m["predicted_ms"], m["measured_ms"]) >= 0.9


def test_validate_warns_when_the_profile_timed_another_runtime():
    from roofline.measure.validate import validate

    v = validate(["mnv3-s"], MEASURED, runs=2, processes=0, threads=1, layers=False, execution="eager")
    assert any("kernels were timed through onnxruntime, these runs are torch's" in w for w in v.warnings)


def test_a_profile_timed_through_onnx_runtime_reads_fused_by_default():
    # a PyTorch-measured profile reads eager (its probes ran eager); this one's kernels ran fused
    torch_made = Path(__file__).resolve().parents[1] / "reports/validation-cpu/threads-1/profile-run1.yaml"
    assert str(roofline.analyze("mnv1", torch_made).latency.execution) == "eager"
    a = roofline.analyze("mnv1", MEASURED)
    assert str(a.latency.execution) == "fused" and a.convention.name == "default"
    assert str(roofline.analyze("mnv1", MEASURED, execution="eager").latency.execution) == "eager"  # on request
