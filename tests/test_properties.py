"""Properties of the engine that hold for any hardware numbers (Hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import roofline
from roofline.studies.sweep import sweep

TABLES = {name: roofline.trace(name) for name in ("mnv2", "mnv3-s", "mnv4-hybrid-m")}
models = st.sampled_from(sorted(TABLES))
rates = st.floats(1e7, 1e15)
seconds = st.floats(0.0, 1e-3)


def hw(peak: float, bw: float, dtype: str = "int8", **extra) -> dict:
    return {"name": "prop", "kind": "npu", "default_dtype": dtype, "peak_macs_per_s": {dtype: peak},
            "mem_bw_bytes_per_s": bw, **extra}


@settings(max_examples=40, deadline=None)
@given(models, rates, rates, st.floats(1.0, 1000.0))
def test_more_peak_never_slower(model, peak, bw, factor):
    slow = roofline.analyze(TABLES[model], hw(peak, bw))
    fast = roofline.analyze(TABLES[model], hw(min(peak * factor, 1e17), bw))
    assert (fast.layers["latency_s"] <= slow.layers["latency_s"]).all()
    assert fast.total_latency_s <= slow.total_latency_s


@settings(max_examples=40, deadline=None)
@given(models, rates, rates, st.floats(1.0, 1000.0), seconds, seconds)
def test_more_bandwidth_never_slower_with_overheads(model, peak, bw, factor, per_kernel, per_inference):
    over = {"overhead": {"per_kernel_s": {"fused": per_kernel}, "per_inference_s": per_inference}}
    slow = roofline.analyze(TABLES[model], hw(peak, bw, **over))
    fast = roofline.analyze(TABLES[model], hw(peak, min(bw * factor, 1e17), **over))
    assert (fast.layers["latency_s"] <= slow.layers["latency_s"]).all()
    assert fast.total_latency_s <= slow.total_latency_s


@settings(max_examples=40, deadline=None)
@given(models, rates, rates, seconds, seconds, st.sampled_from(["fused", "eager"]))
def test_total_is_the_layers_plus_the_inference_cost(model, peak, bw, per_kernel, per_inference, execution):
    over = {"overhead": {"per_kernel_s": {execution: per_kernel}, "per_inference_s": per_inference}}
    table = TABLES[model] if execution == "fused" else roofline.trace(model, fuse=False)
    a = roofline.analyze(table, hw(peak, bw, **over), execution=execution)
    assert a.total_latency_s == pytest.approx(a.layers["latency_s"].sum() + per_inference, rel=1e-12, abs=1e-18)
    # the overheads add exactly kernels x per-kernel cost to Eq. 1
    assert a.overhead_s == pytest.approx(a.layers["kernels"].sum() * per_kernel + per_inference, rel=1e-9, abs=1e-18)
    eq1 = roofline.analyze(table, hw(peak, bw), execution=execution)
    assert a.roofline_latency_s == eq1.total_latency_s


@settings(max_examples=30, deadline=None)
@given(models, rates)
def test_bytes_scale_with_the_dtype(model, bw):
    by = {dt: roofline.analyze(TABLES[model], hw(1e17, bw, dt)) for dt in ("int8", "fp16", "fp32")}
    base = by["int8"].layers[["weight_bytes", "activation_bytes"]].to_numpy()
    for dt, k in (("fp16", 2), ("fp32", 4)):
        assert np.array_equal(by[dt].layers[["weight_bytes", "activation_bytes"]].to_numpy(), k * base)
        # memory-bound at this peak: the memory time scales with the element size
        mem = by["int8"].layers["mem_time_s"].to_numpy()
        assert np.allclose(by[dt].layers["mem_time_s"].to_numpy(), k * mem, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(models, st.floats(0.5, 500.0), st.floats(1e9, 1e12))
def test_sweep_equals_analyze(model, rp, bw):
    s = sweep([TABLES[model]], [rp], bw=bw)
    a = roofline.analyze(TABLES[model], hw(rp * bw, bw))
    assert s["latency_s"].iloc[0] == pytest.approx(a.total_latency_s, rel=1e-12)
    assert s["macs"].iloc[0] == a.totals["macs"]


@settings(max_examples=40, deadline=None)
@given(models, rates, rates)
def test_eq1_lies_between_the_larger_roof_and_the_sum_of_both(model, peak, bw):
    """Eq. 1 per layer is max(MAC time, memory time): the total is at least the MAC-only and the
    memory-only time, at most their sum, and strictly below the sum when a layer has both."""
    a = roofline.analyze(TABLES[model], hw(peak, bw), overhead=False)
    mac, mem = a.layers["mac_time_s"].to_numpy(), a.layers["mem_time_s"].to_numpy()
    total = a.total_latency_s
    assert total >= mac.sum() * (1 - 1e-12) and total >= mem.sum() * (1 - 1e-12)
    assert total <= (mac + mem).sum() * (1 + 1e-12)
    both = (mac > 0) & (mem > 0)
    if both.any():
        assert total < (mac + mem).sum()
    # each layer takes exactly its larger time: the equality case of the bound
    assert np.array_equal(a.layers["latency_s"].to_numpy(), np.maximum(mac, mem))


@settings(max_examples=40, deadline=None)
@given(models, rates, rates, st.sampled_from(["peak", "bandwidth"]))
def test_doubling_one_roof_moves_only_the_layers_it_bounds(model, peak, bw, which):
    a = roofline.analyze(TABLES[model], hw(peak, bw), overhead=False)
    b = roofline.analyze(TABLES[model], hw(min(peak * 2, 1e17) if which == "peak" else peak,
                                           min(bw * 2, 1e17) if which == "bandwidth" else bw), overhead=False)
    bound = "compute" if which == "peak" else "memory"
    other = a.layers["bound"].to_numpy() != bound
    # layers bound by the other roof keep their time to the bit; the others get no slower
    assert np.array_equal(a.layers["latency_s"].to_numpy()[other], b.layers["latency_s"].to_numpy()[other])
    assert (b.layers["latency_s"].to_numpy() <= a.layers["latency_s"].to_numpy()).all()


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(1e6, 1e300, exclude_min=True), st.floats(1e-300, 1e-3, exclude_max=True)))
def test_ridge_points_outside_the_bounds_are_refused(rp):
    from roofline.core.errors import InvalidInputError, ProfileError

    with pytest.raises(ProfileError):
        roofline.load_hardware(hw(1e12, 1e10, fitted={"dtype": "int8", "ridge_point_macs_per_byte": rp}))
    with pytest.raises(InvalidInputError):
        sweep([TABLES["mnv2"]], [rp])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.floats(1e-6, 1.0), st.just(float("nan"))),
                          st.one_of(st.floats(0, 100), st.just(float("nan")))), min_size=1, max_size=8))
def test_pareto_never_marks_a_nan_row_optimal(points):
    import pandas as pd

    from roofline.studies.pareto import pareto, pareto_mask

    lat = np.array([p[0] for p in points])
    acc = np.array([p[1] for p in points])
    mask = pareto_mask(lat, acc)
    assert not (mask & (np.isnan(lat) | np.isnan(acc))).any()
    finite = np.isfinite(lat) & np.isfinite(acc)
    if finite.any():  # some finite row is always on the front
        assert mask[finite].any()
    df = pd.DataFrame({"model": [f"m{i}" for i in range(len(points))], "rp_macs_per_byte": 5.0,
                       "latency_s": lat, "top1": np.nan_to_num(acc, nan=50.0)})
    p = pareto(df)
    assert not (p["pareto_optimal"] & p["latency_s"].isna()).any()
