"""Writing profiles as YAML (safe dumper; large and small floats in scientific notation)."""

from __future__ import annotations

import math
from typing import Any

import yaml

from ..core.reading import Execution, Mode
from .model import Figure, HardwareProfile, Validation

def profile_to_yaml(p: HardwareProfile) -> str:
    """Serialise a profile to the YAML schema above (round-trips through :func:`load_hardware`)."""
    def fig(f: Figure) -> dict:
        d: dict[str, Any] = {"value": float(f.value)}
        if f.source:
            d["source"] = f.source
        if f.confidence:
            d["confidence"] = f.confidence
        return d

    doc: dict[str, Any] = {"name": p.name, "kind": p.kind, "description": p.description,
                           "default_dtype": p.default_dtype,
                           "peak_macs_per_s": {k: fig(v) for k, v in p.peak_macs_per_s.items()},
                           "mem_bw_bytes_per_s": fig(p.mem_bw_bytes_per_s)}
    if p.on_chip_bytes:
        doc["on_chip_bytes"] = fig(p.on_chip_bytes)
    if p.activations_on_chip:
        doc["activations_on_chip"] = {"value": True, "source": p.activations_on_chip_source}
    if p.fitted:
        f = p.fitted
        doc["fitted"] = {"dtype": f.dtype, "ridge_point_macs_per_byte": float(f.ridge_point_macs_per_byte)}
        if f.mem_bw_bytes_per_s:
            doc["fitted"]["mem_bw_bytes_per_s"] = float(f.mem_bw_bytes_per_s)
        if f.other_dtypes:
            doc["fitted"]["other_dtypes"] = {k: float(v) for k, v in f.other_dtypes.items()}
        if f.reduction_half:
            doc["fitted"]["reduction_half"] = float(f.reduction_half)
        if f.efficiency:
            doc["fitted"]["efficiency"] = {k: float(v) for k, v in f.efficiency.items()}
        if f.convention:
            doc["fitted"]["convention"] = f.convention
        if f.execution:
            doc["fitted"]["execution"] = f.execution
        if f.family:
            doc["fitted"]["family"] = {k: round(float(v), 4) for k, v in f.family.items()}
        doc["fitted"].update({"source": f.source, "confidence": f.confidence})
    if p.overhead.per_kernel_s or p.overhead.per_inference_s or p.overhead.fresh_memory_s_per_byte:
        o: dict[str, Any] = {}
        if p.overhead.per_inference_s:
            o["per_inference_s"] = fig(p.overhead.per_inference_s)
        if p.overhead.fresh_memory_s_per_byte:
            o["fresh_memory_s_per_byte"] = fig(p.overhead.fresh_memory_s_per_byte)
        if p.overhead.fresh_memory_share is not None:
            o["fresh_memory_share"] = fig(p.overhead.fresh_memory_share)
        if p.overhead.per_kernel_s:
            o["per_kernel_s"] = {}
            for ex, k in p.overhead.per_kernel_s.items():
                d = fig(Figure(k.value, k.source, k.confidence))
                if k.by_op:
                    d["by_op"] = {op: float(v) for op, v in k.by_op.items()}
                o["per_kernel_s"][ex] = d
        doc["overhead"] = o
    if p.ceilings:
        doc["ceilings"] = []
        for c in p.ceilings:
            d = {"batch": c.batch, "macs_per_s": {k: float(v) for k, v in c.macs_per_s.items()}}
            if c.bytes_per_s:
                d["bytes_per_s"] = {k: float(v) for k, v in c.bytes_per_s.items()}
            if c.shape:
                d["shape"] = {k: {"out_half": float(t.out_half), "reduction_half": float(t.reduction_half)}
                              | ({"reuse_half": float(t.reuse_half)} if t.reuse_half else {})
                              | ({"channels_half": float(t.channels_half)} if t.channels_half else {})
                              for k, t in c.shape.items()}
            if c.parallel:
                d["parallel"] = {k: {"from_out_elems": float(n), "extra_s": float(x)} for k, (n, x) in c.parallel.items()}
            if c.source:
                d["source"] = c.source
            doc["ceilings"].append(d)
    if p.validation:
        doc["validation"] = validation_to_dict(p.validation)
    if p.machine:
        doc["machine"] = dict(p.machine)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100)


def validation_to_dict(v: Validation) -> dict[str, Any]:
    """A validation block as written to YAML (None fields left out)."""
    d: dict[str, Any] = {"status": v.status, "data": v.data, "rows": v.rows, "models": v.models,
                         "folds": v.folds, "method": v.method}
    if v.reading is not None:  # the reading the runs used (files before this key say it in the method only)
        d["reading"] = str(v.reading)
    d["terms"] = list(v.terms)
    for k in ("insample_median_error", "heldout_median_error", "heldout_worst_error", "heldout_spearman",
              "macs_spearman", "macs_heldout_median_error", "ratio_p10", "ratio_p90", "new_family_ratio_p10",
              "new_family_ratio_p90", "nested_heldout_median_error", "nested_heldout_worst_error", "nested_spearman",
              "nested_band_coverage"):
        x = getattr(v, k)
        if x is not None:
            d[k] = round(float(x), 4)
    if v.nested_folds is not None:
        d["nested_folds"] = int(v.nested_folds)
    if v.source:
        d["source"] = v.source
    return d


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing large and small floats in scientific notation (2.55e+12)."""


def _float(dumper: yaml.SafeDumper, v: float) -> yaml.Node:
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3) and math.isfinite(v):
        m, e = f"{v:.6e}".split("e")
        m = m.rstrip("0")
        text = f"{m}0e{int(e):+03d}" if m.endswith(".") else f"{m}e{int(e):+03d}"
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)
    return dumper.represent_float(v)


_Dumper.add_representer(float, _float)
for _enum in (Mode, Execution):  # a reading's enums as their plain text (fitted, eager)
    _Dumper.add_representer(_enum, lambda dumper, v: dumper.represent_str(str(v)))
