"""Commands about hardware: profiles, and a model's predicted latency on them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core import units
from ..core.errors import RooflineError, UnsupportedOpWarning
from ..core.io import check_not_input, check_writable

from .app import (_Command, app, out, err, Fmt, _emit, _output_format, FittedOpt, CalibratedOpt, DtypeOpt,
    ConventionOpt, ResolutionOpt, WidthOpt, BatchOpt, ExecOpt, OverheadOpt, OnChipOpt, UserModelOpt, InputShapeOpt,
    ModelArg, _mode, HwListOpt, _hw_list, ModelFamilyOpt)
from .views import (_as_text, _fitted_table, _emit_comparison, _summary_view, _summary_text, _emit_frame,
                    _family_line, _has_tabulate)
from .models import _load_model, _warn_unsupported


@app.command(cls=_Command)
def hw(name: Annotated[Optional[str], typer.Argument(help="A profile name or YAML file to show.")] = None
       ) -> None:
    """List hardware profiles, or show one with the sources of its numbers."""
    from ..hardware import list_hardware, load_hardware

    if name is None:
        t = Table(title="Hardware profiles (MAC/s: one multiply-accumulate = 2 vendor ops; 'roofline hw NAME' "
                        "describes one)")
        names = list_hardware()
        for c in ("name", "kind", "dtype", "peak", "bandwidth", "RP MAC/B", "fitted RP", "status"):
            t.add_column(c, no_wrap=c != "status", min_width=max(map(len, names)) if c == "name" else None)
        for n in names:
            p = load_hardware(n)
            spec = p.peak_macs_per_s.get(p.default_dtype)
            t.add_row(n, p.kind, p.default_dtype, units.count(spec.value, "MAC/s") if spec else "-",
                      units.count(p.mem_bw_bytes_per_s.value, "B/s"),
                      f"{spec.value / p.mem_bw_bytes_per_s.value:.1f}" if spec else "-",
                      f"{p.fitted.ridge_point_macs_per_byte:.4g}" if p.fitted else "",
                      p.status + (" ({:.1%} {})".format(*p.validation.headline())
                                  if p.validation and p.validation.status != "transferred" else ""))
        out.print(t)
        return
    p = load_hardware(name)
    lines = [f"{p.name} ({p.kind}): {p.description}", f"  file: {p.path}", f"  default dtype: {p.default_dtype}"]
    for dt, f in p.peak_macs_per_s.items():
        lines.append(f"  peak {dt}: {units.count(f.value, 'MAC/s')} [{f.confidence}] source: {f.source}")
    b = p.mem_bw_bytes_per_s
    lines.append(f"  DRAM bandwidth: {units.count(b.value, 'B/s')} [{b.confidence}] source: {b.source}")
    if p.on_chip_bytes:
        o = p.on_chip_bytes
        lines.append(f"  on-chip memory: {units.size(o.value)} [{o.confidence}] source: {o.source}")
    if p.fitted:
        f = p.fitted
        bw = units.count(f.mem_bw_bytes_per_s, "B/s") if f.mem_bw_bytes_per_s else "the DRAM bandwidth"
        lines.append(f"  fitted ({f.dtype}): ridge point {f.ridge_point_macs_per_byte:.4g} MAC/B at {bw} "
                     f"[{f.confidence}] source: {f.source}")
        for dt_, rp_ in f.other_dtypes.items():
            lines.append(f"  fitted ({dt_}): ridge point {rp_:.4g} MAC/B at the same bandwidth")
        if f.reduction_half:
            lines.append(f"  reduction half-length: {f.reduction_half:.3g} MACs per output element (a compute "
                         f"layer runs at 1 / (1 + this / its MACs per output) of its class's rate)")
        if f.efficiency:
            from ..engine.efficiency import describe as describe_efficiency

            lines.append(f"  per-op-class efficiency (share of the roofline attained; dense conv 1): "
                         f"{describe_efficiency(f.efficiency)}")
        if f.family:
            lines.append("  family multipliers (latency of a model of the family; others x1): "
                         + ", ".join(f"{k} x{v:.3g}" for k, v in f.family.items()))
    for dt in p.dtypes:
        r = p.roof(dt)
        lines.append(f"  roofline used by default for {dt}: {r.mode}, peak {units.count(r.peak_macs_per_s, 'MAC/s')}, "
                     f"bandwidth {units.count(r.mem_bw_bytes_per_s, 'B/s')}, ridge point {r.ridge_point:.4g} MAC/B")
    for c in p.ceilings:
        rates = [f"{op} {units.count(v, 'MAC/s')}" for op, v in c.macs_per_s.items()]
        rates += [f"{op} {units.count(v, 'B/s')}" for op, v in c.bytes_per_s.items()]
        lines.append(f"  measured ceilings at batch {c.batch} (--calibrated): " + ", ".join(rates))
        if c.shape:
            lines.append("    reached by large layers only; half the ceiling at (outputs, MACs per output, MACs per "
                         "weight, output channels): " + ", ".join(
                             f"{op} ({t.out_half:.3g}, {t.reduction_half:.3g}, {t.reuse_half:.3g}, {t.channels_half:.3g})"
                             for op, t in c.shape.items()))
        if c.parallel:
            lines.append("    parallel kernels' extra cost: " + ", ".join(
                f"{op} {units.seconds(x)} from {n:,.0f} output elements" for op, (n, x) in c.parallel.items()))
    from ..engine.latency import seconds_text

    o = p.overhead
    for ex, k in o.per_kernel_s.items():
        by_op = ", ".join(f"{op} {seconds_text(v)}" for op, v in k.by_op.items())
        lines.append(f"  per-kernel cost ({ex} execution): {seconds_text(k.value)}"
                     f"{f' ({by_op})' if by_op else ''} [{k.confidence}] source: {k.source}")
    if o.per_inference_s:
        f = o.per_inference_s
        lines.append(f"  per-inference cost: {seconds_text(f.value)} [{f.confidence}] source: {f.source}")
    if o.fresh_memory_s_per_byte:
        f = o.fresh_memory_s_per_byte
        lines.append(f"  fresh memory (eager): {seconds_text(f.value * 1e6)} per MB [{f.confidence}] "
                     f"source: {f.source}")
    if o.fresh_memory_share is not None:
        f = o.fresh_memory_share
        lines.append(f"  fresh share of the activation bytes (eager): {f.value:.1%} [{f.confidence}] "
                     f"source: {f.source}")
    if p.machine:
        lines.append("  machine: " + ", ".join(f"{k}={v}" for k, v in p.machine.items()))
    v = p.validation
    if v is None:
        from ..engine.band import prior

        pr = prior(p.kind)
        lines.append(f"  status: {p.status}" + (
            f"; its Eq. 1 is a lower bound: measured / spec-only Eq. 1 ran {pr.low:.2f}-{pr.high:.2f} (80 %, "
            f"median {pr.median:.2f}) on {pr.profiles} validated {pr.kind} profiles ({pr.rows} measurements); "
            f"analyze leads with a calibrated estimate" if pr else ""))
    else:
        lines.append(f"  status: {v.status}: {v.data}; {v.method}; terms {', '.join(v.terms) or 'none'}")
        extra = "".join(f", {label} {x:.1%}" for label, x in (("in-sample median error", v.insample_median_error),
                                                              ("held-out worst", v.heldout_worst_error)) if x is not None)
        if v.nested_heldout_median_error is not None:
            parts = [f"median error {v.nested_heldout_median_error:.1%}"]
            for label, x, spec in (("worst", v.nested_heldout_worst_error, ".1%"), ("Spearman", v.nested_spearman, ".3f"),
                                   ("80 % band coverage", v.nested_band_coverage, ".0%")):
                if x is not None:
                    parts.append(f"{label} {x:{spec}}")
            lines.append(f"  nested check ({v.nested_folds} outer folds, each training part running the whole "
                         f"selection; the honest figure): " + ", ".join(parts))
            extra += " (the selection's own folds: optimistic)"
        if v.status == "transferred":  # the figures are the source device's, not this one's
            extra += " (the source device's, on its own measurements: none of this device checked it)"
        lines.append(f"  held-out median error {v.heldout_median_error:.1%}{extra}"
                     + (f"; Spearman {v.heldout_spearman:.3f} (MAC count {v.macs_spearman:.3f})"
                        if v.heldout_spearman is not None and v.macs_spearman is not None else "")
                     + f"; 80 % band {v.ratio_p10:.2f}-{v.ratio_p90:.2f} x the prediction"
                     + (f" ({v.new_family_ratio_p10:.2f}-{v.new_family_ratio_p90:.2f} for a model of a family "
                        f"without a multiplier)" if v.new_family_ratio_p10 is not None else ""))
    print("\n".join(lines))


@app.command(cls=_Command)
def analyze(
    model: ModelArg = None,
    hw_names: HwListOpt = None,
    resolution: ResolutionOpt = None, width: WidthOpt = None, batch: BatchOpt = 1, dtype: DtypeOpt = None,
    convention: ConventionOpt = None, fitted: FittedOpt = None, calibrated: CalibratedOpt = False,
    execution: ExecOpt = None, overhead: OverheadOpt = True, on_chip: OnChipOpt = False,
    top: Annotated[Optional[int], typer.Option(help="The N slowest layers (default 10 in the summary; with "
                                               "--all, only those).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every layer, every column (wide).", metavar="")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", metavar="FORMAT", help="table, csv, json or markdown "
                                     "(default: from -o's suffix, else table).")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
    compare_measured: Annotated[bool, typer.Option("--compare-measured", help="Compare predictions with the "
                                                   "latencies measured on this device in the MobileNetV4 paper.", metavar="")] = False,
    user_model: UserModelOpt = None, input_shape: InputShapeOpt = None, family: ModelFamilyOpt = None,
) -> None:
    """Predict a model's latency on a piece of hardware, layer by layer (roofline, Eq. 1)."""
    from ..studies.compare import compare_measured as run_compare
    from ..engine import analyze as run_analyze

    hw_names = _hw_list(hw_names)
    hw_name = hw_names[0]
    if output is not None:
        fmt = _output_format(output, fmt, "analyze has no figure; 'roofline report'")
        check_writable(output)
        check_not_input(output, model, user_model, *hw_names)
    if top is not None and top < 1:
        raise RooflineError(f"--top must be a positive integer, got {top}")
    mode = _mode(fitted, calibrated)
    if compare_measured and model is None and user_model is None:
        df = run_compare(hw_name, convention, mode, execution, None if overhead else False)
        if df.empty:
            raise RooflineError(f"the MobileNetV4 paper's Table 6 has no measurements for {hw_name}")
        _emit_frame(df, fmt, output, f"{hw_name}: predicted vs measured latency (ms); measured: "
                                         f"{df.attrs['source']}")
        return
    target, shape, resolution = _load_model(model, user_model, input_shape, resolution)
    if len(hw_names) > 1:
        if compare_measured or show_all or top is not None:
            raise RooflineError("with several --hw, analyze prints one comparison: --compare-measured, --all "
                                "and --top take one profile")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsupportedOpWarning)
            analyses = [run_analyze(target, h, dtype=dtype, convention=convention, mode=mode, resolution=resolution,
                                    width=width, batch=batch, input_shape=shape, on_chip=on_chip,
                                    execution=execution, overhead=None if overhead else False, family=family)
                        for h in hw_names]
        _emit_comparison(analyses, fmt, output)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)  # listed below, one line per op
        a = run_analyze(target, hw_name, dtype=dtype, convention=convention, mode=mode, resolution=resolution,
                        width=width, batch=batch, input_shape=shape, on_chip=on_chip, execution=execution,
                        overhead=None if overhead else False, family=family)
    _warn_unsupported(a.table)
    layers = a.layers if top is None else a.layers.loc[a.layers["latency_s"].nlargest(top).index.sort_values()]
    if fmt is Fmt.json:
        _emit(json.dumps(a.to_dict(), indent=2), output)
    elif fmt is Fmt.csv:
        _emit(f"# {a.assumptions().replace(chr(10), chr(10) + '# ')}\n" + layers.to_csv(index=False), output)
    elif fmt is Fmt.markdown:
        cols = ["name", "op", "macs", "weight_bytes", "activation_bytes", "intensity_macs_per_byte",
                "mac_time_s", "mem_time_s", "kernels", "overhead_s", "family_multiplier", "latency_s", "bound"]
        body = layers[cols].to_markdown(index=False) if _has_tabulate() else layers[cols].to_string(index=False)
        _emit(f"# {a.model} on {a.hardware.name}\n\n```\n{a.assumptions()}\n```\n\n{body}\n\n"
              + _summary_text(a), output)
    elif show_all:
        rows = [(r.name, r.op, units.count(float(r.macs)), units.size(float(r.bytes)),
                 units.plain(r.intensity_macs_per_byte), r.bound, units.plain(r.roofline_s * 1e6),
                 units.plain(r.overhead_s * 1e6), units.plain(r.latency_s * 1e6)) for r in layers.itertuples(index=False)]
        heads = ["layer", "op", "MACs", "bytes", "MAC/B", "bound", "roofline", "overhead", "latency"]
        t, w = _fitted_table(f"{a.model} on {a.hardware.name} ({a.roof.mode} roofline, {a.dtype}); times in µs; "
                             f"{_family_line(a)}every column: --format csv", heads, rows, {"layer", "op", "bound"},
                             ("overhead", "MAC/B", "roofline", "bytes"), 120)
        _emit(_as_text(t, _summary_text(a), width=w), output)
    else:
        parts = _summary_view(a, top or 10)
        if output is None:
            for p in parts:
                out.print(p)
        else:
            _emit(_as_text(*parts), output)
    if compare_measured:
        df = run_compare(hw_name, convention, mode, execution, None if overhead else False)
        row = df[df["model"] == a.model]
        if row.empty:
            err.print(f"no measured latency for {a.model} on {a.hardware.name} in the MobileNetV4 paper's Table 6")
        else:
            r = row.iloc[0]
            err.print(f"measured {r.measured_ms:.2f} ms ({df.attrs['source']}); predicted "
                      f"{r.predicted_ms:.3f} ms; ratio {r.ratio_predicted_to_measured:.2f}")


