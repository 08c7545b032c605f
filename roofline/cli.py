"""The ``roofline`` command line: a thin view over the Python API.

Every user error is a :class:`RooflineError` (or a click usage error), printed
as one line on stderr with exit code 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from . import interrupts
from .errors import OutputError, RooflineError, UnsupportedOpWarning
from .io import check_report_folder, check_writable, report_folder, write_atomic

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Roofline latency analysis for mobile vision networks (MobileNetV4 paper, Eq. 1).")
class _LazyConsole:
    """A rich Console made on first use, not at import (stdout may be closed or replaced by then)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str):
        if self._console is None:
            if self._stderr:
                self._console = Console(stderr=True, highlight=False, soft_wrap=True)
            else:
                tty = sys.stdout is not None and sys.stdout.isatty()
                self._console = Console(highlight=False, width=None if tty else 100)
        return getattr(self._console, name)


out = _LazyConsole(stderr=False)
err = _LazyConsole(stderr=True)


class _ClosedStdout(io.TextIOBase):
    """Standard output when it was closed: writing is a user error, not a traceback."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        raise OutputError("standard output is closed: give -o FILE, or do not close it")

    def isatty(self) -> bool:
        return False


class Fmt(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def _version(value: bool) -> None:
    if value:
        print(f"roofline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Roofline latency analysis for mobile vision networks."""


def _emit(text: str, output: Optional[Path]) -> None:
    """Print ``text`` or write it atomically to ``output``."""
    if output is None or str(output) == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_atomic(output, text)
        err.print(f"wrote {output}")


_SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "table"}
_FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _output_format(output: Optional[Path], fmt: "Fmt", figure_option: str = "") -> "Fmt":
    """The format of a text output: the file's suffix picks it (.csv, .json, .md) unless --format says
    otherwise; an image name is refused, never filled with text."""
    if output is None or str(output) == "-":
        return fmt
    suffix = output.suffix.lower()
    if suffix in _FIGURE_SUFFIXES:
        hint = f"; {figure_option} FILE{suffix} writes a figure" if figure_option else ""
        raise RooflineError(f"-o {output}: this command writes text (table, csv, json or markdown), not a "
                            f"{suffix[1:]} image{hint}")
    want = _SUFFIX_FORMATS.get(suffix)
    if want is not None and fmt is Fmt.table and want != "table":
        return Fmt(want)
    if want is not None and fmt is not Fmt.table and want not in (fmt.value, "table"):
        raise RooflineError(f"-o {output} names a {want} file but --format is {fmt.value}")
    return fmt


def _as_text(*renderables) -> str:
    """Render rich tables and text to plain text (for a file, or a view wider than the terminal)."""
    console = Console(record=True, width=240, file=io.StringIO(), highlight=False)
    for r in renderables:
        console.print(r, markup=False)
    return console.export_text()


def _fmt_int(n: float) -> str:
    return f"{int(n):,}"


# --- models -----------------------------------------------------------------------------------------

@app.command()
def models(
    source: Annotated[str, typer.Option(help="zoo, timm or torchvision (the last two need their extra).")] = "zoo",
    filter_: Annotated[str, typer.Option("--filter", help="Only names matching this pattern, e.g. 'mobile*'.")] = "*",
) -> None:
    """List the models: the zoo (name, resolution, params, published top-1), or a library's names."""
    import fnmatch

    from .zoo import list_models, model_card

    if source != "zoo":
        from .zoo.libraries import SOURCES, available

        if source not in SOURCES:
            raise RooflineError(f"unknown --source {source!r}; use zoo, {', '.join(SOURCES)}")
        names = available(source, filter_)
        if not names:
            raise RooflineError(f"no {source} model matches {filter_!r}")
        print("\n".join(names))
        err.print(f"{len(names)} {source} models; use them as {source}:NAME wherever a zoo name works")
        return
    t = Table(title="Model zoo (params exact, counted here; top-1 % on ImageNet-1k)", title_justify="left")
    for col in ("name", "width", "px", "params", "paper MACs (M)", "top-1 (%)", "top-1 source"):
        t.add_column(col, justify="left" if col in ("name", "top-1 source") else "right",
                     no_wrap=col != "top-1 source")
    for name in [n for n in list_models() if fnmatch.fnmatch(n, filter_)]:
        c = model_card(name)
        top1 = "" if c.top1 is None else f"{'~' if c.top1_mnv4_approx and c.top1_mnv4 else ''}{c.top1:.1f}"
        src = "MNv4 retraining" if c.top1_mnv4 is not None else (c.source if c.top1 is not None else "")
        t.add_row(c.name, f"{c.width:g}", str(c.resolution), _fmt_int(c.params),
                  "" if c.paper_macs_m is None else f"{c.paper_macs_m:g}", top1, src)
    out.print(t)


# --- trace ------------------------------------------------------------------------------------------

def _load_model(model: Optional[str], user_model: Optional[str], input_shape,
                resolution: Optional[int]):
    """The zoo name or user Module to trace, its input shape, and its resolution (224 for user models)."""
    if user_model:
        if model:
            raise RooflineError("give a zoo MODEL or --model FILE:FACTORY, not both")
        from .trace.user_model import load_factory

        target = load_factory(user_model)
    elif not model:
        raise RooflineError("missing MODEL (a zoo name; 'roofline models' lists them) or --model FILE:FACTORY")
    else:
        target = model
    shape = _parse_shape(input_shape)
    if not isinstance(target, str) and resolution is None and shape is None:
        resolution = 224
    return target, shape, resolution


