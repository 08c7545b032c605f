"""Matplotlib figures: the roofline chart and per-layer latency (the paper's Figure 3).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI
backend needed) and saved atomically to PNG, SVG or PDF.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .errors import RooflineError
from .io import check_writable, write_atomic

# Plots take the engine's results (roofline.engine.Analysis) without importing the engine:
# data flows one way, engine -> plots.
Analysis = Any

# Op type -> (legend label, colour): Conv2D, DW-Conv2D, FC, attention, memory-only.
OP_GROUPS = {
    "conv": ("Conv2D", "#1f77b4"),
    "dwconv": ("DW-Conv2D", "#ff7f0e"),
    "fc": ("FC", "#2ca02c"),
    "attention": ("attention / matmul", "#d62728"),
    "memory": ("memory-only", "#7f7f7f"),
}
FORMATS = ("png", "svg", "pdf")


def op_group(op: str) -> str:
    if op == "dwconv2d":
        return "dwconv"
    if op == "fc":
        return "fc"
    if op in ("attention", "matmul"):
        return "attention"
    if op.startswith("conv"):
        return "conv"
    return "memory"


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` atomically; the format comes from the suffix (png, svg or pdf)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise RooflineError(f"cannot save a figure as {path}: use a .png, .svg or .pdf file name")
    check_writable(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
    return write_atomic(path, buf.getvalue())


def plot_roofline(analysis: Analysis, path: str | Path | None = None) -> Figure:
    """Attainable MAC/s vs operational intensity (log-log) with the hardware's roofs.

    One point per layer (that has MACs), coloured by op type, sized by its latency.
    """
    roof = analysis.roof
    layers = analysis.layers[analysis.layers["macs"] > 0]
    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    intensity = layers["intensity_macs_per_byte"].to_numpy()
    attained = layers["macs"].to_numpy() / layers["latency_s"].to_numpy()
    lo = max(min(intensity.min(initial=1.0), roof.ridge_point) / 4, 1e-2)
    hi = max(intensity.max(initial=1.0), roof.ridge_point) * 4
    x = np.geomspace(lo, hi, 200)
    ax.plot(x, np.minimum(roof.peak_macs_per_s, x * roof.mem_bw_bytes_per_s), color="black", lw=2,
            label=f"roofline ({roof.mode}): {roof.peak_macs_per_s:.3g} MAC/s, "
                  f"{roof.mem_bw_bytes_per_s:.3g} B/s")
    ax.axvline(roof.ridge_point, color="black", ls=":", lw=1)
    ax.annotate(f"ridge point {roof.ridge_point:.1f} MAC/B", (roof.ridge_point, roof.peak_macs_per_s),
                textcoords="offset points", xytext=(5, -15), fontsize=8)
    lat = layers["latency_s"].to_numpy()
    sizes = 10 + 300 * lat / lat.max() if len(lat) else []
    groups = layers["op"].map(op_group)
    for g, (label, colour) in OP_GROUPS.items():
        sel = (groups == g).to_numpy()
        if sel.any():
            ax.scatter(intensity[sel], attained[sel], s=np.asarray(sizes)[sel], c=colour, alpha=0.7,
                       label=label, edgecolors="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs per byte)")
    ax.set_ylabel("attained throughput (MACs per second)")
    ax.set_title(f"{analysis.model} on {analysis.hardware.name} ({roof.dtype}, convention "
                 f"{analysis.convention.name}): {analysis.total_latency_s * 1e3:.3f} ms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_layer_latency(analyses: list[Analysis], path: str | Path | None = None,
                       titles: list[str] | None = None) -> Figure:
    """Per-layer predicted latency (µs) against layer index, one panel per analysis."""
    n = len(analyses)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, a in enumerate(analyses):
        ax = axes[k // cols][k % cols]
        lat_us = a.layers["latency_s"].to_numpy() * 1e6
        idx = np.arange(len(lat_us))
        groups = a.layers["op"].map(op_group)
        for g, (label, colour) in OP_GROUPS.items():
            sel = (groups == g).to_numpy()
            if sel.any():
                ax.scatter(idx[sel], lat_us[sel], s=12, c=colour, label=label)
        ax.set_title(titles[k] if titles else f"{a.model}, RP {a.roof.ridge_point:.0f}", fontsize=9)
        ax.set_xlabel("layer index")
        ax.set_ylabel("predicted latency (µs)")
        ax.grid(True, alpha=0.3)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if path is not None:
        save_figure(fig, path)
    return fig


FAMILY_COLOURS = {"mobilenet_v4": ("MobileNetV4", "#e45756"), "mobilenet_v3": ("MobileNetV3", "#54a24b"),
                  "mobilenet_v2": ("MobileNetV2", "#b279a2"), "mobilenet_v1": ("MobileNetV1", "#4c78a8")}


def _family(model: str) -> str:
    from .zoo import model_card

    try:
        return model_card(model).family
    except Exception:  # a user model without a card
        return "other"


def plot_accuracy_vs_latency(pareto_df: pd.DataFrame, rps: list[float] | None = None,
                             path: str | Path | None = None, title: str = "") -> Figure:
    """The paper's Figure 2: top-1 vs predicted latency (log), one panel per RP, one line per family.

    Pareto-optimal models are ringed in black.
    """
    all_rps = list(dict.fromkeys(pareto_df["rp_macs_per_byte"].tolist()))
    rps = rps or all_rps[:4]
    fig = Figure(figsize=(4.2 * len(rps), 4.0))
    axes = fig.subplots(1, len(rps), squeeze=False)[0]
    families = pareto_df["model"].map(_family)
    for ax, rp in zip(axes, rps):
        sel = pareto_df["rp_macs_per_byte"] == rp
        for fam, (label, colour) in list(FAMILY_COLOURS.items()) + [("other", ("other", "#333333"))]:
            g = pareto_df[sel & (families == fam)].sort_values("latency_s")
            if g.empty:
                continue
            ax.plot(g["latency_s"] * 1e3, g["top1"], "-o", color=colour, label=label, ms=5)
            for r in g.itertuples():
                ax.annotate(r.model.replace("mnv", "v"), (r.latency_s * 1e3, r.top1), fontsize=6,
                            textcoords="offset points", xytext=(3, -8))
        front = pareto_df[sel & pareto_df["pareto_optimal"]]
        ax.scatter(front["latency_s"] * 1e3, front["top1"], s=90, facecolors="none", edgecolors="black",
                   linewidths=1.2, label="Pareto-optimal", zorder=3)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"RP {rp:g} MACs/byte")
        ax.set_xlabel("predicted roofline latency (ms)")
        ax.set_ylabel("ImageNet-1k top-1 (%)")
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_front_distance(pareto_df: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Over the whole sweep: each model's latency over the fastest model at equal or better accuracy.

    1.0 means on the Pareto front; above 1.0, how much slower than a model that is as good.
    """
    fig = Figure(figsize=(9, 5))
    ax = fig.add_subplot()
    for model, g in pareto_df.groupby("model", sort=False):
        fam = _family(model)
        colour = FAMILY_COLOURS.get(fam, ("", "#333333"))[1]
        g = g.sort_values("rp_macs_per_byte")
        ax.plot(g["rp_macs_per_byte"], g["slowdown_vs_front"], color=colour, alpha=0.85)
        last = g.iloc[-1]
        if last["slowdown_vs_front"] > 1.001:  # models on the front are listed in the note below
            ax.annotate(model, (last["rp_macs_per_byte"], last["slowdown_vs_front"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 0))
    for fam, (label, colour) in FAMILY_COLOURS.items():
        ax.plot([], [], color=colour, label=label)
    ax.axhline(1.0, color="black", lw=0.8)
    last_rp = pareto_df["rp_macs_per_byte"].max()
    on = pareto_df[(pareto_df["rp_macs_per_byte"] == last_rp) & pareto_df["pareto_optimal"]]["model"]
    ax.text(0.01, -0.16, f"on the front at RP {last_rp:g}: {', '.join(on)}", transform=ax.transAxes,
            fontsize=7)
    ax.set_ylim(bottom=0.95)
    ax.set_xlabel("ridge point (MACs per byte)")
    ax.set_ylabel("latency / fastest model with equal or better top-1")
    ax.set_title("Distance from the Pareto front across ridge points (1.0 = on the front)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if path is not None:
        save_figure(fig, path)
    return fig
