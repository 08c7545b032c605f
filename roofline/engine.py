"""The roofline engine: per-layer max(MAC time, memory time) and their sum (Eq. 1 of Qin et al. 2024).

    mac_time_s = macs / peak_macs_per_s
    mem_time_s = (weight_bytes + activation_bytes) / mem_bw_bytes_per_s
    latency_s  = max(mac_time_s, mem_time_s)

Everything is vectorised with numpy over layers, and over many rooflines at
once (``peak`` and ``bw`` may be column vectors: one row per ridge point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .conventions import Convention, get_convention
from .errors import RooflineError
from .hardware import BYTES_PER_ELEMENT, HardwareProfile, Roof, load_hardware
from .trace import LayerTable, trace


def layer_bytes(table: LayerTable, convention: Convention, dtype: str, *,
                on_chip_bytes: float | None = None) -> pd.DataFrame:
    """The layers a convention counts, with MACs, weight bytes and activation bytes.

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
    out = df.loc[:, ["name", "op", "in_shape", "out_shape", "kernel", "macs", "params"]].reset_index(drop=True)
    out["weight_bytes"] = weight_bytes
    out["activation_bytes"] = act_elems * ab
    return out


def layer_costs(table: LayerTable, convention: Convention, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """MACs and total bytes (weights + activations) of each counted layer, as float arrays."""
    lb = layer_bytes(table, convention, dtype)
    return (lb["macs"].to_numpy(np.float64),
            (lb["weight_bytes"] + lb["activation_bytes"]).to_numpy(np.float64))


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


def layer_peaks(layers: pd.DataFrame, roof: Roof) -> np.ndarray | float:
    """Peak MAC/s per layer: the roof's peak, or in calibrated mode its op class's ceiling."""
    if not roof.ceilings:
        return roof.peak_macs_per_s
    kernels = layers["kernel"] if "kernel" in layers else pd.Series([""] * len(layers))
    return np.array([roof.ceilings.get(op_class(op, k), roof.peak_macs_per_s)
                     for op, k in zip(layers["op"], kernels)], dtype=np.float64)


def evaluate(layers: pd.DataFrame, roof: Roof) -> pd.DataFrame:
    """Add the roofline columns to a :func:`layer_bytes` table."""
    macs = layers["macs"].to_numpy(dtype=np.float64)
    total_bytes = layers["weight_bytes"].to_numpy() + layers["activation_bytes"].to_numpy()
    mac_t, mem_t, lat = roofline_times(macs, total_bytes, layer_peaks(layers, roof), roof.mem_bw_bytes_per_s)
    out = layers.copy()
    out["bytes"] = total_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        out["intensity_macs_per_byte"] = np.where(total_bytes > 0, macs / total_bytes, np.inf)
    out["mac_time_s"] = mac_t
    out["mem_time_s"] = mem_t
    out["latency_s"] = lat
    out["bound"] = np.where(mem_t > mac_t, "memory", "compute")
    return out


@dataclass(frozen=True)
class Analysis:
    """A model on a piece of hardware: per-layer roofline times and their totals."""

    model: str
    hardware: HardwareProfile
    roof: Roof
    convention: Convention
    table: LayerTable
    layers: pd.DataFrame
    on_chip: bool = False

    @property
    def dtype(self) -> str:
        return self.roof.dtype

    @property
    def total_latency_s(self) -> float:
        return float(self.layers["latency_s"].sum())

    @property
    def totals(self) -> dict[str, float]:
        """The JSON totals: MACs, params, weight and activation bytes, latency (seconds)."""
        return {"macs": int(self.layers["macs"].sum()), "params": int(self.table.params),
                "weight_bytes": float(self.layers["weight_bytes"].sum()),
                "activation_bytes": float(self.layers["activation_bytes"].sum()),
                "latency_s": self.total_latency_s}

    def assumptions(self) -> str:
        r = self.roof
        lines = [
            f"hardware: {self.hardware.name} ({self.hardware.description}); {r.mode} roofline: "
            f"peak {r.peak_macs_per_s:.4g} MAC/s, bandwidth {r.mem_bw_bytes_per_s:.4g} B/s, "
            f"ridge point {r.ridge_point:.1f} MAC/B, dtype {r.dtype}",
            f"convention: {self.convention.describe(BYTES_PER_ELEMENT[r.dtype])}",
            f"input: {'x'.join(map(str, self.table.input_shape))}; on-chip weight caching "
            f"{'on' if self.on_chip else 'off'}",
        ]
        return "\n".join(lines)

    def summary(self) -> pd.Series:
        """Headline figures, with units in the names."""
        lat = self.layers["latency_s"]
        mem = self.layers["bound"] == "memory"
        t = self.totals
        return pd.Series({
            "model": self.model, "hardware": self.hardware.name, "dtype": self.dtype,
            "roofline": self.roof.mode, "convention": self.convention.name,
            "params": t["params"], "macs": t["macs"], "weight_bytes": t["weight_bytes"],
            "activation_bytes": t["activation_bytes"], "latency_ms": t["latency_s"] * 1e3,
            "memory_bound_time_share": float(lat[mem].sum() / lat.sum()) if lat.sum() else 0.0,
            "memory_bound_layers": int(mem.sum()), "layers": len(self.layers),
        })

    def slowest(self, n: int = 5) -> pd.DataFrame:
        return self.layers.nlargest(n, "latency_s")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON document of ``roofline analyze --format json``."""
        cols = ["name", "op", "macs", "weight_bytes", "activation_bytes", "mac_time_s", "mem_time_s",
                "latency_s", "bound"]
        layers = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                  for row in self.layers[cols].to_dict(orient="records")]
        return {"model": self.model, "hardware": self.hardware.name,
                "convention": self.convention.name, "dtype": self.dtype, "roofline": self.roof.mode,
                "peak_macs_per_s": self.roof.peak_macs_per_s,
                "mem_bw_bytes_per_s": self.roof.mem_bw_bytes_per_s,
                "assumptions": self.assumptions(), "totals": self.totals, "layers": layers}

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Analysis: {self.model} on {self.hardware.name}: predicted {s['latency_ms']:.3f} ms, "
                f"{s['macs']:,} MACs, {s['memory_bound_layers']}/{s['layers']} layers memory-bound "
                f"({s['memory_bound_time_share']:.0%} of the time)\n{self.assumptions()}")

    def _repr_html_(self) -> str:
        head = repr(self).replace("\n", "<br>")
        return f"<p>{head}</p>" + self.layers.to_html(max_rows=40)

    def plot(self, path: str | None = None):
        """The classic roofline chart (attainable MAC/s vs operational intensity, log-log)."""
        from .plots import plot_roofline

        return plot_roofline(self, path)

    def plot_layers(self, path: str | None = None):
        """Per-layer predicted latency in layer order, coloured by op type (the paper's Figure 3)."""
        from .plots import plot_layer_latency

        return plot_layer_latency([self], path)


def analyze(model: Any, hw: Any, *, dtype: str | None = None, convention: str | Convention = "default",
            mode: str = "auto", resolution: int | None = None, width: float | None = None,
            batch: int = 1, input_shape: tuple[int, ...] | None = None, on_chip: bool = False) -> Analysis:
    """Predict ``model``'s latency on ``hw`` (a profile name, YAML path, dict or HardwareProfile).

    ``mode``: ``auto`` (fitted roofline where the profile has one, else spec),
    ``spec``, ``fitted`` or ``calibrated`` (measured per-op-class ceilings). ``on_chip``: keep weights that fit in the profile's
    on-chip memory resident (not re-read from DRAM).
    """
    profile = load_hardware(hw)
    conv = get_convention(convention)
    roof = profile.roof(dtype, mode)
    table = model if isinstance(model, LayerTable) else trace(
        model, input_shape, resolution=resolution, batch=batch, width=width, fuse=conv.fused)
    if on_chip and profile.on_chip_bytes is None:
        raise RooflineError(f"profile {profile.name} gives no on_chip_bytes; on-chip caching needs it")
    layers = layer_bytes(table, conv, roof.dtype,
                         on_chip_bytes=profile.on_chip_bytes.value if on_chip and profile.on_chip_bytes else None)
    return Analysis(table.model, profile, roof, conv, table, evaluate(layers, roof), on_chip)
