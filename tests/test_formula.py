"""One latency formula: ``analyze``, the ridge-point sweep and the fit's own prediction agree, term by term."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import roofline
from roofline.core.conventions import get_convention
from roofline.core.taxonomy import EFFICIENCY_CLASSES
from roofline.engine.predict import family_multiplier, layer_times, model_total
from roofline.fit.terms import Params, build_design, predict
from roofline.hardware import load_hardware
from roofline.studies.sweep import sweep


class Tiny(nn.Module):
    """A layer of every efficiency class: dense, depthwise and grouped conv, linear, attention, group
    norm, GELU, concat and add (norm and GELU are their own rows only unfused)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.ReLU()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.grouped = nn.Conv2d(16, 32, 1, groups=4)
        self.norm = nn.GroupNorm(4, 32)
        self.gelu = nn.GELU()
        self.qkv = nn.Linear(32, 96)
        self.proj = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        x = self.gelu(self.norm(self.grouped(self.dw(x))))
        x = x + torch.cat([x, x], dim=1)[:, 16:48]
        q, k, v = self.qkv(x.flatten(2).transpose(1, 2)).chunk(3, dim=-1)
        return self.proj(F.scaled_dot_product_attention(q, k, v))


READINGS = [("default", "fused"), ("unfused", "eager"), ("mnv4-paper", "fused")]
ROOF = {"peak_macs_per_s": {"int8": 2e11}, "mem_bw_bytes_per_s": 1.5e10}  # ridge point 13.3: both bounds occur
FACTORS = dict(zip(EFFICIENCY_CLASSES, (0.3, 0.6, 1.7, 0.1, 0.45, 0.8, 2.5, 0.2)))
TERM_SETS = {
    "none": Params(**ROOF),
    "kernel": Params(**ROOF, per_kernel_s=3e-6, terms=("kernel",)),
    "inference": Params(**ROOF, per_inference_s=2e-4, terms=("inference",)),
    "reduction": Params(**ROOF, reduction_half=24.0, terms=("reduction",)),
    **{c: Params(**ROOF, efficiency={c: f}, terms=(c,)) for c, f in FACTORS.items()},
    "all": Params(**ROOF, per_kernel_s=3e-6, per_inference_s=2e-4, efficiency=dict(FACTORS),
                  terms=("kernel", "inference", "reduction", *EFFICIENCY_CLASSES), reduction_half=24.0),
}


def _table(convention: str):
    return roofline.trace(Tiny().eval(), (1, 8, 8, 8), fuse=get_convention(convention).fused)


def _profile(p: Params, convention: str, execution: str) -> dict:
    """The profile ``roofline fit`` writes for ``p`` (roofline.fit.table_fit.TableFit.profile), by hand."""
    fitted = {"dtype": "int8", "ridge_point_macs_per_byte": p.ridge_point("int8"),
              "mem_bw_bytes_per_s": p.mem_bw_bytes_per_s, "convention": convention, "execution": execution,
              "efficiency": dict(p.efficiency), "family": dict(p.family)}
    if "reduction" in p.terms:
        fitted["reduction_half"] = p.reduction_half
    overhead = {}
    if "kernel" in p.terms:
        overhead["per_kernel_s"] = {execution: p.per_kernel_s}
    if "inference" in p.terms:
        overhead["per_inference_s"] = p.per_inference_s
    return {"name": "formula", "kind": "npu", "default_dtype": "int8", "peak_macs_per_s": {"int8": 1e12},
            "mem_bw_bytes_per_s": 1e10, "fitted": fitted, **({"overhead": overhead} if overhead else {})}


def _fit_prediction(table, p: Params, convention: str, execution: str, family: str | None = None) -> float:
    d = build_design([table], ["int8"], [1.0], [table.model], get_convention(convention), execution, [family])
    return float(predict(d, p)[0])


def test_the_formula_on_two_layers_by_hand():
    # layer 0: a = 64 / 8 x (1 + 1) = 16, b = 16 / 4 = 4: compute-bound, 16 / 0.5 = 32
    # layer 1: a = 8 / 8 x (1 + 0.5) = 1.5, b = 48 / 4 = 12: memory-bound, 12 / 2 = 6
    t = layer_times(np.array([64.0, 8.0]), np.array([16.0, 48.0]), 8.0, 4.0, np.array([0.5, 2.0]),
                    np.array([1.0, 0.5]))
    assert t.mac_s.tolist() == [16.0, 1.5] and t.mem_s.tolist() == [4.0, 12.0]
    assert t.latency_s.tolist() == [32.0, 6.0]
    assert t.mac_time_s.tolist() == [32.0, 0.75] and t.mem_time_s.tolist() == [8.0, 6.0]
    assert t.compute_bound.tolist() == [True, False]
    # (38 + 2 + 0.5) x 0.5
    assert model_total(t.latency_s.sum(), 2.0, 0.5, 0.5) == 20.25
    # plain Eq. 1, infinite bandwidth (memory free), and a column of rooflines against a row of layers
    plain = layer_times(np.array([64.0, 8.0]), np.array([16.0, 48.0]), 8.0, np.inf)
    assert plain.mem_s.tolist() == [0.0, 0.0] and plain.latency_s.tolist() == [8.0, 1.0]
    assert plain.mac_time_s.tolist() == [8.0, 1.0]
    grid = layer_times(np.array([[64.0, 8.0]]), np.array([[16.0, 48.0]]), np.array([[8.0], [16.0]]),
                       np.array([[4.0], [np.inf]]))
    assert grid.latency_s.tolist() == [[8.0, 12.0], [4.0, 0.5]]
    assert model_total(np.array([1.0, 2.0]), floor=1.5).tolist() == [1.5, 2.0]


