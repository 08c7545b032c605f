"""Matplotlib figures: the roofline chart, per-layer latency (the paper's Figure 3), accuracy vs
latency panels and the distance from the Pareto front (its Figure 2).

Figures are ``RooflineFigure`` objects (no pyplot state, no GUI backend needed)
that display themselves in a notebook, stored once: as PNG, or as SVG after
``notebook_format("svg")``; and are
saved atomically to PNG, SVG or PDF. One style for all of them: every log axis
has tick labels, legends belong to the figure, point labels are placed so that
they do not overlap, and titles say model, hardware, dtype and convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..core import units
from ..core.taxonomy import op_group  # noqa: F401  (figures group layers by it)
from ..core.errors import RooflineError
from .figures import (FORMATS, STYLE, RooflineFigure, figure, label_log_axis, notebook_format,  # noqa: F401
                      save_figure)

# Plots take the engine's results (roofline.engine.Analysis) without importing the engine:
# data flows one way, engine -> plots.
Analysis = Any

# Op type (roofline.core.taxonomy.VIEW_GROUPS) -> (legend label, colour): Conv2D, DW-Conv2D, FC, attention,
# memory-only.
OP_GROUPS = {
    "conv": ("Conv2D", "#1f77b4"),
    "dwconv": ("DW-Conv2D", "#ff7f0e"),
    "fc": ("FC", "#2ca02c"),
    "attention": ("attention / matmul", "#d62728"),
    "memory": ("memory-only", "#7f7f7f"),
}


_figure = figure  # the name the plots in this module use


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 fontsize: float = 6.5) -> list:
    """Annotate points so that no two labels overlap (and none covers another's point): each label
    takes the first free spot among offsets around its point; one that finds none is left out and
    returned as an (x, y, text) for the caller to list elsewhere."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()  # final limits and transforms before measuring text
    offsets = [(4, 3), (4, -9), (-4, 3), (-4, -9), (4, 11), (4, -17), (-4, 11), (-4, -17), (10, -3),
               (-10, -3), (4, 19), (4, -25)]
    taken: list[Any] = []
    left_out = []
    order = np.argsort(np.asarray(ys))[::-1]
    points = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
    for i in order:
        placed = False
        for dx, dy in offsets:
            ann = ax.annotate(texts[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy),
                              fontsize=fontsize, ha="left" if dx >= 0 else "right")
            box = ann.get_window_extent(renderer).expanded(1.05, 1.1)
            clash = any(box.overlaps(t) for t in taken) or any(
                box.contains(px, py) for j, (px, py) in enumerate(points) if j != i)
            inside = ax.bbox.contains(box.x0, box.y0) and ax.bbox.contains(box.x1, box.y1)
            if not clash and inside:
                taken.append(box)
                placed = True
                break
            ann.remove()
        if not placed:
            left_out.append((xs[i], ys[i], texts[i]))
    return left_out


def _no_layers(ax: Any, text: str) -> None:
    """Say in an empty panel why it is empty (a model with no layers, e.g. ``nn.Identity``)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#555555",
            bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "boxstyle": "round"})


def _setup(a: Analysis) -> str:
    """``hardware, dtype, convention, execution`` for titles."""
    return (f"{a.hardware.name}, {a.roof.dtype}, {a.roof.mode} roofline, convention {a.convention.name}, "
            f"{a.latency.execution}")


def plot_roofline(analysis: Analysis, path: str | Path | None = None) -> RooflineFigure:
    """Attainable MAC/s vs operational intensity (log-log) with the hardware's roofs.

    One point per layer that has MACs, coloured by op type, its area proportional
    to the layer's predicted latency (the size legend gives the scale).
    """
    roof = analysis.roof
    layers = analysis.layers[analysis.layers["macs"] > 0]
    with _figure((10.5, 5.5)) as fig:
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
        _class_roofs(ax, x, roof, layers)
        ax.annotate(f"ridge point {roof.ridge_point:.1f} MAC/B", (roof.ridge_point, roof.peak_macs_per_s),
                    textcoords="offset points", xytext=(5, -15), fontsize=8)
        lat = layers["latency_s"].to_numpy()
        scale = 300 / lat.max() if len(lat) and lat.max() > 0 else 0.0
        groups = layers["op"].map(op_group)
        for g, (label, colour) in OP_GROUPS.items():
            sel = (groups == g).to_numpy()
            if sel.any():
                ax.scatter(intensity[sel], attained[sel], s=10 + scale * lat[sel], c=colour, alpha=0.7,
                           label=label, edgecolors="none")
        if not len(layers):
            _no_layers(ax, "no layers with MACs: nothing to place on the roofline" if len(analysis.layers)
                       else "no layers: the model has nothing to place on the roofline")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        ax.set_xlabel("operational intensity (MACs per byte)")
        ax.set_ylabel("attained throughput (MACs / predicted latency, per second)")
        ax.set_title(f"{analysis.model}: {analysis.total_latency_s * 1e3:.3f} ms predicted\n{_setup(analysis)}")
        handles, labels = ax.get_legend_handles_labels()
        if len(lat):  # marker size: what a point's area means
            for frac in (1.0, 0.5, 0.1):
                handles.append(Line2D([], [], ls="", marker="o", color="#999999",
                                      markersize=float(np.sqrt(10 + 300 * frac))))
                labels.append(f"{units.seconds(frac * lat.max())} layer latency")
        fig.legend(handles, labels, loc="outside right upper")
    if path is not None:
        save_figure(fig, path)
    return fig


# compute class -> the OP_GROUPS colour of its layers
_CLASS_GROUP = {"dwconv": "dwconv", "grouped": "conv", "matmul": "fc", "attention": "attention"}


def _class_roofs(ax: Any, x: np.ndarray, roof: Any, layers: pd.DataFrame) -> None:
    """A fitted class factor above 1 puts that class's layers above the roofline (they attain more
    than the dense-conv roof): draw each such class's own roof, the roofline times its factor."""
    from ..core.taxonomy import CLASS_TEXT, compute_class

    if not roof.efficiency or not len(layers):
        return
    groups = layers["groups"] if "groups" in layers else [1] * len(layers)
    present = {compute_class(op, g) for op, g in zip(layers["op"], groups)}
    for c, f in sorted(roof.efficiency.items()):
        if f > 1 and c in present:
            ax.plot(x, f * np.minimum(roof.peak_macs_per_s, x * roof.mem_bw_bytes_per_s), lw=1.3, ls="--",
                    color=OP_GROUPS[_CLASS_GROUP.get(c, "conv")][1],
                    label=f"{CLASS_TEXT.get(c, c)} roof: class factor {f:.3g} > 1\n(its layers attain more "
                          f"than the roofline)")


