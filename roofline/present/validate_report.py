"""The report of a ``roofline validate`` run: markdown, figures, CSV and JSON in a folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import report_folder, write_atomic
from ..core.reading import Mode
from ..engine import Analysis
from ..hardware import BYTES_PER_ELEMENT, Roof
from ..measure.fresh import HOLD_MMAP_BYTES, HOLD_TRIM_BYTES
from ..measure.validate import WARMUP, ValidationRun
from .plots import OP_GROUPS, figure, label_log_axis, op_group, place_labels, save_figure


def write_report(v: ValidationRun, out_dir: str | Path, profile_runs: list[dict] | None = None) -> Path:
    """Markdown + PNG + CSV + JSON report of a validation run in ``out_dir`` (built aside, then moved
    into place: an interrupted run leaves nothing)."""
    with report_folder(out_dir) as out:
        write_report_files(v, out, profile_runs)
    return Path(out_dir) / "README.md"


def write_report_files(v: ValidationRun, out: Path, profile_runs: list[dict] | None = None) -> None:
    """Write the report's files into an existing folder ``out``."""
    if not v.layers.empty:
        _plot_layers(v, out / "layers_predicted_vs_measured.png")
    _plot_models(v, out / "models_predicted_vs_measured.png")
    write_atomic(out / "models.csv", v.models.to_csv(index=False))
    write_atomic(out / "layers.csv", v.layers.to_csv(index=False))
    write_atomic(out / "validation.json", json.dumps(v.to_dict(), indent=2))
    write_atomic(out / "README.md", markdown(v, profile_runs or []))


def _plot_layers(v: ValidationRun, path: Path) -> None:
    with figure((7.5, 6)) as fig:
        ax = fig.add_subplot()
        groups = v.layers["op"].map(op_group)
        for g, (label, colour) in OP_GROUPS.items():
            sel = groups == g
            if sel.any():
                ax.scatter(v.layers.loc[sel, "predicted_us"], v.layers.loc[sel, "measured_us"], s=10,
                           c=colour, label=label, alpha=0.7)
        lo = max(min(v.layers["predicted_us"].min(), v.layers["measured_us"].min()) / 2, 1e-3)
        hi = max(v.layers["predicted_us"].max(), v.layers["measured_us"].max()) * 2
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        ax.set_xlabel("predicted latency (µs)")
        ax.set_ylabel("measured latency (µs)")
        ax.set_title(f"Per-layer latency, {len(v.models)} models: {v.setup}\n(profile {v.profile.name})")
        fig.legend(loc="outside lower center", ncol=3)  # beside the axes it ran into the title's end
    save_figure(fig, path)


def _plot_models(v: ValidationRun, path: Path) -> None:
    with figure((7.5, 5.2)) as fig:
        ax = fig.add_subplot()
        ax.scatter(v.models["predicted_ms"], v.models["measured_ms"], c="#1f77b4", label="latency model", zorder=3)
        ax.scatter(v.models["roofline_ms"], v.models["measured_ms"], c="#aaaaaa", marker="x",
                   label="Eq. 1 alone (no overhead terms)")
        cols = v.models[["roofline_ms", "predicted_ms", "measured_ms"]]
        lo, hi = cols.min().min() / 2, cols.max().max() * 2
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        ax.set_xlabel("predicted latency (ms)")
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(f"Model latency, predicted vs measured: {v.setup}")
        place_labels(ax, v.models["predicted_ms"].tolist(), v.models["measured_ms"].tolist(),
                     list(v.models["model"]), fontsize=7)
        fig.legend(loc="outside lower center", ncol=3)
    save_figure(fig, path)


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x) >= 0.1 else f"{x:.1%}"