@app.command(cls=_Command)
def derive(
    name: Annotated[str, typer.Argument(help="The new profile's name.")],
    like: Annotated[str, typer.Option("--like", help="A validated profile of the same kind (e.g. rtx3090).")],
    peak: Annotated[list[str], typer.Option("--peak", help="dtype=MAC/s from the spec sheet, e.g. fp16=3.5e13 "
                                            "(one MAC = 2 vendor ops; repeat for several dtypes).")],
    bw: Annotated[float, typer.Option("--bw", help="Memory bandwidth from the spec sheet (B/s).")],
    description: Annotated[str, typer.Option(help="One line describing the device.")] = "",
    source: Annotated[str, typer.Option(help="Where the spec numbers come from.")] = "",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Profile YAML to write.")] = None,
) -> None:
    """A profile for a device with only a spec sheet, transferring a validated profile's fitted terms.

    Carried: its fitted / spec shares of peak and bandwidth, its convention and execution, class
    factors, reduction half-length and overheads; not its family multipliers (its new-family band,
    widened, is the band). Nothing is written unless the profile loads back."""
    from ..hardware import profile_to_yaml
    from ..hardware.transfer import derive as run_derive

    if output is not None:
        check_writable(output)
        check_not_input(output, like)
    given = [item.partition("=")[0].strip() for item in peak]
    twice = next((d for i, d in enumerate(given) if d in given[:i]), None)
    if twice is not None:
        raise RooflineError(f"--peak {twice}= is given more than once; give each dtype one peak")
    peaks = {}
    for item in peak:
        dt, sep, value = item.partition("=")
        try:
            peaks[dt.strip()] = float(value)
        except ValueError:
            raise RooflineError(f"--peak must look like fp16=3.5e13, got {item!r}") from None
        if not sep:
            raise RooflineError(f"--peak must look like fp16=3.5e13, got {item!r}")
    p = run_derive(name, like, peaks, bw, description, source)
    _emit(profile_to_yaml(p), output)