@app.command()
def trace(
    model: Annotated[Optional[str], typer.Argument(help="Zoo model name, e.g. mnv4-conv-s or mnv2-1.5x.")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Input height = width in pixels "
                                                      "(default: the model's native resolution).")] = None,
    width: Annotated[Optional[float], typer.Option(help="Width multiplier (alpha).")] = None,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    no_fuse: Annotated[bool, typer.Option("--no-fuse", help="One row per raw aten op.")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
    user_model: Annotated[Optional[str], typer.Option("--model", help="A user model: path/to/file.py:factory "
                                                      "or package.module:factory.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Compare per-module MACs with fvcore.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on ops without a counting rule.")] = False,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="Full input shape, "
                                                             "comma-separated, e.g. 1,3,224,224; repeat it "
                                                             "for each input of a model with several.")] = None,
    depth: Annotated[Optional[int], typer.Option(help="Roll the counts up per module, N levels deep "
                                                 "(stage2.uib_0 is 2), with the share of MACs.")] = None,
) -> None:
    """Trace a model layer by layer: MACs, parameters, weight and activation elements."""
    from .trace import trace as run_trace

    if output is not None:
        fmt = _output_format(output, fmt)
        check_writable(output)
    target, shape, resolution = _load_model(model, user_model, input_shape, resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)  # listed below, one line per op
        table = run_trace(target, shape, resolution=resolution, batch=batch, width=width,
                          fuse=not no_fuse, strict=strict)
    for op, n in table.unsupported.items():
        err.print(f"warning: no counting rule for {op} ({n} calls): counted as 0 MACs", style="yellow")
    df = table.layers
    if depth is not None:
        from . import units

        rolled = table.by_module(depth)
        if fmt is Fmt.table:
            view = rolled.assign(**{c: rolled[c].map(units.count) for c in
                                    ("macs", "params", "weight_elems", "in_elems", "out_elems")},
                                 macs_share=rolled["macs_share"].map(units.share))
            _emit_frame(view.rename(columns={"macs": "MACs", "macs_share": "share of MACs",
                                             "weight_elems": "weight elements", "in_elems": "input elements",
                                             "out_elems": "output elements"}), fmt, output,
                        f"{table.model} @ {'x'.join(map(str, table.input_shape))}: per module, depth {depth} "
                        f"(counts in elements: bytes depend on the dtype)")
        else:
            _emit_frame(rolled, fmt, output, f"{table.model}: per module, depth {depth}")
    elif fmt is Fmt.csv:
        _emit(df.to_csv(index=False), output)
    elif fmt is Fmt.json:
        doc = {"model": table.model, "input_shape": list(table.input_shape), "fused": table.fuse,
               "units": "counts in elements and MACs (multiply-accumulates); bytes depend on dtype",
               "totals": {k: int(v) for k, v in table.totals.items()},
               "folded_macs": table.folded_macs, "unsupported": table.unsupported,
               "layers": json.loads(df.to_json(orient="records"))}
        _emit(json.dumps(doc, indent=2), output)
    elif fmt is Fmt.markdown:
        _emit(df.to_markdown(index=False) if _has_tabulate() else df.to_string(index=False), output)
    else:
        t = Table(title=f"{table.model} @ {'x'.join(map(str, table.input_shape))} "
                        f"({'fused layers' if table.fuse else 'raw aten ops'})")
        cols = ["name", "op", "out_shape", "kernel", "stride", "macs", "params", "weight_elems",
                "in_elems", "out_elems", "fused"]
        for c in cols:
            t.add_column(c, justify="right" if c in ("macs", "params", "weight_elems", "in_elems",
                                                     "out_elems") else "left")
        for row in df[cols].itertuples(index=False):
            t.add_row(*[_fmt_int(v) if isinstance(v, int) and not isinstance(v, bool) else str(v)
                        for v in row])
        tot = table.totals
        t.add_row("TOTAL", "", "", "", "", *[_fmt_int(tot[c]) for c in
                                              ("macs", "params", "weight_elems", "in_elems", "out_elems")], "")
        units = ("Units: macs = multiply-accumulates; *_elems = tensor elements "
                 "(bytes = elements x bytes per element of the target dtype).")
        if output is None:
            out.print(t)
            out.print(units)
        else:
            _emit(_as_text(t, units), output)
    if check:
        from .trace.crosscheck import fvcore_check
        from .zoo import build_model

        real = build_model(target, width) if isinstance(target, str) else target
        per_module, extras = fvcore_check(real, table)
        diffs = per_module[per_module["diff_macs"] != 0]
        err.print(f"fvcore check: {len(per_module)} modules with conv/linear/matmul MACs, "
                  f"{len(diffs)} differ; ours {int(per_module['ours_macs'].sum()):,} MACs, "
                  f"fvcore {int(per_module['fvcore_macs'].sum()):,}")
        for r in diffs.itertuples(index=False):
            err.print(f"  {r.module}: ours {r.ours_macs:,} vs fvcore {r.fvcore_macs:,} MACs ({r.reason})")
        for r in extras.itertuples(index=False):
            err.print(f"  fvcore also counts {r.fvcore_op}: {r.fvcore_flops:,} ({r.reason})")


# --- hardware and analyze ---------------------------------------------------------------------

@app.command()
def hw(name: Annotated[Optional[str], typer.Argument(help="A profile name or YAML file to show.")] = None
       ) -> None:
    """List hardware profiles, or show one with the sources of its numbers."""
    from .hardware import list_hardware, load_hardware

    if name is None:
        t = Table(title="Hardware profiles (MAC/s: one multiply-accumulate = 2 vendor ops; 'roofline hw NAME' "
                        "describes one)")
        names = list_hardware()
        for c in ("name", "kind", "dtype", "peak MAC/s", "BW B/s", "RP MAC/B", "fitted RP", "status"):
            t.add_column(c, no_wrap=c != "status", min_width=max(map(len, names)) if c == "name" else None)
        for n in names:
            p = load_hardware(n)
            spec = p.peak_macs_per_s.get(p.default_dtype)
            t.add_row(n, p.kind, p.default_dtype, f"{spec.value:.3g}" if spec else "-",
                      f"{p.mem_bw_bytes_per_s.value:.3g}",
                      f"{spec.value / p.mem_bw_bytes_per_s.value:.1f}" if spec else "-",
                      f"{p.fitted.ridge_point_macs_per_byte:.4g}" if p.fitted else "",
                      p.status + (f" ({p.validation.heldout_median_error:.0%})" if p.validation else ""))
        out.print(t)
        return
    p = load_hardware(name)
    lines = [f"{p.name} ({p.kind}): {p.description}", f"  file: {p.path}", f"  default dtype: {p.default_dtype}"]
    for dt, f in p.peak_macs_per_s.items():
        lines.append(f"  peak {dt}: {f.value:.4g} MAC/s [{f.confidence}] source: {f.source}")
    b = p.mem_bw_bytes_per_s
    lines.append(f"  DRAM bandwidth: {b.value:.4g} B/s [{b.confidence}] source: {b.source}")
    if p.on_chip_bytes:
        o = p.on_chip_bytes
        lines.append(f"  on-chip memory: {o.value:.4g} B [{o.confidence}] source: {o.source}")
    if p.fitted:
        f = p.fitted
        bw = f"{f.mem_bw_bytes_per_s:.4g} B/s" if f.mem_bw_bytes_per_s else "the DRAM bandwidth"
        lines.append(f"  fitted ({f.dtype}): ridge point {f.ridge_point_macs_per_byte:.4g} MAC/B at {bw} "
                     f"[{f.confidence}] source: {f.source}")
        for dt_, rp_ in f.other_dtypes.items():
            lines.append(f"  fitted ({dt_}): ridge point {rp_:.4g} MAC/B at the same bandwidth")
        if f.efficiency:
            from .engine.efficiency import describe as describe_efficiency

            lines.append(f"  per-op-class efficiency (share of the roofline attained; dense conv 1): "
                         f"{describe_efficiency(f.efficiency)}")
    for dt in p.dtypes:
        r = p.roof(dt)
        lines.append(f"  roofline used by default for {dt}: {r.mode}, peak {r.peak_macs_per_s:.4g} MAC/s, "
                     f"bandwidth {r.mem_bw_bytes_per_s:.4g} B/s, ridge point {r.ridge_point:.1f} MAC/B")
    for c in p.ceilings:
        rates = [f"{op} {v:.4g} MAC/s" for op, v in c.macs_per_s.items()]
        rates += [f"{op} {v:.4g} B/s" for op, v in c.bytes_per_s.items()]
        lines.append(f"  measured ceilings at batch {c.batch}: " + ", ".join(rates))
    from .engine.latency import seconds_text

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
    if p.machine:
        lines.append("  machine: " + ", ".join(f"{k}={v}" for k, v in p.machine.items()))
    v = p.validation
    if v is None:
        from .engine.band import prior_band

        pb = prior_band(p.kind, p.status)
        lines.append(f"  status: {p.status}" + (f"; band {pb.low_ratio:.2f}-{pb.high_ratio:.2f} x the "
                                                 f"prediction ({pb.label})" if pb else ""))
    else:
        lines.append(f"  status: {v.status}: {v.data}; {v.method}; terms {', '.join(v.terms) or 'none'}")
        extra = "".join(f", {label} {x:.1%}" for label, x in (("in-sample median error", v.insample_median_error),
                                                              ("held-out worst", v.heldout_worst_error)) if x is not None)
        lines.append(f"  held-out median error {v.heldout_median_error:.1%}{extra}"
                     + (f"; Spearman {v.heldout_spearman:.3f} (MAC count {v.macs_spearman:.3f})"
                        if v.heldout_spearman is not None and v.macs_spearman is not None else "")
                     + f"; 80 % band {v.ratio_p10:.2f}-{v.ratio_p90:.2f} x the prediction")
    print("\n".join(lines))