def _profile_runs_md(profile_runs: list[dict]) -> str:
    """The section listing repeated ``roofline profile`` runs ('' without any)."""
    if not profile_runs:
        return ""
    table = pd.DataFrame(profile_runs)

    def between(c: str) -> str:  # a ratio where every run is positive, else the range (a term fitted at 0)
        lo, hi = float(table[c].min()), float(table[c].max())
        return f"{hi / lo - 1:.1%}" if lo > 0 else f"{lo:.4g} to {hi:.4g}"

    cols = [c for c in table.columns if c != "profile" and table[c].notna().all()]
    return ("\n## Repeated runs of `roofline profile` on this machine\n\n"
            + table.to_markdown(index=False, floatfmt=".4g") + "\n\nLargest difference between runs: "
            + ", ".join(f"{c} {between(c)}" for c in cols) + ".\n")


def _model_findings(v: ValidationRun, a: Analysis) -> list[str]:
    """The bullet points on the models: error, rank correlation, Eq. 1 alone, fresh memory."""
    m = v.models
    err = m["error"]
    eq1_ratio = m["measured_ms"] / m["roofline_ms"]
    under = int((err < 0).sum())
    within = int((err.abs() <= 0.2).sum())
    worst = m.loc[err.abs().idxmax()]
    overhead_share = (m["overhead_ms"] / m["predicted_ms"])
    lines = [
        f"- Median |predicted / measured - 1| over the {len(m)} models: **{_pct(v.median_abs_error)}**; "
        f"{within} of {len(m)} within 20 %; the worst is {worst['model']} ({worst['error']:+.0%}). "
        f"{under} of {len(m)} predictions are below the measurement.",
        f"- Spearman rank correlation, predicted vs measured model latency: **{v.spearman_models:.3f}**; "
        f"MAC count vs measured: {v.spearman_macs:.3f}.",
        f"- Eq. 1 alone (no overhead terms): measured is {eq1_ratio.min():.2g}-{eq1_ratio.max():.2g}x it; "
        + ("it is a lower bound for every model here. " if (eq1_ratio >= 1).all() else
           f"it is above the measurement for {int((eq1_ratio < 1).sum())} of {len(m)} models. ")
        + f"The overhead terms make up {overhead_share.min():.0%}-{overhead_share.max():.0%} of the predictions.",
    ]
    if v.device == "cpu" and "page_faults" in m and v.execution == "eager":
        import mmap

        act = pd.Series({k: float(x.layers["activation_bytes"].sum()) for k, x in v.analyses.items()})
        fresh = m["page_faults"].to_numpy() * mmap.PAGESIZE / act[m["model"]].to_numpy()
        share = a.latency.fresh_memory_share
        lines.append(f"- Fresh memory: page faults per inference x {mmap.PAGESIZE} B over each model's activation "
                     f"bytes came to {fresh.min():.1%}-{fresh.max():.1%} (median {np.median(fresh):.1%}); "
                     + ("the profile charges none." if not a.latency.fresh_memory_s_per_byte else
                        f"the profile charges {share:.1%} for every model." if share is not None else
                        "the profile charges the largest layer's activations."))
    if "machine_speed" in m and m["machine_speed"].notna().any():
        sp = m["machine_speed"].dropna()
        drift = v.profile.machine.get("reference_drift")
        lines.append(f"- Machine speed: {v.profile.machine.get('reference', 'a reference matmul')}, timed after each "
                     f"model, ran at {sp.min():.2f}-{sp.max():.2f}x (median {sp.median():.2f}x) its rate while the "
                     f"profile was measured"
                     + (f" (which moved {drift:+.1%} from the profile's start to its end)"
                        if isinstance(drift, (int, float)) else "")
                     + ": a host whose speed drifts moves every measurement by about that much, whatever the "
                       "profile's terms.")
    return lines