@pytest.mark.parametrize("convention,execution", READINGS)
def test_analyze_equals_the_fits_prediction_for_every_term(convention, execution):
    table = _table(convention)
    for name, p in TERM_SETS.items():
        a = roofline.analyze(table, _profile(p, convention, execution), convention=convention,
                             execution=execution)
        assert a.roof.mode == "fitted" and a.family is None
        fit = _fit_prediction(table, p, convention, execution)
        assert a.total_latency_s == pytest.approx(fit, rel=1e-12), name
    # every term moves the prediction (none is a no-op on this model)
    plain = _fit_prediction(table, TERM_SETS["none"], convention, execution)
    moved = {n for n, p in TERM_SETS.items() if _fit_prediction(table, p, convention, execution) != plain}
    absent = {"norm", "activation"} if get_convention(convention).fused else set()  # fused into the grouped conv
    absent |= {"elementwise", "movement"} if convention == "mnv4-paper" else set()  # memory-only ops not counted
    assert moved == set(TERM_SETS) - {"none"} - absent


@pytest.mark.parametrize("convention,execution", READINGS)
def test_the_family_multiplier_is_the_fits_in_analyze(convention, execution):
    table = _table(convention)
    fam = "tiny"  # a user's module has no family of its own: analyze(family=) gives it one
    own = Params(**ROOF, per_kernel_s=3e-6, per_inference_s=2e-4, terms=("kernel", "inference", "family"),
                 family={fam: 1.7, "mnv2": 0.8})
    other = Params(**ROOF, per_kernel_s=3e-6, per_inference_s=2e-4, terms=("kernel", "inference", "family"),
                   family={"mnv2": 0.8})
    without = Params(**ROOF, per_kernel_s=3e-6, per_inference_s=2e-4, terms=("kernel", "inference"))
    totals = {}
    for name, p, want in (("own", own, (fam, 1.7)), ("other", other, None), ("without", without, None)):
        prof = _profile(p, convention, execution)
        a = roofline.analyze(table, prof, convention=convention, execution=execution, family=fam)
        assert a.family == want, name
        assert family_multiplier(load_hardware(prof), "fitted", table.model, None, fam) == want
        assert roofline.analyze(table, prof, convention=convention, execution=execution).family is None
        totals[name] = a.total_latency_s
        assert a.total_latency_s == pytest.approx(_fit_prediction(table, p, convention, execution, fam), rel=1e-12)
    assert totals["own"] == pytest.approx(1.7 * totals["without"], rel=1e-12)
    assert totals["other"] == pytest.approx(totals["without"], rel=1e-12)
    # Eq. 1 alone goes without the whole-model terms; the spec reading has none
    prof = load_hardware(_profile(own, convention, execution))
    assert roofline.analyze(table, prof, convention=convention, execution=execution, overhead=False,
                            family=fam).family is None
    assert family_multiplier(prof, "fitted", table.model, False, fam) is None
    assert family_multiplier(prof, "spec", table.model, None, fam) is None
    assert family_multiplier(None, None, table.model, None, fam) is None


@pytest.mark.parametrize("convention,execution", READINGS)
def test_a_sweep_at_the_profiles_own_ridge_point_equals_analyze(convention, execution):
    table = replace(_table(convention), model="mnv2")  # under a zoo name: its family, in analyze and the sweep
    p = Params(**{**TERM_SETS["all"].__dict__, "terms": (*TERM_SETS["all"].terms, "family"),
                  "family": {"mobilenetv2": 1.3}})
    prof = _profile(p, convention, execution)
    a = roofline.analyze(table, prof)  # the fit's convention and execution: the profile's reading
    assert (a.convention.name, a.latency.execution, a.family) == (convention, execution, ("mobilenetv2", 1.3))
    df = sweep([table], [a.roof.ridge_point, 1000.0], hw=prof)
    assert df["latency_s"].iloc[0] == pytest.approx(a.total_latency_s, rel=1e-12)
    assert df["latency_s"].iloc[0] == pytest.approx(_fit_prediction(table, p, convention, execution), rel=1e-12)
    assert df["latency_s"].iloc[1] < df["latency_s"].iloc[0]  # the bandwidth held: a higher ridge point is a faster peak