@app.command()
def analyze(
    model: Annotated[Optional[str], typer.Argument(help="Zoo model name, e.g. mnv4-hybrid-l.")] = None,
    hw_names: Annotated[Optional[list[str]], typer.Option("--hw", help="Hardware profile name or YAML file; "
                                                          "repeat to compare several.")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Input height = width (pixels).")] = None,
    width: Annotated[Optional[float], typer.Option(help="Width multiplier (alpha).")] = None,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    dtype: Annotated[Optional[str], typer.Option(help="int8, fp16, bf16 or fp32 (default: the profile's).")] = None,
    convention: Annotated[Optional[str], typer.Option(help="Counting convention: default, mnv4-paper, unfused "
                                                      "(default: the one the execution mode implies).")] = None,
    fitted: Annotated[Optional[bool], typer.Option("--fitted/--spec", help="Fitted roofline (default where "
                                                   "the profile has one) or the spec-sheet one.")] = None,
    calibrated: Annotated[bool, typer.Option("--calibrated", help="The profile's measured per-op-class "
                                             "ceilings (batch nearest --batch).")] = False,
    execution: Annotated[Optional[str], typer.Option("--exec", help="fused (a deployed engine, default), eager "
                                                     "(PyTorch eager) or graph (CUDA graphs): which kernels run "
                                                     "and which per-kernel cost applies.")] = None,
    overhead: Annotated[bool, typer.Option("--overhead/--no-overhead", help="Add the profile's per-kernel and "
                                           "per-inference costs (default) or give Eq. 1 alone.")] = True,
    on_chip: Annotated[bool, typer.Option("--on-chip", help="Weights that fit in on-chip memory are not "
                                          "re-read from DRAM.")] = False,
    top: Annotated[Optional[int], typer.Option(help="The N slowest layers (default 10 in the summary; with "
                                               "--all, only those).")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every layer, every column (wide).")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
    compare_measured: Annotated[bool, typer.Option("--compare-measured", help="Compare predictions with the "
                                                   "latencies measured on this device in the MobileNetV4 paper.")] = False,
    user_model: Annotated[Optional[str], typer.Option("--model", help="A user model: file.py:factory.")] = None,
    input_shape: Annotated[Optional[list[str]], typer.Option("--input-shape", help="e.g. 1,3,224,224 "
                                                             "(repeat for several inputs).")] = None,
) -> None:
    """Predict a model's latency on a piece of hardware, layer by layer (roofline, Eq. 1)."""
    from .compare import compare_measured as run_compare
    from .engine import analyze as run_analyze

    if not hw_names:
        raise RooflineError("missing --hw (a profile name or YAML file; 'roofline hw' lists them)")
    hw_name = hw_names[0]
    if output is not None:
        fmt = _output_format(output, fmt, "analyze has no figure; 'roofline report'")
        check_writable(output)
    if top is not None and top < 1:
        raise RooflineError(f"--top must be a positive integer, got {top}")
    if calibrated and fitted is not None:
        raise RooflineError("give --calibrated or --fitted/--spec, not both")
    mode = "calibrated" if calibrated else "auto" if fitted is None else ("fitted" if fitted else "spec")
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
                                    execution=execution, overhead=None if overhead else False) for h in hw_names]
        _emit_comparison(analyses, fmt, output)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)  # listed below, one line per op
        a = run_analyze(target, hw_name, dtype=dtype, convention=convention, mode=mode, resolution=resolution,
                        width=width, batch=batch, input_shape=shape, on_chip=on_chip, execution=execution,
                        overhead=None if overhead else False)
    for op, n in a.table.unsupported.items():
        err.print(f"warning: no counting rule for {op} ({n} calls): counted as 0 MACs", style="yellow")
    layers = a.layers if top is None else a.layers.loc[a.layers["latency_s"].nlargest(top).index.sort_values()]
    if fmt is Fmt.json:
        _emit(json.dumps(a.to_dict(), indent=2), output)
    elif fmt is Fmt.csv:
        _emit(f"# {a.assumptions().replace(chr(10), chr(10) + '# ')}\n" + layers.to_csv(index=False), output)
    elif fmt is Fmt.markdown:
        cols = ["name", "op", "macs", "weight_bytes", "activation_bytes", "intensity_macs_per_byte",
                "mac_time_s", "mem_time_s", "kernels", "overhead_s", "latency_s", "bound"]
        body = layers[cols].to_markdown(index=False) if _has_tabulate() else layers[cols].to_string(index=False)
        _emit(f"# {a.model} on {a.hardware.name}\n\n```\n{a.assumptions()}\n```\n\n{body}\n\n"
              + _summary_text(a), output)
    elif show_all:
        t = Table(title=f"{a.model} on {a.hardware.name} ({a.roof.mode} roofline, {a.dtype})")
        for c in ("layer", "op", "MACs", "bytes (B)", "intensity (MAC/B)", "MAC time (µs)",
                  "mem time (µs)", "overhead (µs)", "latency (µs)", "bound"):
            t.add_column(c, justify="left" if c in ("layer", "op", "bound") else "right")
        for r in layers.itertuples(index=False):
            t.add_row(r.name, r.op, _fmt_int(r.macs), _fmt_int(r.bytes), f"{r.intensity_macs_per_byte:.1f}",
                      f"{r.mac_time_s * 1e6:.2f}", f"{r.mem_time_s * 1e6:.2f}", f"{r.overhead_s * 1e6:.2f}",
                      f"{r.latency_s * 1e6:.2f}", r.bound)
        _emit(_as_text(t, _summary_text(a)), output)  # wide: every column, names in full
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


def _emit_comparison(analyses: list, fmt: "Fmt", output: Optional[Path]) -> None:
    """One row per profile: latency, its 80 % band, trust, memory-bound share and the slowest layer."""
    from . import units

    if fmt is Fmt.json:
        _emit(json.dumps([a.to_dict() for a in analyses], indent=2), output)
        return
    rows = []
    for a in analyses:
        s = a.summary()
        slow = a.slowest(1).iloc[0]
        band = a.latency_band_s
        rows.append({
            "profile": a.hardware.name, "dtype": a.dtype, "latency_s": a.total_latency_s,
            "latency_low_s": band[0] if band else float("nan"), "latency_high_s": band[1] if band else float("nan"),
            "trust": a.hardware.status + ("" if a.band is None else " (its own band)" if a.band.validated
                                          else " (prior band of its kind)"),
            "memory_bound_share": s["memory_bound_time_share"], "slowest_layer": slow["name"],
            "slowest_layer_s": float(slow["latency_s"])})
    df = pd.DataFrame(rows)
    title = f"{analyses[0].model} on {len(analyses)} profiles (80 % bands; JSON and CSV keep seconds)"
    if fmt is not Fmt.table:
        _emit_frame(df, fmt, output, title)
        return
    t = Table(title=title, title_justify="left")
    for c in ("profile", "dtype", "latency", "80 % band", "memory-bound", "slowest layer", "trust"):
        t.add_column(c, justify="right" if c in ("latency", "memory-bound") else "left",
                     no_wrap=c in ("profile", "latency", "80 % band"), overflow="fold")
    for r in rows:
        t.add_row(r["profile"], r["dtype"], units.seconds(r["latency_s"]),
                  units.seconds_range(r["latency_low_s"], r["latency_high_s"]) if r["latency_low_s"] == r["latency_low_s"]
                  else "none", units.share(r["memory_bound_share"]),
                  f"{r['slowest_layer']} ({units.seconds(r['slowest_layer_s'])})", r["trust"])
    if output is None:
        out.print(t)
    else:
        _emit(_as_text(t), output)


