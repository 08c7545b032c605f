"""The latency model (Eq. 1 plus per-kernel and per-inference costs), its profiles and its fit."""

from pathlib import Path

import numpy as np
import pytest
from torch import nn

import roofline
from roofline.engine import kernel_counts, kernel_overheads
from roofline.core.errors import ProfileError, RooflineError
from roofline.hardware import KernelCost, load_hardware

BASE = {"name": "toy", "kind": "cpu", "default_dtype": "fp32", "peak_macs_per_s": {"fp32": 1e9},
        "mem_bw_bytes_per_s": 1e9}


class ConvBNReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def test_conv_bn_relu_is_one_fused_kernel_and_three_eager_ones():
    fused = roofline.trace(ConvBNReLU(), (1, 8, 10, 10))
    unfused = roofline.trace(ConvBNReLU(), (1, 8, 10, 10), fuse=False)
    assert len(fused) == 1 and fused.layers.loc[0, "fused"] == "bn,relu"
    assert list(kernel_counts(fused.layers, "fused")) == [1]
    assert list(kernel_counts(fused.layers, "eager")) == [3]
    assert list(kernel_counts(fused.layers, "graph")) == [3]
    assert list(unfused.layers["op"]) == ["conv2d", "bn", "relu"]
    assert list(kernel_counts(unfused.layers, "eager")) == [1, 1, 1]
    # per-op-class costs: the conv pays its own, its fused BN and ReLU the elementwise one when eager
    cost = KernelCost(1e-6, by_op={"conv2d": 5e-6, "elementwise": 2e-6})
    assert kernel_overheads(fused.layers, cost, "fused")[0] == pytest.approx(5e-6)
    assert kernel_overheads(fused.layers, cost, "eager")[0] == pytest.approx(5e-6 + 2 * 2e-6)
    assert list(kernel_overheads(unfused.layers, cost, "eager")) == pytest.approx([5e-6, 2e-6, 2e-6])


def test_overhead_terms_on_a_hand_computed_layer():
    # conv 3x3 8 -> 16 on 10x10, fp32: 115,200 MACs -> 115.2 µs at 1e9 MAC/s; bytes: weights
    # 1,152 x 4 + BN folded into a 16-element bias x 4, activations (800 + 1,600) x 4 = 14,272 B -> 14.3 µs
    hw = {**BASE, "overhead": {"per_kernel_s": {"fused": 10e-6, "eager": {"value": 20e-6}},
                               "per_inference_s": {"value": 1e-3, "source": "hand", "confidence": "low"},
                               "fresh_memory_s_per_byte": 1e-9}}
    a = roofline.analyze(ConvBNReLU(), hw, input_shape=(1, 8, 10, 10))
    r = a.layers.iloc[0]
    assert r["roofline_s"] == pytest.approx(115.2e-6) and r["kernels"] == 1
    assert r["overhead_s"] == pytest.approx(10e-6) and r["latency_s"] == pytest.approx(125.2e-6)
    assert a.total_latency_s == pytest.approx(125.2e-6 + 1e-3)
    assert a.latency.execution == "fused" and "10 µs per kernel" in a.assumptions()
    # eager: three aten ops with unfused bytes; BN reads 4 x 16 vectors, ReLU none
    e = roofline.analyze(ConvBNReLU(), hw, input_shape=(1, 8, 10, 10), execution="eager")
    assert e.convention.name == "unfused" and list(e.layers["kernels"]) == [1, 1, 1]
    bn_bytes = (1600 + 1600 + 64) * 4
    assert e.layers["roofline_s"].tolist() == pytest.approx([115.2e-6, bn_bytes / 1e9, 3200 * 4 / 1e9])
    # per inference, eager only: fresh memory for the largest layer's activations, BN's 3,200 elements
    assert e.total_latency_s == pytest.approx(e.layers["roofline_s"].sum() + 3 * 20e-6 + 1e-3 + 12_800e-9)
    # Eq. 1 alone on request, bit for bit
    q = roofline.analyze(ConvBNReLU(), hw, input_shape=(1, 8, 10, 10), overhead=False)
    assert q.total_latency_s == r["roofline_s"] and q.latency.is_eq1


def test_no_overhead_block_is_exactly_eq1():
    a = roofline.analyze("mnv2", "nvidia-h100")  # a spec-only profile: no overhead block
    assert (a.layers["latency_s"] == np.maximum(a.layers["mac_time_s"], a.layers["mem_time_s"])).all()
    assert a.overhead_s == 0 and "overhead terms: none" in a.assumptions()
    with pytest.raises(RooflineError, match="no overhead block"):
        roofline.analyze("mnv2", "nvidia-h100", overhead=True)
    with pytest.raises(RooflineError, match="unknown execution mode 'jit'"):
        roofline.analyze("mnv2", "nvidia-h100", execution="jit")


