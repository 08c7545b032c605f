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

from ..conventions import Convention
from ..errors import RooflineError
from ..hardware import BYTES_PER_ELEMENT, Roof
from ..trace import LayerTable
from .efficiency import factors


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

    ``bw = inf`` means memory is free (ridge point 0: MACs only).
    """
    peak = np.asarray(peak, dtype=np.float64)
    bw = np.asarray(bw, dtype=np.float64)
    mac_t = macs / peak
    with np.errstate(divide="ignore"):
        mem_t = np.where(np.isinf(bw), 0.0, bytes_ / bw)
    return mac_t, mem_t, np.maximum(mac_t, mem_t)


def op_class(op: str, kernel: str) -> str:
    """The per-op-class ceiling a layer runs at in calibrated mode."""
    if op == "conv2d":
        return "conv1x1" if kernel in ("1x1", "") else "conv2d"
    return op


# memory-only ops whose rates and per-kernel costs are measured as one class
ACTIVATIONS = frozenset({"relu", "relu6", "hswish", "hsigmoid", "sigmoid", "gelu", "silu", "tanh",
                         "activation"})


def cost_class(op: str, kernel: str = "") -> str:
    """The op class a layer is measured as: conv classes by kernel size, activations as one."""
    if op in ACTIVATIONS:
        return "activation"
    return op_class(op, kernel)


def layer_peaks(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Peak MAC/s per layer: the roof's peak (times the layer's op-class factor where the fitted
    roofline has them; see roofline.engine.efficiency), or in calibrated mode its op class's ceiling."""
    if roof.efficiency:
        return roof.peak_macs_per_s * factors(layers, roof.efficiency)
    if not roof.ceilings:
        return roof.peak_macs_per_s
    kernels = layers["kernel"] if "kernel" in layers else pd.Series([""] * len(layers))
    return np.array([roof.ceilings.get(op_class(op, k), roof.peak_macs_per_s)
                     for op, k in zip(layers["op"], kernels)], dtype=np.float64)


def layer_bandwidths(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Bytes/s per layer: the roof's bandwidth, or in calibrated mode, for memory-only layers, the
    measured rate of their op class (else of ``elementwise`` ops) where the profile has one."""
    if roof.efficiency:
        return roof.mem_bw_bytes_per_s * factors(layers, roof.efficiency)
    rates = roof.ceiling_bytes or {}
    if not rates or "memory_only" not in layers:
        return roof.mem_bw_bytes_per_s
    kernels = layers["kernel"] if "kernel" in layers else [""] * len(layers)
    return np.array([rates.get(cost_class(op, k), rates.get("elementwise", roof.mem_bw_bytes_per_s)) if mem
                     else roof.mem_bw_bytes_per_s
                     for op, k, mem in zip(layers["op"], kernels, layers["memory_only"])], dtype=np.float64)


def evaluate(layers: pd.DataFrame, roof: Roof) -> pd.DataFrame:
    """Add the roofline columns (Eq. 1) to a :func:`layer_bytes` table."""
    macs = layers["macs"].to_numpy(dtype=np.float64)
    total_bytes = layers["weight_bytes"].to_numpy() + layers["activation_bytes"].to_numpy()
    mac_t, mem_t, lat = roofline_times(macs, total_bytes, layer_peaks(layers, roof), layer_bandwidths(layers, roof))
    out = layers.copy()
    out["bytes"] = total_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        out["intensity_macs_per_byte"] = np.where(total_bytes > 0, macs / total_bytes, np.inf)
    out["mac_time_s"] = mac_t
    out["mem_time_s"] = mem_t
    out["latency_s"] = lat
    out["bound"] = np.where(mem_t > mac_t, "memory", "compute")
    return out