def _summary_view(a, top: int) -> list:
    """The default analyze view, under 100 columns: headline, assumptions, totals, the slowest
    layers and the shares per op type."""
    from rich.text import Text

    from . import units
    from .plots import op_group

    s = a.summary()
    head = Text(f"{a.model} on {a.hardware.name}: {a.latency_text()} predicted "
                f"({a.roofline_label} {units.seconds(a.roofline_latency_s)} + overheads "
                f"{units.seconds(a.overhead_s)}); profile {a.hardware.status}", style="bold")
    assumptions = Text("Assumptions:\n  " + a.assumptions().replace("\n", "\n  "))
    totals = Table(title="Totals", title_justify="left")
    for c in ("params", "MACs", "weights", "activations", "layers", "kernels", "memory-bound"):
        totals.add_column(c, justify="right")
    totals.add_row(units.count(s["params"]), units.count(s["macs"]), units.size(s["weight_bytes"]),
                   units.size(s["activation_bytes"]), str(s["layers"]), str(s["kernels"]),
                   f"{s['memory_bound_layers']} layers, {units.share(s['memory_bound_time_share'])} of Eq. 1")
    slow = Table(title=f"The {min(top, len(a.layers))} slowest layers", title_justify="left")
    for c in ("layer", "op", "MACs", "bytes", "latency", "bound"):
        slow.add_column(c, justify="left" if c in ("layer", "op", "bound") else "right", overflow="fold")
    for r in a.slowest(top).itertuples():
        name = r.name if len(r.name) <= 34 else "…" + r.name[-33:]
        slow.add_row(name, r.op, units.count(r.macs), units.size(r.bytes), units.seconds(r.latency_s), r.bound)
    groups = a.layers.assign(group=a.layers["op"].map(op_group)).groupby("group", sort=False)
    total_lat = float(a.layers["latency_s"].sum()) or 1.0
    total_macs = float(a.layers["macs"].sum()) or 1.0
    ops = Table(title="By op type", title_justify="left")
    for c in ("op type", "layers", "MACs", "share of MACs", "latency", "share of latency"):
        ops.add_column(c, justify="left" if c == "op type" else "right")
    for g, d in groups:
        ops.add_row(g, str(len(d)), units.count(float(d["macs"].sum())), units.share(float(d["macs"].sum()) / total_macs),
                    units.seconds(float(d["latency_s"].sum())), units.share(float(d["latency_s"].sum()) / total_lat))
    note = Text("--all shows every layer; --format csv/json/markdown the full table.", style="dim")
    return [head, assumptions, totals, slow, ops, note]


def _summary_text(a) -> str:
    s = a.summary()
    slow = a.slowest(5)
    lines = [
        "Assumptions:\n  " + a.assumptions().replace("\n", "\n  "),
        f"Summary: params {s['params']:,}; MACs {s['macs']:,}; weight bytes {s['weight_bytes']:,.0f} B; "
        f"activation bytes {s['activation_bytes']:,.0f} B",
        f"Predicted latency: {a.latency_text()}; profile {a.hardware.status}",
        f"Predicted latency: {s['latency_ms']:.4f} ms (Eq. 1 roofline {s['roofline_latency_ms']:.4f} ms + "
        f"overheads {s['overhead_ms']:.4f} ms over {s['kernels']} kernels, {s['execution']} execution); "
        f"memory-bound layers {s['memory_bound_layers']} of {s['layers']} ({s['memory_bound_time_share']:.1%} "
        f"of the Eq. 1 time)",
        "Five slowest layers: " + "; ".join(f"{r.name} ({r.op}) {r.latency_s * 1e6:.1f} µs {r.bound}-bound"
                                            for r in slow.itertuples()),
    ]
    return "\n".join(lines)


def _emit_frame(df, fmt: Fmt, output: Optional[Path], title: str) -> None:
    if fmt is Fmt.csv:
        _emit(df.to_csv(index=False), output)
    elif fmt is Fmt.json:
        _emit(json.dumps({"title": title, "rows": json.loads(df.to_json(orient="records"))}, indent=2), output)
    elif fmt is Fmt.markdown:
        _emit(f"{title}\n\n" + (df.to_markdown(index=False) if _has_tabulate() else df.to_string(index=False)),
              output)
    else:
        t = _rich_table(df, title)
        if output is None:
            out.print(t)
        else:
            _emit(_as_text(t), output)


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return "" if v != v else f"{float(v):.4g}"
    return str(v)


def _rich_table(df, title: str) -> Table:
    """A DataFrame as a rich table: numbers right-aligned with separators, units in the headers."""
    t = Table(title=title, title_justify="left")
    for c in df.columns:
        t.add_column(str(c), justify="right" if df[c].dtype.kind in "iuf" else "left")
    for row in df.itertuples(index=False):
        t.add_row(*[_cell(v) for v in row])
    return t


# --- sweep, pareto, reproduce, fit ------------------------------------------------------------