def _per_layer(v: ValidationRun, a: Analysis) -> tuple[list[str], str]:
    """The bullet point on the layers (none where no layer was measured) and the per-layer section."""
    if v.layers.empty:
        return [], ("\n## Per layer\n\nNot measured: per-layer times come from a profiled eager run, "
                    f"and this run predicted `{a.latency.execution}` execution.\n")
    by_model = v.spearman_layers_by_model()
    line = (f"- Per layer ({len(v.layers)} layers matched to profiled ops): Spearman **{v.spearman_layers:.3f}**, "
            f"median |error| {_pct(v.median_abs_error_layers)}; per model: "
            + ", ".join(f"{k} {s:.2f}" for k, s in by_model.items()) + ".")
    ratio = v.layers.assign(ratio=v.layers["measured_us"] / v.layers["predicted_us"]).groupby("op")["ratio"]
    per_op = pd.DataFrame({"layers": ratio.size(), "median measured / predicted": ratio.median(),
                           "share measured >= predicted": v.layers.assign(
                               ok=v.layers["measured_us"] >= v.layers["predicted_us"]).groupby("op")["ok"].mean()})
    return [line], ("\n## Per layer\n\n![layers](layers_predicted_vs_measured.png)\n\n"
                    + per_op.reset_index().to_markdown(index=False, floatfmt=".3g") + "\n")


def _models_table(v: ValidationRun) -> str:
    """The per-model table, spreads and errors as percentages."""
    m = v.models.copy()
    m["spread"] = m["spread"].map(lambda s: f"{s:.0%}")
    if "process_spread" in m:
        m["process_spread"] = m["process_spread"].map(lambda s: f"{s:.0%}")
        m["page_faults"] = m["page_faults"].map(lambda f: f"{f:.0f}")
    if "machine_speed" in m:
        m["machine_speed"] = m["machine_speed"].map(lambda s: "" if s != s else f"{s:.2f}x")
    m["error"] = m["error"].map(lambda s: f"{s:+.1%}")
    return m.to_markdown(index=False, floatfmt=".4g")


def _timing_text(v: ValidationRun) -> str:
    """How the models were timed."""
    if not v.processes:
        return (f"all in one process, one model after another, {v.runs} timed runs after {WARMUP} warm-up runs, "
                f"median.")
    ps = v.models["process_spread"]
    return (f"each model in {v.processes} fresh Python process{'es' if v.processes > 1 else ''} of its "
            f"own, as a deployment runs one model: {v.runs} timed runs after {WARMUP} warm-up runs in each, "
            f"the median of {'their medians' if v.processes > 1 else 'the runs'}"
            + (f"; each process first made glibc keep the memory it frees (mallopt: trim threshold "
               f"{HOLD_TRIM_BYTES >> 20} MiB, mmap threshold {HOLD_MMAP_BYTES >> 20} MiB), as a serving process "
               f"tuned for steady latency does, so an inference reuses the last one's memory instead of "
               f"page-faulting it in fresh from the OS" if v.memory_held else "")
            + (f". Between processes a model's median moved by {ps.median():.0%} (median over models; "
               f"at most {ps.max():.0%}, {v.models.loc[ps.idxmax(), 'model']})" if v.processes > 1 else "")
            + "; `spread` is the interquartile range over the median of all its runs, `process_spread` "
              "the range of its process medians over the median, `page_faults` the minor page faults "
              "per inference (memory fresh from the OS; median over processes)"
            + (", `machine_speed` the reference matmul's rate just after the model ran (median over processes) "
               "over its rate while the profile was measured." if "machine_speed" in v.models else "."))


def _ceilings_text(roof: Roof) -> str:
    """The calibrated roofline's per-op-class ceilings ('' for other readings)."""
    if roof.mode != Mode.CALIBRATED:
        return ""
    return (f"Per-op-class ceilings measured at batch {roof.ceilings_batch}: "
            + ", ".join(f"{k} {x:.3g} MAC/s" for k, x in (roof.ceilings or {}).items())
            + "".join(f", {k} {x:.3g} B/s" for k, x in (roof.ceiling_bytes or {}).items()) + "."
            + (" Compute classes reach these only for large layers: rate = ceiling / ((1 + out_half / "
               "output elements) x (1 + reduction_half / MACs per output) x (1 + reuse_half / MACs per "
               "weight) x (1 + channels_half / output channels)), with (out_half, reduction_half, "
               "reuse_half, channels_half): "
               + ", ".join(f"{k} ({t.out_half:.3g}, {t.reduction_half:.3g}, {t.reuse_half:.3g}, "
                           f"{t.channels_half:.3g})"
                           for k, t in roof.ceiling_shape.items()) + "."
               if roof.ceiling_shape else "") + "\n")


