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
    """The per-op-class ceiling a layer runs at in calibrated mode (profiles without a grouped class)."""
    if op == "conv2d":
        return "conv1x1" if kernel in ("1x1", "") else "conv2d"
    return op


# memory-only ops measured as one class, or falling back to one: piecewise-linear activations run
# at ReLU's rate (``activation``), smooth ones (a transcendental per element) at SiLU's where the
# profile has no class of their own, softmax at layer norm's; the rest at ``elementwise``
_PIECEWISE = frozenset({"relu", "relu6", "hsigmoid", "clamp", "hardtanh", "leaky_relu", "activation"})
_SMOOTH = frozenset({"sigmoid", "tanh", "mish", "elu", "softplus", "erf", "exp", "log", "trig"})


def class_candidates(op: str, kernel: str = "", groups: Any = 1) -> tuple[str, ...]:
    """The measured op classes a layer may run as, most specific first: a profile uses the first it
    has (a memory-only layer falls back to ``elementwise`` after these)."""
    if op == "conv2d":
        g = 1 if groups is None or pd.isna(groups) else int(groups)
        dense = op_class(op, kernel)
        return ("grouped", dense) if g > 1 else (dense, "conv2d") if dense == "conv1x1" else (dense,)
    if op in ("hswish", "gelu", "silu"):
        return (op, "activation")
    if op in _SMOOTH:
        return (op, "silu", "activation")
    if op in _PIECEWISE:
        return ("activation",)
    if op == "softmax":
        return ("softmax", "norm")
    if op == "maxpool":
        return ("maxpool", "pool")
    if op == "mean":
        return ("mean", "pool")
    if op == "dwconv_mult":
        return ("dwconv_mult", "dwconv2d")
    if op == "fc_conv":
        return ("fc_conv", "fc")
    return (op,)


def measured_class(available: Any, op: str, kernel: str = "", groups: Any = 1, memory_only: bool = False
                   ) -> str | None:
    """The first of the layer's candidate classes ``available`` has (``elementwise`` for a
    memory-only layer with none), or None."""
    for c in class_candidates(op, kernel, groups):
        if c in available:
            return c
    return "elementwise" if memory_only and "elementwise" in available else None


def measured_ops(layers: pd.DataFrame) -> list[str]:
    """Each layer's op, told apart further where kernels of one op differ on CPU (profiles without
    these classes fall back to the op's own):

    - ``maxpool``: a 3x3 max pool over 64 x 112 x 112 took 3.5 ms, 50 times a global average pool;
    - ``mean``: a spatial mean (``aten.mean``, timm's squeeze-excitation pooling);
    - ``dwconv_mult``: a depthwise conv with more output than input channels (FastViT's 7x7
      downsampling, 48 -> 96 channels, took 1.2 ms where a plain depthwise conv took 0.17 ms);
    - ``fc_conv``: an FC layer run as a 1x1 conv on a 1 x 1 map (squeeze-excitation)."""
    n = len(layers)
    aten = layers["aten"] if "aten" in layers else [""] * n
    ins = layers["in_shape"] if "in_shape" in layers else [""] * n
    outs = layers["out_shape"] if "out_shape" in layers else [""] * n
    ops = []
    for op, a, i, o in zip(layers["op"], aten, ins, outs):
        a = str(a)
        if op == "pool" and "max_pool" in a:
            op = "maxpool"
        elif op == "pool" and "mean" in a:
            op = "mean"
        elif op == "dwconv2d" and _channels(o) > _channels(i) > 0:
            op = "dwconv_mult"
        elif op == "fc" and "conv" in a:
            op = "fc_conv"
        ops.append(op)
    return ops


def _channels(shape: Any) -> int:
    """The channel count (dimension 1) of an ``NxCxHxW`` shape string, 0 when there is none."""
    parts = str(shape).split("x")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


def _columns(layers: pd.DataFrame) -> tuple[Any, Any, Any]:
    n = len(layers)
    return (layers["kernel"] if "kernel" in layers else [""] * n,
            layers["groups"] if "groups" in layers else [1] * n,
            layers["memory_only"] if "memory_only" in layers else [False] * n)


def layer_peaks(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Peak MAC/s per layer: the roof's peak (times the layer's op-class factor where the fitted
    roofline has them; see roofline.engine.efficiency), or in calibrated mode its op class's ceiling,
    lowered for small layers where the profile has shape terms (roofline.engine.shape)."""
    if roof.mode == "fitted" and (roof.efficiency or roof.reduction_half):
        peaks = roof.peak_macs_per_s * factors(layers, roof.efficiency)
        if roof.reduction_half:
            from .shape import layer_shapes

            peaks = peaks / (1.0 + roof.reduction_half / layer_shapes(layers)[1])
        return peaks
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
    """Bytes/s per layer: the roof's bandwidth, or in calibrated mode, for memory-only layers, the
    measured rate of their op class (else of ``elementwise`` ops) where the profile has one."""
    if roof.efficiency:
        return roof.mem_bw_bytes_per_s * factors(layers, roof.efficiency)
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