def _progress(total: int, label: str):
    """A rich progress bar on a terminal; a plain line per step on stderr otherwise."""
    from rich.progress import Progress

    if not err.is_terminal:
        done = [0]

        every = max(1, -(-total // 20))  # at most about 20 lines, however long the list

        def line(name: str) -> None:
            done[0] += 1
            if sys.stderr is not None and (done[0] % every == 0 or done[0] in (1, total)):
                sys.stderr.write(f"{label} {name} ({done[0]}/{total})\n")
                sys.stderr.flush()

        return contextlib.nullcontext(), line
    bar = Progress(console=err, transient=True)
    task = bar.add_task(label, total=total)

    def advance(name: str) -> None:
        bar.update(task, advance=1, description=f"{label} {name}")

    return bar, advance


ModelsArg = Annotated[Optional[list[str]], typer.Argument(help="Model names (zoo names or aliases).")]
GroupOpt = Annotated[Optional[list[str]], typer.Option("--group", "--models", help="A model group: paper-fig2, "
                                                       "paper-fig3 or zoo.")]
FamilyOpt = Annotated[Optional[list[str]], typer.Option("--family", help="A family: mnv1, mnv2, mnv3, mnv4.")]
# The options every command that predicts shares, with one meaning everywhere.
HwOpt = Annotated[Optional[str], typer.Option("--hw", help="Hardware profile name or YAML file.")]
FittedOpt = Annotated[Optional[bool], typer.Option("--fitted/--spec", help="The profile's fitted roofline "
                                                   "(default where it has one) or its spec-sheet one.")]
CalibratedOpt = Annotated[bool, typer.Option("--calibrated", help="The profile's measured per-op-class "
                                             "ceilings (at the batch nearest --batch).")]
DtypeOpt = Annotated[Optional[str], typer.Option(help="int8, fp16, bf16 or fp32 (default: the profile's; "
                                                 "int8 without one).")]
ConventionOpt = Annotated[Optional[str], typer.Option(help="Counting convention: default, mnv4-paper or unfused "
                                                      "(default: the one the execution mode implies).")]
ResolutionOpt = Annotated[Optional[int], typer.Option(help="Input height = width in pixels (default: each "
                                                      "model's native resolution).")]
WidthOpt = Annotated[Optional[float], typer.Option(help="Width multiplier (alpha).")]
BatchOpt = Annotated[int, typer.Option(help="Batch size.")]


def _mode(fitted: Optional[bool], calibrated: bool) -> str:
    if calibrated and fitted is not None:
        raise RooflineError("give --calibrated or --fitted/--spec, not both")
    return "calibrated" if calibrated else "auto" if fitted is None else ("fitted" if fitted else "spec")


@app.command()
def report(
    model: Annotated[Optional[str], typer.Argument(help="Zoo model name, e.g. mnv4-hybrid-l.")] = None,
    hw_names: Annotated[Optional[list[str]], typer.Option("--hw", help="A profile; repeat to compare several.")] = None,
    fitted: FittedOpt = None, calibrated: CalibratedOpt = False, dtype: DtypeOpt = None,
    convention: ConventionOpt = None, resolution: ResolutionOpt = None, width: WidthOpt = None,
    batch: BatchOpt = 1,
    execution: Annotated[Optional[str], typer.Option("--exec", help="fused, eager or graph.")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="The HTML file to write.")] = None,
) -> None:
    """One self-contained HTML report of a model on one or more profiles (no network needed to view it)."""
    from .report import write_html_report

    if not model:
        raise RooflineError("missing MODEL (a zoo name; 'roofline models' lists them)")
    if not hw_names:
        raise RooflineError("missing --hw (one or more profiles; 'roofline hw' lists them)")
    if output is None:
        raise RooflineError("missing -o FILE.html")
    if output.suffix.lower() not in (".html", ".htm"):
        raise RooflineError(f"the report is HTML: give -o a .html file name, got {output}")
    check_writable(output)
    path = write_html_report(model, hw_names, output, dtype=dtype, convention=convention,
                             mode=_mode(fitted, calibrated), resolution=resolution, width=width, batch=batch,
                             execution=execution)
    err.print(f"wrote {path}")


@app.command()
def sweep(
    models: ModelsArg = None, groups: GroupOpt = None, families: FamilyOpt = None,
    rp: Annotated[str, typer.Option("--rp", help="Ridge points (MACs/byte): 0:500:5 or 0,5,50,500.")] = "0:500:5",
    hw_name: HwOpt = None, fitted: FittedOpt = None,
    bw: Annotated[Optional[float], typer.Option("--bw", help="Bandwidth held fixed (bytes/s; default the --hw "
                                                "profile's, else 40e9).")] = None,
    vary: Annotated[str, typer.Option(help="peak: PeakMACs = RP x bandwidth (the paper); bandwidth: "
                                      "bandwidth = PeakMACs / RP.")] = "peak",
    peak: Annotated[Optional[float], typer.Option("--peak", help="Peak MAC/s held fixed with --vary bandwidth.")] = None,
    convention: ConventionOpt = None, dtype: DtypeOpt = None, resolution: ResolutionOpt = None,
    width: WidthOpt = None, batch: BatchOpt = 1,
    overhead: Annotated[bool, typer.Option("--overhead/--no-overhead", help="With --hw, add the profile's "
                                           "per-kernel and per-inference costs (default).")] = True,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format (default: from -o's suffix, else a "
                                      "table).")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table to this file "
                                                   "(.csv, .json, .md pick the format).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Latency against ridge point, one line per "
                                                 "model, log-log (png, svg or pdf).")] = None,
    relative_to: Annotated[Optional[str], typer.Option("--relative-to", help="With --plot: latency over this "
                                                       "model's at each ridge point.")] = None,
    mark: Annotated[Optional[str], typer.Option("--mark", help="With --plot: vertical lines at the ridge points "
                                                "of these profiles (comma-separated names).")] = None,
) -> None:
    """Latency of models over a range of ridge points (the paper's RP sweep), as a table or a plot."""
    from .sweep import expand_models, parse_rps
    from .sweep import sweep as run_sweep

    if output is not None:
        fmt = _output_format(output, fmt, "--plot")
        check_writable(output)
    if plot is not None:
        check_writable(plot)
    marked = {}
    for name in [m.strip() for m in (mark or "").split(",") if m.strip()]:
        from .hardware import load_hardware

        marked[name] = load_hardware(name).roof().ridge_point
    parse_rps(rp)
    names = expand_models(models or [], groups or [], families or [])
    bar, advance = _progress(len(names), "tracing")
    with bar:
        df = run_sweep(names, rp, hw=hw_name, bw=bw, peak=peak, vary=vary, convention=convention, dtype=dtype,
                       mode=_mode(fitted, False), resolution=resolution, width=width, batch=batch,
                       overhead=None if overhead else False, progress=advance)
    if plot is not None:
        from .plots import plot_sweep

        plot_sweep(df, plot, relative_to=_canonical_name(relative_to) if relative_to else None, marks=marked)
        err.print(f"wrote {plot}")
    title = f"RP sweep: {df.attrs['setup'].describe()}"
    if fmt is Fmt.table:
        cols = ["model", "rp_macs_per_byte", "latency_ms", "mem_time_share", "memory_bound_layers", "layers", "top1"]
        view = df.assign(latency_ms=df["latency_s"] * 1e3)
        if "latency_low_s" in df and df["latency_low_s"].notna().any():
            from . import units

            view = view.assign(band=[units.seconds_range(lo, hi) if lo == lo else "" for lo, hi in
                                     zip(df["latency_low_s"], df["latency_high_s"])])
            cols.insert(3, "band")
            title += "; 80 % band at the profile's own ridge point"
        view = view[cols].rename(columns={"rp_macs_per_byte": "RP (MAC/B)", "latency_ms": "latency (ms)",
                                    "band": "80 % band",
                                    "mem_time_share": "memory-bound share", "memory_bound_layers": "memory-bound layers",
                                    "top1": "top-1 (%)"})
        _emit_frame(view, fmt, output, title)
    else:
        _emit_frame(df.assign(latency_ms=df["latency_s"] * 1e3), fmt, output, title)