def test_ceilings_keyed_by_batch():
    hw = {**BASE, "peak_macs_per_s": {"fp32": 1e12}, "mem_bw_bytes_per_s": 1e15,
          "ceilings": [{"batch": 1, "macs_per_s": {"conv1x1": 1e9}},
                       {"batch": 256, "macs_per_s": {"conv1x1": 1e11}, "bytes_per_s": {"bn": 1e12}}]}
    p = load_hardware(hw)
    assert p.ceilings_for(1).batch == 1 and p.ceilings_for(8).batch == 1 and p.ceilings_for(64).batch == 256
    for batch, rate in ((1, 1e9), (200, 1e11)):
        a = roofline.analyze("mnv2", hw, mode="calibrated", batch=batch)
        assert a.roof.ceilings_batch == (1 if batch == 1 else 256)
        r = a.layers[(a.layers["op"] == "conv2d") & (a.layers["kernel"] == "1x1")].iloc[0]
        assert r["mac_time_s"] == pytest.approx(r["macs"] / rate)


@pytest.mark.parametrize(("patch", "message"), [
    ({"peak_macs_per_s": {"fp32": 1e20}}, "implausibly large"),
    ({"mem_bw_bytes_per_s": 5e17}, "implausibly large"),
    ({"overhead": {"per_kernel_s": {"eager": 5.0}}}, "implausibly large (above 1 s)"),
    ({"overhead": {"per_kernel_s": {"eager": -1e-6}}}, "must be a finite positive number"),
    ({"overhead": {"per_kernel_s": {"jit": 1e-6}}}, "unknown execution mode 'jit'"),
    ({"overhead": {"per_inference_s": 120}}, "implausibly large (above 60 s)"),
    ({"overhead": {"per_kernel_s": {"eager": {"value": 1e-6, "by_op": {"conv2d": "3 us"}}}}}, "must be a number"),
    ({"overhead": {"per_kernel": 1e-6}}, "unknown key overhead.'per_kernel'"),
    ({"ceilings": [{"batch": 0, "macs_per_s": {"fc": 1e9}}]}, "positive integer"),
    ({"ceilings": [{"batch": 1, "macs_per_s": {"fc": 1e-300}}]}, "implausibly small"),
    ({"ceilings": [{"batch": 1, "macs_per_s": {"fc": 1e9}}, {"batch": 1, "macs_per_s": {"fc": 2e9}}]},
     "given twice for batch 1"),
    ({"activations_on_chip": {"value": True}}, "needs on_chip_bytes"),
    ({"activations_on_chip": {"value": "yes"}, "on_chip_bytes": 8e6}, "true or false"),
])
def test_plausibility_bounds_reject_bad_profiles(patch, message):
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_hardware({**BASE, **patch})


def test_fit_refuses_more_parameters_than_the_data_supports():
    from roofline.fit.selection import supported

    # peak, bandwidth and two overheads: 4 unshrunk parameters need 6 models; class factors are shrunk
    assert supported(6, ("kernel", "inference")) and not supported(5, ("kernel", "inference"))
    assert supported(4, ()) and not supported(3, ()) and supported(5, ("kernel", "dwconv", "norm"))


def test_paper_devices_fit_held_out(cli):
    """The fit's leave-one-model-out error on the paper's zoo rows (each model predicted by a fit that
    never saw it) beats MAC count held out the same way."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    for csv in ("measured_pixel8_edgetpu.csv", "measured_pixel4_dsp.csv"):
        code, out, err = cli("fit", str(examples / csv), "--kind", "npu")
        assert code == 0, err
        held = float(out.split("held out ")[1].split("%")[0])
        macs = float(out.split("MACs only, held out")[1].split("%")[0])
        assert held <= 15 and held < macs, out


def test_committed_gpu_reports_reproduce_from_their_profile():
    """Regression snapshot: the committed H200 reports' predictions (regenerate with `roofline validate
    --from-report DIR --hw PROFILE`) follow from their profile with today's engine to 1e-9, and the
    measured side (real runs on an H200) still meets the bar against them."""
    import pandas as pd

    from roofline.core.stats import spearman

    root = Path(__file__).resolve().parent.parent / "reports" / "validation-h200"
    profile = load_hardware(root / "profile-h200.yaml")
    assert [c.batch for c in profile.ceilings] == [1, 256]
    for batch, folder in ((1, "batch1"), (256, "batch256")):
        m = pd.read_csv(root / folder / "models.csv")
        assert len(m) == 9
        for r in m.itertuples():
            a = roofline.analyze(r.model, profile, dtype="fp16", mode="calibrated", batch=batch, execution="graph")
            assert a.total_latency_s * 1e3 == pytest.approx(r.predicted_ms, rel=1e-9)
        err = m["predicted_ms"] / m["measured_ms"] - 1
        assert np.median(np.abs(err)) <= 0.25 and spearman(m["predicted_ms"], m["measured_ms"]) >= 0.95


def test_noisy_timings_get_more_trials_then_a_flag():
    import itertools
    import time

    from roofline.measure.timing import NOISY_SPREAD, rate, steady_times

    delays = itertools.cycle([0.001, 0.004])  # a machine whose every other trial is 4x slower
    times = steady_times(lambda: time.sleep(next(delays)), trials=4, warmup=0, device="cpu", retries=2)
    assert len(times) == 4 + 8 + 8  # twice as many more trials, twice, while still spread
    m = rate(1.0, times, "1/s", "sleep")
    assert m.spread > NOISY_SPREAD and m.noisy and "noisy" in m.describe()
    steady = steady_times(lambda: time.sleep(0.002), trials=4, warmup=0, device="cpu")
    assert len(steady) == 4