def plot_layer_latency(analyses: list[Analysis], path: str | Path | None = None,
                       titles: list[str] | None = None, suptitle: str | None = None) -> RooflineFigure:
    """Per-layer predicted latency (µs) against layer index, one panel per analysis."""
    n = len(analyses)
    cols = min(n, 4)
    rows = -(-n // cols)
    with _figure((4.2 * cols, 3.4 * rows + 0.6)) as fig:
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
            if not len(lat_us):
                _no_layers(ax, "no layers: the model has nothing to predict per layer")
            ax.set_title(titles[k] if titles else f"{a.model}, RP {a.roof.ridge_point:.0f} MAC/B", fontsize=9)
            ax.set_xlabel("layer index")
            ax.set_ylabel("predicted latency (µs)")
        for k in range(n, rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
        if suptitle is None and n == 1:
            suptitle = f"Per-layer predicted latency: {_setup(analyses[0])}"
        if suptitle:
            fig.suptitle(suptitle)
    if path is not None:
        save_figure(fig, path)
    return fig


FAMILY_COLOURS = {"mobilenet_v4": ("MobileNetV4", "#e45756"), "mobilenet_v3": ("MobileNetV3", "#54a24b"),
                  "mobilenet_v2": ("MobileNetV2", "#b279a2"), "mobilenet_v1": ("MobileNetV1", "#4c78a8")}
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))


def _family(model: str) -> str:
    from ..zoo import model_card

    try:
        return model_card(model).family
    except Exception:  # a user model without a card
        return "other"


def _short(model: str) -> str:
    return model.replace("mnv", "v")