@app.command()
def pareto(
    models: ModelsArg = None, groups: GroupOpt = None, families: FamilyOpt = None,
    rp: Annotated[str, typer.Option("--rp", help="Ridge points: 0:500:5 or 0,5,50,500.")] = "0,5,50,500",
    hw_name: HwOpt = None, fitted: FittedOpt = None,
    bw: Annotated[Optional[float], typer.Option("--bw", help="Bandwidth held fixed (bytes/s).")] = None,
    convention: ConventionOpt = None, dtype: DtypeOpt = None, resolution: ResolutionOpt = None,
    width: WidthOpt = None, batch: BatchOpt = 1,
    accuracy: Annotated[Optional[Path], typer.Option(help="CSV with columns model,top1 (%).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save accuracy-latency panels (png/svg/pdf).")] = None,
    panels: Annotated[str, typer.Option(help="The ridge points drawn as panels with --plot (each must be one "
                                        "of --rp).")] = "0,5,50,500",
    sweep_plot: Annotated[Optional[Path], typer.Option("--sweep-plot", help="Save each model's distance from "
                                                       "the front over all of --rp (png/svg/pdf).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Pareto-optimal models (accuracy vs predicted latency) per ridge point, and where each is optimal."""
    from .pareto import front_ranges, read_accuracy_csv
    from .pareto import pareto as run_pareto
    from .sweep import expand_models, parse_rps
    from .sweep import sweep as run_sweep

    for f in (output, plot, sweep_plot):
        if f is not None:
            check_writable(f)
    rps = parse_rps(rp)
    panel_rps = parse_rps(panels).tolist() if plot is not None else []
    absent = [v for v in panel_rps if not np.isclose(rps, v).any()]
    if absent:
        raise RooflineError(f"--panels {', '.join(f'{v:g}' for v in absent)}: not among the --rp ridge points")
    names = expand_models(models or [], groups or [], families or [])
    acc = read_accuracy_csv(str(accuracy)) if accuracy else None
    if acc is not None:
        missing = [n for n in names if n not in acc]
        if missing:
            raise RooflineError(f"{accuracy} has no top1 for {', '.join(missing)}")
    bar, advance = _progress(len(names), "tracing")
    with bar:
        p = run_pareto(run_sweep(names, rps, hw=hw_name, bw=bw, convention=convention, dtype=dtype, accuracy=acc,
                                 mode=_mode(fitted, False), resolution=resolution, width=width, batch=batch,
                                 progress=advance))
    setup = p.attrs["setup"]
    ranges = front_ranges(p)
    if plot is not None:
        from .plots import plot_accuracy_vs_latency

        plot_accuracy_vs_latency(p, panel_rps, plot, title=f"Accuracy vs predicted latency: {setup.describe()}")
        err.print(f"wrote {plot}")
    if sweep_plot is not None:
        from .plots import plot_front_distance

        plot_front_distance(p, sweep_plot, title=f"Distance from the Pareto front (1.0 = on it): "
                                                 f"{setup.describe()}")
        err.print(f"wrote {sweep_plot}")
    if fmt is Fmt.table and output is None:
        fronts = []
        for value in (rps if len(rps) <= 12 else []):
            on = p[np.isclose(p["rp_macs_per_byte"], value) & p["pareto_optimal"]].sort_values("latency_s")
            fronts.append({"RP (MAC/B)": float(value), "Pareto-optimal models (top-1 %, latency ms)": ", ".join(
                f"{r.model} ({r.top1:.1f}, {r.latency_s * 1e3:.3g})" for r in on.itertuples())})
        if len(fronts) <= 12:
            _emit_frame(pd.DataFrame(fronts), fmt, None, f"Pareto fronts: {setup.describe()}")
        _emit_frame(ranges, fmt, None, "Where each model is Pareto-optimal (RP ranges, MAC/B)")
        return
    _emit_frame(ranges, fmt, output, f"Pareto-optimal RP ranges: {setup.describe()}")


@app.command()
def reproduce(
    paper: Annotated[str, typer.Argument(help="What to reproduce: mnv4 (the paper's figures and Table 16) or "
                                         "profiles (fit and validate the shipped profiles).")] = "mnv4",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Report folder (default "
                                                   "reports/mnv4-paper or reports/profile-validation).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="profiles: traces computed in parallel.")] = 1,
    timm_sample: Annotated[Optional[int], typer.Option("--timm-sample", help="profiles: fit the RTX 3090 on "
                                                       "this many rows of timm's table (default: all).")] = None,
    ship: Annotated[bool, typer.Option("--ship", help="profiles: also write the fitted profiles and prior "
                                       "bands into this source checkout (hardware_profiles/, roofline/engine/)."
                                       )] = False,
) -> None:
    """Regenerate the MobileNetV4 paper's Figures 2 and 3 and Table 16, or the profile validation report."""
    if paper == "profiles":
        from .profile_report import write_report as write_profiles

        out_dir = output or Path("reports/profile-validation")
        check_report_folder(out_dir)
        root = Path(__file__).resolve().parent.parent
        if ship and not (root / "hardware_profiles").is_dir():
            raise RooflineError("--ship writes into a source checkout; this roofline is installed without one")
        bar, advance = _progress(0, "tracing")
        with bar, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = write_profiles(out_dir, jobs, timm_sample, root if ship else None)
        err.print(f"wrote {path}" + (" and the shipped profiles" if ship else ""))
        return
    from .reproduce import write_report
    from .sweep import MODEL_GROUPS

    if paper != "mnv4":
        raise RooflineError(f"unknown target {paper!r}; use mnv4 or profiles")
    bar, advance = _progress(len(MODEL_GROUPS["paper-fig2"]), "tracing")
    with bar:
        path = write_report(output or Path("reports/mnv4-paper"), progress=advance)
    err.print(f"wrote {path} and its figures and tables")


@app.command()
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
    """A profile for a device with only a spec sheet, transferring a validated profile's fitted terms."""
    from .hardware import profile_to_yaml
    from .transfer import derive as run_derive

    if output is not None:
        check_writable(output)
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


@app.command()
def fit(
    measured: Annotated[Path, typer.Argument(help="CSV of measurements: one row per measurement (model and "
                                              "ms, or a throughput column; optional resolution, batch, dtype, "
                                              "width).")],
    models_col: Annotated[str, typer.Option("--models-col", help="Column with model names (zoo, timm:NAME, "
                                            "torchvision:NAME, file.py:factory).")] = "model",
    latency_col: Annotated[str, typer.Option("--latency-col", help="Column with latency per call in ms.")] = "ms",
    throughput_col: Annotated[Optional[str], typer.Option("--throughput-col", help="Column with throughput "
                                                          "in samples/s instead of ms (converted with the "
                                                          "row's batch).")] = None,
    resolution_col: Annotated[str, typer.Option("--resolution-col", help="Column with the input resolution "
                                                "(px; empty: the model's own).")] = "resolution",
    batch_col: Annotated[str, typer.Option("--batch-col", help="Column with the batch size (empty: 1).")] = "batch",
    dtype_col: Annotated[str, typer.Option("--dtype-col", help="Column with the dtype (empty: --dtype).")] = "dtype",
    width_col: Annotated[str, typer.Option("--width-col", help="Column with the width multiplier (empty: "
                                           "1).")] = "width",
    convention: Annotated[Optional[str], typer.Option(help="Counting convention: default, mnv4-paper, unfused, "
                                                      "or auto (default and unfused both tried, the one with "
                                                      "the lower held-out error kept).")] = None,
    execution: Annotated[Optional[str], typer.Option("--exec", help="How the measured runs executed: fused (a "
                                                     "deployed engine, default), eager or graph.")] = None,
    dtype: Annotated[str, typer.Option(help="The dtype of rows without a dtype cell.")] = "int8",
    source: Annotated[str, typer.Option(help="Where names without a prefix come from: zoo, timm or "
                                        "torchvision (timm's benchmark tables name timm models bare).")] = "zoo",
    terms: Annotated[Optional[str], typer.Option("--terms", help="Force the fitted terms (comma-separated: "
                                                 "kernel, inference, dwconv, grouped, matmul, attention, norm, "
                                                 "activation, elementwise, movement; 'none' for Eq. 1 alone); "
                                                 "default: chosen by cross-validated error.")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by model; leave-one-model-out "
                                       "below 20 models).")] = 4,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Traces computed in parallel.")] = 1,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the trace cache.")] = False,
    base: Annotated[Optional[str], typer.Option("--base", help="A profile whose spec numbers the written "
                                                "profile keeps (name or YAML).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Profile name (default: the output file's stem).")] = None,
    kind: Annotated[str, typer.Option(help="cpu, gpu, dsp or npu.")] = "cpu",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Profile YAML to write (without it "
                                                   "nothing is saved).")] = None,
) -> None:
    """Fit a latency model (roofline, overheads, per-op-class efficiency) to measurements, cross-validated."""
    from . import units
    from .engine.efficiency import CLASS_TEXT
    from .hardware import KINDS, load_hardware, profile_to_yaml
    from .measure.fit import fit_measurements
    from .measure.table import Columns, read_measurements

    if output is not None:
        check_writable(output)
    if kind not in KINDS:
        raise RooflineError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if jobs < 1 or jobs > 256:
        raise RooflineError(f"--jobs must be from 1 to 256, got {jobs}")
    base_profile = load_hardware(base) if base else None
    chosen = None
    if terms is not None:
        from .measure.terms import TERMS

        chosen = [] if terms.strip() == "none" else [t.strip() for t in terms.split(",") if t.strip()]
        bad = [t for t in chosen if t not in TERMS]
        if bad:
            raise RooflineError(f"unknown term {bad[0]!r} in --terms; use none or any of {', '.join(TERMS)}")
    if convention not in (None, "auto"):
        from .conventions import get_convention

        get_convention(convention)
    if execution is not None:
        from .engine.latency import check_execution

        check_execution(execution)
    rows = read_measurements(measured, Columns(models_col, latency_col, throughput_col, resolution_col, batch_col,
                                               dtype_col, width_col), dtype, source)
    n_models = rows["model"].nunique()
    if n_models < 3:
        raise RooflineError(f"{measured}: fitting needs measurements of at least 3 models, got {n_models}")
    bar, advance = _progress(len(rows), "tracing")
    with bar, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = fit_measurements(rows, convention=convention, execution=execution, terms=chosen, folds=folds,
                             jobs=jobs, use_cache=not no_cache, progress=advance,
                             data=f"{measured.name}: {len(rows)} rows, {n_models} models")
    for w in {str(w.message): w for w in caught if issubclass(w.category, UserWarning)}.values():
        err.print(f"warning: {w.message}", style="yellow")
    for m, why in f.dropped[:5]:
        err.print(f"warning: dropped {m}: {why}", style="yellow")
    if len(f.dropped) > 5:
        err.print(f"warning: {len(f.dropped) - 5} more rows dropped (could not be traced)", style="yellow")
    p = f.params
    print(f"fitted {f.n_rows} rows of {f.n_models} models ({len(f.dropped)} dropped); convention {f.convention}, "
          f"{f.execution} execution; least squares on log latency (Huber), class factors shrunk toward 1")
    print(f"terms ({f.method}):")
    for dt, peak in p.peak_macs_per_s.items():
        print(f"  peak ({dt}, dense conv): {units.count(peak, 'MAC/s')}; ridge point {p.ridge_point(dt):.1f} "
              f"MAC/B")
    print(f"  bandwidth: {units.count(p.mem_bw_bytes_per_s, 'B/s')}")
    if "kernel" in p.terms:
        print(f"  per kernel: {units.seconds(p.per_kernel_s)}")
    if "inference" in p.terms:
        print(f"  per inference: {units.seconds(p.per_inference_s)}")
    for c, v in p.efficiency.items():
        print(f"  {CLASS_TEXT[c]}: {v:.3g} x its roofline (efficiency, 1 = dense conv's)")
    print("candidates tried (held-out median |predicted/measured - 1|):")
    for r in f.candidates.itertuples():
        conv_ = f"{r.convention}: " if f.candidates["convention"].nunique() > 1 else ""
        print(f"  {conv_}{r.terms}: {r.heldout_median_error:.1%}{'  <- chosen' if r.chosen else ''}")
    ins, held, macs = f.errors("insample_s"), f.errors("heldout_s"), f.errors("macs_heldout_s")
    print("accuracy (|predicted/measured - 1|; Spearman of predicted vs measured):")
    print(f"  {'':22s}{'median':>9s}{'worst':>9s}{'Spearman':>10s}")
    print(f"  {'in-sample':22s}{ins['median']:>9.1%}{ins['worst']:>9.1%}{ins['spearman']:>10.3f}")
    print(f"  {'held out':22s}{held['median']:>9.1%}{held['worst']:>9.1%}{held['spearman']:>10.3f}")
    print(f"  {'MACs only, held out':22s}{macs['median']:>9.1%}{macs['worst']:>9.1%}{f.macs_spearman:>10.3f}")
    print(f"80 % band: measured / predicted from {f.band[0]:.2f} to {f.band[1]:.2f} (held-out, conformal)")
    profile = f.profile(name or (output.stem if output else "fitted-device"), kind, base_profile)
    if output is not None:
        _emit(profile_to_yaml(profile), output)
    else:
        err.print("profile not saved: give -o FILE.yaml to write it")