def _how_run(v: ValidationRun) -> str:
    if v.execution == "onnxruntime":
        return ("under ONNX Runtime's CPU execution provider (intra-op threads pinned to the run's, one inter-op "
                "thread, sequential, default graph optimizations; an ONNX file as given, a PyTorch model exported "
                "by `torch.onnx.export` at opset 17; inputs zeros)")
    if v.execution == "litert":
        return ("under LiteRT's interpreter (`ai_edge_litert`, default delegates: XNNPACK takes the ops it has "
                "kernels for, LiteRT's builtin kernels the rest; `num_threads` pinned to the run's; a TFLite file "
                "as given, a PyTorch model exported by `torch.onnx.export` at opset 17 and converted here to float32 "
                "TFLite, NHWC, batch norms folded and ReLU/ReLU6 fused into their convs "
                "(`roofline.measure.tflite_export`); inputs zeros of their own types)")
    return "eval mode,\n`torch.inference_mode`"


def _layers_how(v: ValidationRun) -> str:
    if v.execution == "litert":
        return ("Per-layer times: none. LiteRT's Python interpreter has no per-op profile, so these runs are end "
                "to end only.")
    if v.execution == "onnxruntime":
        return ("Per-layer times: ONNX Runtime's node profile (`enable_profiling`, kernel time of each executed "
                "node, median over its runs), each node attributed to the module of the trace row with the longest "
                "module path its name starts with, a module's rows (one per kernel the reader counts) compared as "
                "one; layout reorders and nodes no row owns are left out (a warning gives their share).")
    return ("Per-layer times: `torch.profiler` op times in a profiled eager run\n("
            + ("device time of each op" if v.device == "cuda" else "CPU time of each op")
            + "), attributed to\nthe module that ran them.")


def markdown(v: ValidationRun, profile_runs: list[dict]) -> str:
    """The report's text, every sentence computed from the data."""
    a = next(iter(v.analyses.values()))
    roof = a.roof
    facts = "\n".join(f"- {k}: {val:.4g}" if isinstance(val, float) else f"- {k}: {val}"
                      for k, val in v.profile.machine.items()) or "- (no machine facts in the profile)"
    layer_lines, per_layer_md = _per_layer(v, a)
    lines = _model_findings(v, a) + layer_lines
    warn_md = ("\n**Warnings:**\n\n" + "\n".join(f"- {w}" for w in v.warnings) + "\n") if v.warnings else ""
    return f"""# Latency predictions against measured latency ({v.device})

Generated by `roofline validate` with the profile `{v.profile.name}`
({v.profile.description}). Models ran for real: {v.setup}, {_how_run(v)}, {_timing_text(v)}
{_layers_how(v)}

**Predicted with:** {roof.mode} roofline, peak {roof.peak_macs_per_s:.4g} MAC/s, bandwidth
{roof.mem_bw_bytes_per_s:.4g} B/s (ridge point {roof.ridge_point:.2f} MACs/byte), dtype {roof.dtype};
convention `{a.convention.name}` ({a.convention.describe(BYTES_PER_ELEMENT[roof.dtype])});
latency model: {a.latency.describe()}.
{_ceilings_text(roof)}
## The machine

{facts}
{_profile_runs_md(profile_runs)}
## Per model

{_models_table(v)}

{chr(10).join(lines)}
{warn_md}
![models](models_predicted_vs_measured.png)
{per_layer_md}
Data: `models.csv`, `layers.csv`, `validation.json`.
"""