def plot_accuracy_vs_latency(pareto_df: pd.DataFrame, rps: list[float] | None = None,
                             path: str | Path | None = None, title: str = "") -> RooflineFigure:
    """The paper's Figure 2: top-1 vs predicted latency (log), one panel per RP, one line per family.

    Pareto-optimal models are ringed in black. ``rps`` are the panels; each must be
    one of the sweep's ridge points.
    """
    all_rps = list(dict.fromkeys(pareto_df["rp_macs_per_byte"].tolist()))
    rps = list(rps) if rps is not None else all_rps[:4]
    missing = [r for r in rps if not np.isclose(all_rps, r).any()]
    if missing or not rps:
        raise RooflineError(f"panels at RP {', '.join(f'{r:g}' for r in missing) or '(none)'}: the sweep has no such "
                            f"ridge point (it has {len(all_rps)}, from {min(all_rps):g} to {max(all_rps):g})")
    families = pareto_df["model"].map(_family)
    with _figure((4.2 * len(rps), 4.3)) as fig:
        axes = fig.subplots(1, len(rps), squeeze=False)[0]
        for ax, rp in zip(axes, rps):
            sel = np.isclose(pareto_df["rp_macs_per_byte"], rp)
            for fam, (label, colour) in list(FAMILY_COLOURS.items()) + [("other", ("other", "#333333"))]:
                g = pareto_df[sel & (families == fam)].sort_values("latency_s")
                if not g.empty:
                    ax.plot(g["latency_s"] * 1e3, g["top1"], "-o", color=colour, label=label, ms=5)
            front = pareto_df[sel & pareto_df["pareto_optimal"]]
            ax.scatter(front["latency_s"] * 1e3, front["top1"], s=90, facecolors="none", edgecolors="black",
                       linewidths=1.2, label="Pareto-optimal", zorder=3)
            ax.set_xscale("log")
            ax.set_title(f"RP {rp:g} MACs/byte")
            ax.set_xlabel("predicted latency (ms)")
            ax.set_ylabel("ImageNet-1k top-1 (%)")
            ax.margins(x=0.15, y=0.12)
            label_log_axis(ax.xaxis)
        for ax, rp in zip(axes, rps):
            sel = np.isclose(pareto_df["rp_macs_per_byte"], rp)
            pts = pareto_df[sel]
            left = place_labels(ax, (pts["latency_s"] * 1e3).tolist(), pts["top1"].tolist(),
                                [_short(m) for m in pts["model"]])
            if left:
                ax.text(0.02, 0.02, "not labelled: " + ", ".join(t for _, _, t in left), fontsize=6,
                        transform=ax.transAxes)
        handles: dict[str, Any] = {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
        if title:
            fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


FAMILY_MAPS = {"mobilenet_v4": "Reds", "mobilenet_v3": "Greens", "mobilenet_v2": "Purples",
               "mobilenet_v1": "Blues"}  # a family's models: shades of its colour, one per model


def _line_styles(models: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """Each model's line: a shade of its family's colour of its own (a colormap across the family's
    models, light to dark) and a dash of its own within the family."""
    from matplotlib import colormaps

    by_family: dict[str, list[str]] = {}
    for m in dict.fromkeys(models):
        by_family.setdefault(_family(m), []).append(m)
    out = {}
    for fam, ms in by_family.items():
        cmap = colormaps[FAMILY_MAPS.get(fam, "Greys")]
        shades = np.linspace(0.5, 0.95, len(ms)) if len(ms) > 1 else [0.75]
        for k, (m, v) in enumerate(zip(ms, shades)):
            out[m] = (cmap(float(v)), LINESTYLES[k % len(LINESTYLES)])
    return out


def plot_front_distance(pareto_df: pd.DataFrame, path: str | Path | None = None,
                        title: str = "Distance from the Pareto front across ridge points (1.0 = on the front)"
                        ) -> RooflineFigure:
    """Over the whole sweep: each model's latency over the fastest model at equal or better accuracy.

    1.0 means on the Pareto front; above 1.0, how much slower than a model that is as good. Each
    model has its own line (family colour, its own dash) and its name at the right end.
    """
    import textwrap

    with _figure((9.5, 5.5)) as fig:
        ax = fig.add_subplot()
        styles = _line_styles(pareto_df["model"].tolist())
        for model, g in pareto_df.groupby("model", sort=False):
            colour, ls = styles[model]
            g = g.sort_values("rp_macs_per_byte")
            ax.plot(g["rp_macs_per_byte"], g["slowdown_vs_front"], color=colour, alpha=0.9, ls=ls,
                    label=_short(model))
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_ylim(bottom=0.95)
        last_rp = pareto_df["rp_macs_per_byte"].max()
        on = pareto_df[(pareto_df["rp_macs_per_byte"] == last_rp) & pareto_df["pareto_optimal"]]["model"]
        ax.set_xlabel(f"ridge point (MACs per byte)\non the front at RP {last_rp:g}: "
                      + ", ".join(_short(m) for m in on))
        ax.set_ylabel("latency / fastest model with equal or better top-1")
        ax.set_title("\n".join(textwrap.wrap(title, 100)), fontsize=9)  # wrapped: within the axes' width
        n = pareto_df["model"].nunique()
        fig.legend(loc="outside right upper", title="model (colour: family)", ncol=1 if n <= 24 else 2)
    if path is not None:
        save_figure(fig, path)
    return fig


def _mark_lines(ax: Any, marks: dict[str, float]) -> list:
    """Vertical lines at named ridge points, each named at the top; a name that would overlap another
    goes one row lower (close profiles stack instead of printing over each other)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    rows: list[list[Any]] = []
    anns = []
    for name, rp in sorted(marks.items(), key=lambda kv: kv[1]):
        ax.axvline(rp, color="#555555", lw=0.9, ls=":")
        for row in range(len(rows) + 1):
            ann = ax.annotate(f"{name}\nRP {rp:.3g}", (rp, 1.0), xycoords=("data", "axes fraction"),
                              xytext=(3, -4 - 24 * row), textcoords="offset points", fontsize=7, va="top",
                              color="#333333", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                                                     "pad": 0.5})
            box = ann.get_window_extent(renderer)
            if row == len(rows):
                rows.append([])
            if not any(box.overlaps(b) for b in rows[row]):
                rows[row].append(box)
                anns.append(ann)
                break
            ann.remove()
    return anns


def plot_sweep(sweep_df: pd.DataFrame, path: str | Path | None = None, relative_to: str | None = None,
               marks: dict[str, float] | None = None, title: str | None = None) -> RooflineFigure:
    """Predicted latency against ridge point, one line per model (log-log; RP 0 is left out of a log
    axis and said so). ``relative_to``: latency over that model's at each RP. ``marks``: name -> ridge
    point drawn as vertical lines (named hardware profiles). Each line is named at its right end,
    labels placed so they do not overlap; the legend lists every model too."""
    df = sweep_df[sweep_df["rp_macs_per_byte"] > 0]
    if df.empty:
        raise RooflineError("a ridge-point plot needs ridge points above 0 (RP 0 has no place on a log axis)")
    if relative_to is not None:
        if relative_to not in set(df["model"]):
            raise RooflineError(f"--relative-to {relative_to}: not one of the swept models "
                                f"({', '.join(dict.fromkeys(df['model']))})")
        ref = df[df["model"] == relative_to].set_index("rp_macs_per_byte")["latency_s"]
        df = df.assign(value=df["latency_s"].to_numpy() / ref.reindex(df["rp_macs_per_byte"]).to_numpy())
    else:
        df = df.assign(value=df["latency_s"] * 1e3)
    with _figure((9.5, 5.8)) as fig:
        ax = fig.add_subplot()
        styles = _line_styles(df["model"].tolist())
        ends = []
        for model, g in df.groupby("model", sort=False):
            colour, ls = styles[model]
            g = g.sort_values("rp_macs_per_byte")
            ax.plot(g["rp_macs_per_byte"], g["value"], color=colour, ls=ls, lw=1.4, label=_short(model))
            ends.append((float(g["rp_macs_per_byte"].iloc[-1]), float(g["value"].iloc[-1]), _short(model)))
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        _mark_lines(ax, marks or {})
        skipped = int((sweep_df["rp_macs_per_byte"] == 0).any())
        ax.set_xlabel("ridge point (MACs per byte)" + ("; RP 0 (MACs only) is not on a log axis" if skipped else ""))
        ax.set_ylabel(f"latency relative to {relative_to} (its latency at the same RP = 1)" if relative_to
                      else "predicted latency (ms)")
        setup = sweep_df.attrs.get("setup")
        import textwrap

        ax.set_title(title or "\n".join(["Latency across ridge points"]
                                        + (textwrap.wrap(setup.describe(), 95) if setup else [])), fontsize=9)
        xs, ys, texts = zip(*ends)
        place_labels(ax, xs, ys, texts, fontsize=7)
        fig.legend(loc="outside right upper", title="model (colour: family)")
    if path is not None:
        save_figure(fig, path)
    return fig



# One model across devices: a bar per profile (the estimate), its 80 % band as an error bar,
# validated apart from estimates that no measurement of the device checked, Eq. 1 bounds marked apart.
VALIDATED = "#1f5fa8"   # a prediction whose band comes from the profile's own held-out measurements
SPEC_ONLY = "#bbbbbb"   # an estimate for an unvalidated reading (transferred or the prior of its kind)


def _validated(a: Any) -> bool:
    return bool(a.band is not None and a.band.validated)


def plot_devices(analyses: Sequence[Any], path: str | Path | None = None, title: str | None = None
                 ) -> RooflineFigure:
    """The model's latency on each profile (one horizontal bar each, fastest on top, log axis): the
    estimate (:attr:`Analysis.estimate`), with its 80 % band as an error bar. Solid blue: validated by
    the profile's own measurements; grey, hatched: an estimate no measurement of the device checked
    (transferred, or the prior of its kind); a black tick: Eq. 1 at the spec sheet, a lower bound."""
    analyses = list(analyses)
    if not analyses:
        raise RooflineError("plot_devices needs at least one analysis (one per profile)")

    def point(a: Any) -> float:
        return a.estimate.seconds if a.estimate is not None else a.total_latency_s

    rows = sorted(analyses, key=point)
    ms = np.array([point(a) * 1e3 for a in rows])
    lo = np.array([a.estimate.low_s * 1e3 if a.estimate is not None else np.nan for a in rows])
    hi = np.array([a.estimate.high_s * 1e3 if a.estimate is not None else np.nan for a in rows])
    bound = np.array([a.total_latency_s * 1e3 if a.band is None and a.is_lower_bound else np.nan for a in rows])
    ok = [_validated(a) for a in rows]
    with _figure((8.5, 1.2 + 0.38 * len(rows))) as fig:
        ax = fig.add_subplot()
        y = np.arange(len(rows))[::-1]
        ax.barh(y, ms, color=[VALIDATED if v else SPEC_ONLY for v in ok],
                hatch=None, edgecolor=["none" if v else "#666666" for v in ok], height=0.65)
        for bar, v in zip(ax.patches, ok):
            if not v:
                bar.set_hatch("///")
        has = ~np.isnan(lo)  # the band from lo to hi (it holds the bar's end)
        if has.any():
            ax.errorbar((lo[has] + hi[has]) / 2, y[has], xerr=(hi[has] - lo[has]) / 2, fmt="none", ecolor="black",
                        elinewidth=1, capsize=3)
        if (~np.isnan(bound)).any():
            ax.plot(bound[~np.isnan(bound)], y[~np.isnan(bound)], linestyle="none", marker="|", markersize=14,
                    markeredgewidth=2, color="black", gid="eq1-lower-bound")
        ax.set_yticks(y, [f"{a.hardware.name} ({a.dtype})" for a in rows])
        ax.set_xscale("log")
        finite = np.concatenate([ms, lo[~np.isnan(lo)], hi[~np.isnan(hi)], bound[~np.isnan(bound)]])
        ax.set_xlim(finite.min() / 1.6, finite.max() * 1.6)
        label_log_axis(ax.xaxis)
        for yi, a in zip(y, rows):
            ax.annotate(units.seconds(point(a)), (point(a) * 1e3, yi), xytext=(3, 4), textcoords="offset points",
                        fontsize=7)
        ax.set_xlabel("predicted latency (ms, log scale); error bar: 80 % band; tick: Eq. 1 lower bound (spec sheet)")
        first = rows[0]
        ax.set_title(title or f"{first.model} across devices: predicted latency per profile "
                              f"(convention {first.convention.name}, {first.latency.execution})", fontsize=9)
        fig.legend(handles=[Patch(color=VALIDATED, label="validated: band from the profile's own measurements"),
                            Patch(facecolor=SPEC_ONLY, edgecolor="#666666", hatch="///",
                                  label="unvalidated reading: estimate (transferred or prior of its kind)")],
                   loc="outside lower center", ncol=2)
    if path is not None:
        save_figure(fig, path)
    return fig