# --- profile and validate ---------------------------------------------------------------------

@app.command()
def profile(
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[Optional[str], typer.Option(help="Comma-separated dtypes to measure: fp32,fp16,bf16,int8 "
                                                 "(default: fp32 on cpu, fp16,fp32 on cuda).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A few seconds: smaller sizes, fewer trials.")] = False,
    ceilings: Annotated[bool, typer.Option("--ceilings/--no-ceilings", help="Also measure per-op-class "
                                           "ceilings (3x3, 1x1, depthwise conv, FC, BN, activation, add, "
                                           "pool).")] = True,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes to measure op ceilings at, "
                                       "comma-separated, e.g. 1,256.")] = "1",
    name: Annotated[Optional[str], typer.Option(help="Profile name (default: the output file's stem).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the profile YAML here.")] = None,
) -> None:
    """Measure this machine's peak MAC/s, memory bandwidth, op ceilings and overheads; write a profile."""
    from .hardware import profile_to_yaml
    from .measure.profiler import check_device, profile_machine, to_profile

    if output is not None:
        check_writable(output)
    check_device(device)
    dtypes = tuple(d.strip() for d in (dtype or ("fp16,fp32" if device == "cuda" else "fp32")).split(",") if d.strip())
    batches = _parse_ints(batch, "--batch")
    bar, advance = _progress(len(dtypes) * 2 + 2 + len(batches), "measuring")
    with bar:
        run = profile_machine(device, dtypes, threads, quick, ceilings, progress=advance, batches=batches)
    t = Table(title=f"Measured on {run.machine.get('gpu') or run.machine.get('cpu')} ({device}, "
                    f"{run.machine['threads_used']} thread{'' if run.machine['threads_used'] == 1 else 's'})")
    for c in ("what", "median", "unit", "spread", "trials", "how"):
        t.add_column(c)
    rows = [(f"peak {d}", m) for d, m in run.peaks.items()] + [("bandwidth (triad)", run.bandwidth),
                                                                ("bandwidth (copy)", run.copy)]
    rows += [(f"overhead {k}", m) for k, m in run.overhead.items()]
    for label, m in rows:
        t.add_row(label, f"{m.value:.4g}", m.unit, f"{m.spread:.1%}", str(m.trials), m.what)
    for bt, fits in run.ceilings.items():
        for op, f in fits.items():
            t.add_row(f"ceiling {op} (batch {bt})", f"{f.rate:.4g}", f.unit, f"{f.spread:.1%}", str(f.shapes),
                      f"fixed {f.fixed_s * 1e6:.3g} µs per kernel + work / rate over {f.shapes} shapes, "
                      f"median fit error {f.median_fit_error:.0%}")
    out.print(t)
    for label in run.noisy:
        err.print(f"warning: {label} is noisy (spread above 20 % after extra trials): the machine is loaded",
                  style="yellow")
    prof = to_profile(run, name or (output.stem if output else f"local-{device}"))
    r = prof.roof()
    out.print(f"ridge point ({r.dtype}): {r.ridge_point:.2f} MACs/byte")
    if output is not None:
        _emit(f"# Measured by roofline profile on {run.machine['date']}\n" + profile_to_yaml(prof), output)


class Exec(str, Enum):
    eager = "eager"
    graph = "graph"
    compile = "compile"


