"""Eq. 1 of Qin et al. 2024: per-layer max(MAC time, memory time).

    mac_time_s = macs / peak_macs_per_s
    mem_time_s = (weight_bytes + activation_bytes) / mem_bw_bytes_per_s
    latency_s  = max(mac_time_s, mem_time_s)

Everything is vectorised with numpy over layers, and over many rooflines at
once (``peak`` and ``bw`` may be column vectors: one row per ridge point).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.conventions import Convention
from ..core.errors import RooflineError
from ..core.reading import Mode
from ..core.taxonomy import measured_class, measured_ops
from ..hardware import BYTES_PER_ELEMENT, Roof
from ..trace import LayerTable
from .efficiency import factors
from .predict import layer_times


def layer_bytes(table: LayerTable, convention: Convention, dtype: str, *,
                on_chip_bytes: float | None = None, activations_on_chip: bool = False) -> pd.DataFrame:
    """The layers a convention counts, with MACs, weight bytes and activation bytes.

    ``activations_on_chip``: intermediate activations never leave the chip (an
    Edge TPU keeps them in its SRAM): only the model's input (read by the first
    layer) and output (written by the last) cross the memory bus.
    ``on_chip_bytes``: weights that fit in on-chip memory, filled in layer order,
    stay resident and are not read from DRAM (Edge TPU-style parameter caching).
    """
    if dtype not in BYTES_PER_ELEMENT:
        raise RooflineError(f"unknown dtype {dtype!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    if table.fuse != convention.fused:
        want, got = ("fused", "unfused") if convention.fused else ("unfused", "fused")
        raise RooflineError(f"convention {convention.name} needs a trace with fuse={convention.fused}, got "
                            f"one with fuse={table.fuse} ({got} rows where {want} ones are counted)")
    df = table.layers
    if not convention.memory_only_ops:
        df = df[~df["memory_only"]]
    wb = convention.weight_bytes or BYTES_PER_ELEMENT[dtype]
    ab = convention.activation_bytes or BYTES_PER_ELEMENT[dtype]
    weight_bytes = df["weight_elems"].to_numpy(dtype=np.float64) * wb
    if on_chip_bytes is not None:
        resident = np.cumsum(weight_bytes) <= on_chip_bytes
        weight_bytes = np.where(resident, 0.0, weight_bytes)
    act_elems = df["in_elems"].to_numpy(dtype=np.float64)
    if convention.activations == "input+output":
        act_elems = act_elems + df["out_elems"].to_numpy(dtype=np.float64)
    if activations_on_chip and len(act_elems):
        act_elems = np.zeros_like(act_elems)
        act_elems[0] += float(df["in_elems"].iloc[0])
        if convention.activations == "input+output":
            act_elems[-1] += float(df["out_elems"].iloc[-1])
    out = df.loc[:, ["name", "op", "in_shape", "out_shape", "kernel", "groups", "macs", "params", "memory_only",
                     "fused", "aten"]].reset_index(drop=True)
    out["weight_bytes"] = weight_bytes
    out["activation_bytes"] = act_elems * ab
    return out


def layer_costs(table: LayerTable, convention: Convention, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """MACs and total bytes (weights + activations) of each counted layer, as float arrays."""
    return costs_of(layer_bytes(table, convention, dtype))


def costs_of(layers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """MACs and total bytes of each row of a :func:`layer_bytes` table, as float arrays."""
    return (layers["macs"].to_numpy(np.float64),
            (layers["weight_bytes"] + layers["activation_bytes"]).to_numpy(np.float64))


def roofline_times(macs: np.ndarray, bytes_: np.ndarray, peak: Any, bw: Any
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAC time, memory time and latency (seconds) of each layer; broadcasts peak and bw.

    ``bw = inf`` means memory is free (ridge point 0: MACs only). Plain Eq. 1:
    :func:`roofline.engine.predict.layer_times` without class factors or reduction term.
    """
    t = layer_times(macs, bytes_, peak, bw)
    return t.mac_s, t.mem_s, t.latency_s


def _columns(layers: pd.DataFrame) -> tuple[Any, Any, Any]:
    n = len(layers)
    return (layers["kernel"] if "kernel" in layers else [""] * n,
            layers["groups"] if "groups" in layers else [1] * n,
            layers["memory_only"] if "memory_only" in layers else [False] * n)


def fitted_terms(layers: pd.DataFrame, roof: Roof) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The fitted reading's per-layer class factor (roofline.engine.efficiency) and reduction
    slow-down ``h / R`` (MACs per output element ``R``; roofline.engine.shape), each None where the
    roof has no such term (every other reading)."""
    if roof.mode != Mode.FITTED:
        return None, None
    factor = factors(layers, roof.efficiency) if roof.efficiency else None
    slow = None
    if roof.reduction_half:
        from .shape import layer_shapes

        slow = roof.reduction_half / layer_shapes(layers)[1]
    return factor, slow


def layer_peaks(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Peak MAC/s per layer before the fitted terms (:func:`fitted_terms`): the roof's peak, or in
    calibrated mode its op class's ceiling, lowered for small layers where the profile has shape
    terms (roofline.engine.shape)."""
    if not roof.ceilings:
        return roof.peak_macs_per_s
    kernels, groups, _ = _columns(layers)
    classes = [measured_class(roof.ceilings, op, k, g) for op, k, g in zip(measured_ops(layers), kernels, groups)]
    peaks = np.array([roof.ceilings[c] if c else roof.peak_macs_per_s for c in classes], dtype=np.float64)
    if roof.ceiling_shape:
        from .shape import layer_shapes

        out, red, reuse = layer_shapes(layers)
        for c, terms in roof.ceiling_shape.items():
            rows = np.array([x == c for x in classes])
            if rows.any():
                peaks[rows] *= terms.factor(out[rows], red[rows], reuse[rows])
    return peaks


def layer_bandwidths(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Bytes/s per layer before the fitted terms: the roof's bandwidth, or in calibrated mode, for
    memory-only layers, the measured rate of their op class (else of ``elementwise`` ops) where the
    profile has one."""
    rates = roof.ceiling_bytes or {}
    if not rates or "memory_only" not in layers:
        return roof.mem_bw_bytes_per_s
    kernels, groups, mem = _columns(layers)
    out = np.full(len(layers), roof.mem_bw_bytes_per_s, dtype=np.float64)
    for i, (op, k, g, m) in enumerate(zip(measured_ops(layers), kernels, groups, mem)):
        c = measured_class(rates, op, k, g, True) if m else None
        if c:
            out[i] = rates[c]
    return out


def evaluate(layers: pd.DataFrame, roof: Roof) -> pd.DataFrame:
    """Add the roofline columns (Eq. 1, with the fitted reading's class factors and reduction term:
    :func:`roofline.engine.predict.layer_times`) to a :func:`layer_bytes` table."""
    macs = layers["macs"].to_numpy(dtype=np.float64)
    total_bytes = layers["weight_bytes"].to_numpy() + layers["activation_bytes"].to_numpy()
    t = layer_times(macs, total_bytes, layer_peaks(layers, roof), layer_bandwidths(layers, roof),
                    *fitted_terms(layers, roof))
    mac_t, mem_t, lat = t.mac_time_s, t.mem_time_s, t.latency_s
    out = layers.copy()
    out["bytes"] = total_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        out["intensity_macs_per_byte"] = np.where(total_bytes > 0, macs / total_bytes, np.inf)
    out["mac_time_s"] = mac_t
    out["mem_time_s"] = mem_t
    out["latency_s"] = lat
    out["bound"] = np.where(mem_t > mac_t, "memory", "compute")
    return out