@app.command()
def validate(
    models: ModelsArg = None, groups: GroupOpt = None, families: FamilyOpt = None,
    hw_name: Annotated[str, typer.Option("--hw", help="Profile to predict with (e.g. one written by "
                                         "'roofline profile').")] = "",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    runs: Annotated[int, typer.Option(help="Timed runs per model (median).")] = 10,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    dtype: Annotated[Optional[str], typer.Option(help="fp32, fp16 or bf16 (default: the profile's).")] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Run in channels_last memory "
                                                "format.")] = False,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's); match the "
                                                   "profile's.")] = None,
    execution: Annotated[Exec, typer.Option("--exec", help="eager (PyTorch eager), graph (CUDA-graph "
                                            "replay, cuda only) or compile (torch.compile); predicted with "
                                            "the matching execution mode.")] = Exec.eager,
    convention: Annotated[Optional[str], typer.Option(help="default, mnv4-paper or unfused (default: the "
                                                      "one the execution mode implies).")] = None,
    calibrated: Annotated[bool, typer.Option("--calibrated", help="Use the profile's measured per-op "
                                             "ceilings.")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="table or json (stdout).")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Report folder.")] = None,
    profile_run: Annotated[Optional[list[Path]], typer.Option("--profile-run", help="Profiles from repeated "
                                                              "'roofline profile' runs to list in the report.")] = None,
    save_band: Annotated[Optional[Path], typer.Option("--save-band", help="Write the profile, with a validation "
                                                      "block (its 80 % band) from these runs, to this YAML "
                                                      "file.")] = None,
    from_report: Annotated[Optional[Path], typer.Option("--from-report", help="Re-render the report in this "
                                                        "folder from its measurements (nothing runs); --hw is "
                                                        "the profile it was predicted with.")] = None,
) -> None:
    """Run models for real and compare measured with predicted latency, per model and per layer."""
    from .hardware import load_hardware
    from .measure.validate import validate as run_validate
    from .measure.validate import write_report_files
    from .sweep import expand_models

    if not hw_name:
        raise RooflineError("missing --hw (a profile name or YAML file, e.g. from 'roofline profile')")
    if output is not None:
        check_report_folder(output)
    if save_band is not None:
        check_writable(save_band)
    if fmt not in (Fmt.table, Fmt.json):
        raise RooflineError("validate --format takes table or json")
    runs_table = []
    for f in profile_run or []:
        p = load_hardware(f)
        r = p.roof(mode="spec")
        k = p.overhead.kernel_cost("eager")
        runs_table.append({"profile": Path(f).name, "peak_macs_per_s": r.peak_macs_per_s,
                           "mem_bw_bytes_per_s": r.mem_bw_bytes_per_s, "ridge_point": r.ridge_point,
                           "eager_per_kernel_s": k.value,
                           **{f"ceiling_{op}": val for op, val in p.ceilings_macs_per_s.items()}})
    if from_report is not None:
        from .measure.validate import load_validation, write_report

        v = load_validation(from_report, hw_name)
        path = write_report(v, output or from_report, runs_table)
        err.print(f"wrote {path}")
        return
    names = expand_models(models or [], groups or [], families or [])
    # the report folder is made before measuring: one that cannot be written fails at once
    with report_folder(output) if output is not None else contextlib.nullcontext() as folder:
        bar, advance = _progress(len(names), "running")
        with bar:
            v = run_validate(names, hw_name, device=device, runs=runs, convention=convention,
                             mode="calibrated" if calibrated else "auto", dtype=dtype, batch=batch,
                             channels_last=channels_last, execution=execution.value, threads=threads,
                             progress=advance)
        for w in v.warnings:
            err.print(f"warning: {w}", style="yellow")
        if fmt is Fmt.json:
            print(json.dumps(v.to_dict(), indent=2))
        else:
            def num(x: float, f: str) -> str:
                return "n/a" if x != x else format(x, f)

            print(f"{v.setup}; predicted with {next(iter(v.analyses.values())).latency.describe(sources=False)}")
            print(v.models.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            print(f"median |predicted/measured - 1|: {v.median_abs_error:.1%} (models), "
                  f"{num(v.median_abs_error_layers, '.1%')} (layers); Spearman predicted vs measured: "
                  f"{num(v.spearman_models, '.3f')} (models), {num(v.spearman_layers, '.3f')} (layers); MACs vs "
                  f"measured: {num(v.spearman_macs, '.3f')}")
        if folder is not None:
            write_report_files(v, folder, runs_table)
    if output is not None:
        err.print(f"wrote {output / 'README.md'}")
    if save_band is not None:
        from .hardware import profile_to_yaml

        _emit(profile_to_yaml(v.band_profile()), save_band)


def _parse_ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise RooflineError(f"{option} must be integers separated by commas, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise RooflineError(f"{option} must be positive integers, got {text!r}")
    return values


def _parse_shape(text) -> Optional[tuple]:
    """``--input-shape 1,3,224,224`` (one input) or the option repeated (one shape per input)."""
    if text is None or (isinstance(text, list) and not text):
        return None
    texts = text if isinstance(text, list) else [text]
    shapes = []
    for t in texts:
        try:
            shapes.append(tuple(int(p) for p in t.replace("x", ",").split(",") if p.strip()))
        except ValueError:
            raise RooflineError(f"--input-shape must be integers separated by commas, got {t!r}") from None
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn user errors into one line and exit code 2.

    Ctrl-C ends with ``error: interrupted`` and 130, SIGTERM with ``error: terminated`` and 143;
    temporary files are removed on the way out.
    """
    restore = interrupts.install()
    try:
        return _main(argv)
    finally:
        restore()


_ASCII = {"µ": "u", "×": "x", "–": "-", "—": "-", "…": "...", "≤": "<=", "≥": ">=", "→": "->", "±": "+/-",
          "²": "^2", "·": "."}


def _ascii_fallback(e: UnicodeError):
    if not isinstance(e, UnicodeEncodeError):
        raise e
    return "".join(_ASCII.get(c, "?") for c in e.object[e.start:e.end]), e.end


def _fit_terminal_encoding() -> None:
    """Where the terminal's encoding has no µ, × or – (PYTHONIOENCODING=ascii, a C locale), print
    ASCII stand-ins (u, x, -) instead of failing."""
    import codecs

    try:
        codecs.lookup_error("roofline-ascii")
    except LookupError:
        codecs.register_error("roofline-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        enc = getattr(stream, "encoding", None)
        if not enc or not hasattr(stream, "reconfigure"):
            continue
        try:
            "µ×–".encode(enc)
        except (UnicodeEncodeError, LookupError):
            try:
                stream.reconfigure(errors="roofline-ascii")
            except (ValueError, OSError):
                pass


def _main(argv: list[str] | None) -> int:
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    try:  # everything inside: a signal may arrive at any moment, building the command included
        _fit_terminal_encoding()
        _ascii_digits(sys.argv[1:] if argv is None else argv)
        command = typer.main.get_command(app)
        rv = command.main(args=argv, prog_name="roofline", standalone_mode=False)
    except RooflineError as e:
        _error_line(str(e))
        return 2
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except interrupts.Terminated:
        _error_line("terminated")
        return 143
    except BrokenPipeError:
        return 141  # the reader went away (roofline ... | head): nothing to say
    except OSError as e:  # standard output or error closed or broken under us (a user's model closed fd 1)
        _error_line(f"cannot write the output: {e.strerror or e}")
        return 2
    except Exception as e:
        # click's exceptions (typer may vendor its own copy of click: match by class name)
        kinds = {c.__name__ for c in type(e).__mro__}
        if "NoArgsIsHelpError" in kinds:
            e.show()  # type: ignore[attr-defined]
            return 0
        if "Exit" in kinds:
            code = int(getattr(e, "exit_code", 0))
            if code == 130:  # typer's way of saying KeyboardInterrupt
                _error_line("interrupted")
            return code
        if "Abort" in kinds:
            _error_line("interrupted")
            return 130
        if "ClickException" in kinds:
            _error_line(e.format_message())  # type: ignore[attr-defined]
            return int(getattr(e, "exit_code", 2))
        raise
    if rv == 130:  # typer returns 130 (instead of raising) when Ctrl-C interrupted a command
        _error_line("interrupted")
    return rv if isinstance(rv, int) else 0


def _ascii_digits(args: list[str]) -> None:
    """One policy for numbers everywhere: ASCII digits only (Python's float() would take ٥ and ５)."""
    for a in args:
        if any(ch.isdigit() and not ch.isascii() for ch in str(a)):
            raise RooflineError(f"{str(a)!r}: write numbers with ASCII digits (0-9)")


def _canonical_name(name: str) -> str:
    from .zoo import model_name, resolve

    return model_name(*resolve(name))


def _error_line(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    text = " ".join(str(message).split())
    if sys.stderr is not None:
        sys.stderr.write(f"error: {text}\n")


def run() -> None:
    code = main()

    def quiet(signum, frame) -> None:  # noqa: ANN001 - the output is complete: end with the code, silently
        os._exit(130 if signum == signal.SIGINT else 143)

    signal.signal(signal.SIGINT, quiet)
    signal.signal(signal.SIGTERM, quiet)
    sys.exit(code)


if __name__ == "__main__":
    run()
