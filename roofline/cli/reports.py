"""Commands that make reports: the HTML page, ridge-point sweeps, Pareto fronts, the paper's figures."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer

from ..core import units
from ..core.errors import RooflineError, UnsupportedOpWarning
from ..core.io import check_not_input, check_report_folder, check_writable

from .app import (_Command, app, err, Fmt, _output_format, ModelsArg, GroupOpt, FamilyOpt, HwOpt, FittedOpt,
    CalibratedOpt, DtypeOpt, ConventionOpt, ResolutionOpt, WidthOpt, BatchOpt, ExecOpt, OverheadOpt, OnChipOpt,
    UserModelOpt, UserModelsOpt, InputShapeOpt, VaryOpt, PeakOpt, BwOpt, ModelArg, _mode, _canonical_name, HwListOpt,
    _hw_list, _sweep_peak, ModelFamilyOpt)
from .views import _emit_frame, _progress
from .models import _load_model, _model_names


def _sweep_models(models, user_models, groups, families, width) -> list:
    """sweep's and pareto's models: canonical zoo and library names (groups and families expanded), then
    each model file's (spec, Module) (traced by the sweep at --resolution, else 224 px)."""
    from ..studies.sweep import expand_models
    from ..trace.user_model import load_factory

    rest, specs = _model_names(models, user_models)
    if specs and width is not None:
        raise RooflineError(f"--width scales zoo models; {specs[0]} is a model file: build the width you want there")
    names = expand_models(rest, groups or [], families or []) if rest or groups or families or not specs else []
    return names + [(s, load_factory(s)) for s in specs]  # a model file's rows are named as it was given


@app.command(cls=_Command)
def report(
    model: ModelArg = None,
    hw_names: HwListOpt = None,
    fitted: FittedOpt = None, calibrated: CalibratedOpt = False, dtype: DtypeOpt = None,
    convention: ConventionOpt = None, resolution: ResolutionOpt = None, width: WidthOpt = None,
    batch: BatchOpt = 1, execution: ExecOpt = None, overhead: OverheadOpt = True, on_chip: OnChipOpt = False,
    user_model: UserModelOpt = None, input_shape: InputShapeOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="The HTML file to write.")] = None,
    family: ModelFamilyOpt = None,
) -> None:
    """One self-contained HTML report of a model on one or more profiles (no network needed to view it)."""
    from ..present.report import write_html_report

    hw_names = _hw_list(hw_names)
    if output is None:
        raise RooflineError("missing -o FILE.html")
    if output.suffix.lower() not in (".html", ".htm"):
        raise RooflineError(f"the report is HTML: give -o a .html file name, got {output}")
    check_writable(output)
    check_not_input(output, model, user_model, *hw_names)
    target, shape, resolution = _load_model(model, user_model, input_shape, resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)
        path = write_html_report(target, hw_names, output, dtype=dtype, convention=convention,
                                 mode=_mode(fitted, calibrated), resolution=resolution, width=width, batch=batch,
                                 input_shape=shape, on_chip=on_chip, execution=execution,
                                 overhead=None if overhead else False, family=family)
    err.print(f"wrote {path}")


@app.command(cls=_Command)
def sweep(
    models: ModelsArg = None, user_models: UserModelsOpt = None, groups: GroupOpt = None,
    families: FamilyOpt = None,
    rp: Annotated[str, typer.Option("--rp", help="Ridge points (MACs/byte): 0:500:5 or 0,5,50,500.")] = "0:500:5",
    hw_name: HwOpt = None, fitted: FittedOpt = None, bw: BwOpt = None, vary: VaryOpt = "peak", peak: PeakOpt = None,
    convention: ConventionOpt = None, dtype: DtypeOpt = None, resolution: ResolutionOpt = None,
    width: WidthOpt = None, batch: BatchOpt = 1, execution: ExecOpt = None, overhead: OverheadOpt = True,
    fmt: Annotated[Optional[Fmt], typer.Option("--format", metavar="FORMAT", help="table, csv, json or "
                                               "markdown (default: from -o's suffix, else table; with --plot, "
                                               "no table unless -o or --format).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the table to this file "
                                                   "(.csv, .json, .md pick the format).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Latency against ridge point, one line per "
                                                 "model, log-log (png, svg or pdf).")] = None,
    relative_to: Annotated[Optional[str], typer.Option("--relative-to", help="With --plot: latency over this "
                                                       "model's at each ridge point.")] = None,
    mark: Annotated[Optional[str], typer.Option("--mark", help="With --plot: vertical lines at the spec-sheet "
                                                "ridge points of these profiles (comma-separated names).")] = None,
) -> None:
    """Latency of models over a range of ridge points (the paper's RP sweep), as a table or a plot.

    Shared options mean what they mean in analyze; --calibrated is left out on purpose (measured
    per-op-class ceilings are not one roofline that a ridge point could vary)."""
    from ..studies.sweep import parse_rps
    from ..studies.sweep import sweep as run_sweep

    table_asked = fmt is not None or output is not None
    fmt = fmt or Fmt.table
    if output is not None:
        fmt = _output_format(output, fmt, "--plot")
        check_writable(output)
    if plot is not None:
        check_writable(plot)
    for f in (output, plot):
        check_not_input(f, hw_name, *(models or []), *(user_models or []))
    marked = {}
    for name in [m.strip() for m in (mark or "").split(",") if m.strip()]:
        from ..hardware import load_hardware

        # the spec sheet's: a fitted ridge point is a regression coefficient, not the hardware's balance
        marked[name] = load_hardware(name).roof(mode="spec").ridge_point
    parse_rps(rp)
    peak, dtype = _sweep_peak(peak, dtype)
    names = _sweep_models(models, user_models, groups, families, width)
    bar, advance = _progress(len(names), "tracing")
    with bar:
        df = run_sweep(names, rp, hw=hw_name, bw=bw, peak=peak, vary=vary, convention=convention, dtype=dtype,
                       mode=_mode(fitted, False), resolution=resolution, width=width, batch=batch,
                       overhead=None if overhead else False, execution=execution, progress=advance)
    if plot is not None:
        from ..present.plots import plot_sweep

        plot_sweep(df, plot, relative_to=_canonical_name(relative_to) if relative_to else None, marks=marked)
        err.print(f"wrote {plot}")
        if not table_asked:  # the plot was asked for: the table only with -o or --format
            return
    title = f"RP sweep: {df.attrs['setup'].describe()}"
    if fmt is Fmt.table:
        cols = ["model", "rp_macs_per_byte", "latency_ms", "mem_time_share", "memory_bound_layers", "layers", "top1"]
        view = df.assign(latency_ms=df["latency_s"] * 1e3, mem_time_share=(df["mem_time_share"] * 100).round(1))
        if "latency_low_s" in df and df["latency_low_s"].notna().any():
            view = view.assign(band=[units.seconds_range(lo, hi) if lo == lo else "" for lo, hi in
                                     zip(df["latency_low_s"], df["latency_high_s"])])
            cols.insert(3, "band")
            title += "; 80 % band at the profile's own ridge point"
        view = view[cols].rename(columns={"rp_macs_per_byte": "RP (MAC/B)", "latency_ms": "latency (ms)",
                                    "band": "80 % band",
                                    "mem_time_share": "memory-bound time (%)",
                                    "memory_bound_layers": "memory-bound layers",
                                    "top1": "top-1 (%)"})
        _emit_frame(view, fmt, output, title)
    else:
        _emit_frame(df.assign(latency_ms=df["latency_s"] * 1e3), fmt, output, title)


@app.command(cls=_Command)
def pareto(
    models: ModelsArg = None, user_models: UserModelsOpt = None, groups: GroupOpt = None,
    families: FamilyOpt = None,
    rp: Annotated[str, typer.Option("--rp", help="Ridge points: 0:500:5 or 0,5,50,500.")] = "0,5,50,500",
    hw_name: HwOpt = None, fitted: FittedOpt = None, bw: BwOpt = None, vary: VaryOpt = "peak", peak: PeakOpt = None,
    convention: ConventionOpt = None, dtype: DtypeOpt = None, resolution: ResolutionOpt = None,
    width: WidthOpt = None, batch: BatchOpt = 1, execution: ExecOpt = None, overhead: OverheadOpt = True,
    accuracy: Annotated[Optional[Path], typer.Option(help="CSV with columns model,top1 (%).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save accuracy-latency panels (png/svg/pdf).")] = None,
    panels: Annotated[str, typer.Option(help="The ridge points drawn as panels with --plot (each must be one "
                                        "of --rp).")] = "0,5,50,500",
    sweep_plot: Annotated[Optional[Path], typer.Option("--sweep-plot", help="Save each model's distance from "
                                                       "the front over all of --rp (png/svg/pdf).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", metavar="FORMAT", help="table, csv, json or markdown "
                                     "(default: from -o's suffix, else table).")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Pareto-optimal models (accuracy vs predicted latency) per ridge point, and where each is optimal.

    Shared options mean what they mean in sweep; --calibrated is left out on purpose, as there."""
    from ..studies.pareto import front_ranges, read_accuracy_csv
    from ..studies.pareto import pareto as run_pareto
    from ..studies.sweep import parse_rps
    from ..studies.sweep import sweep as run_sweep

    for f in (output, plot, sweep_plot):
        if f is not None:
            check_writable(f)
            check_not_input(f, accuracy, hw_name, *(models or []), *(user_models or []))
    rps = parse_rps(rp)
    peak, dtype = _sweep_peak(peak, dtype)
    panel_rps = parse_rps(panels).tolist() if plot is not None else []
    absent = [v for v in panel_rps if not np.isclose(rps, v).any()]
    if absent:
        raise RooflineError(f"--panels {', '.join(f'{v:g}' for v in absent)}: not among the --rp ridge points")
    names = _sweep_models(models, user_models, groups, families, width)
    acc = read_accuracy_csv(str(accuracy)) if accuracy else None
    if acc is not None:  # a model file's accuracy is given under its spec (mynet.py:factory)
        missing = [n for n in (m if isinstance(m, str) else m[0] for m in names) if n not in acc]
        if missing:
            raise RooflineError(f"{accuracy} has no top1 for {', '.join(missing)}")
    bar, advance = _progress(len(names), "tracing")
    with bar:
        p = run_pareto(run_sweep(names, rps, hw=hw_name, bw=bw, peak=peak, vary=vary, convention=convention,
                                 dtype=dtype, accuracy=acc, mode=_mode(fitted, False), resolution=resolution,
                                 width=width, batch=batch, overhead=None if overhead else False,
                                 execution=execution, progress=advance))
    setup = p.attrs["setup"]
    ranges = front_ranges(p)
    if plot is not None:
        from ..present.plots import plot_accuracy_vs_latency

        plot_accuracy_vs_latency(p, panel_rps, plot, title=f"Accuracy vs predicted latency: {setup.describe()}")
        err.print(f"wrote {plot}")
    if sweep_plot is not None:
        from ..present.plots import plot_front_distance

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


@app.command(cls=_Command)
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
                                       , metavar="")] = False,
) -> None:
    """Regenerate the MobileNetV4 paper's Figures 2 and 3 and Table 16, or the profile validation report."""
    if paper == "profiles":
        from ..studies.profile_report import write_report as write_profiles

        out_dir = output or Path("reports/profile-validation")
        check_report_folder(out_dir)
        root = Path(__file__).resolve().parents[2]  # roofline/cli/reports.py -> the checkout
        if ship and not (root / "hardware_profiles").is_dir():
            raise RooflineError("--ship writes into a source checkout; this roofline is installed without one")
        bar, advance = _progress(0, "tracing")
        with bar, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = write_profiles(out_dir, jobs, timm_sample, root if ship else None)
        err.print(f"wrote {path}" + (" and the shipped profiles" if ship else ""))
        return
    from ..studies.reproduce import write_report
    from ..studies.sweep import MODEL_GROUPS

    if paper != "mnv4":
        raise RooflineError(f"unknown target {paper!r}; use mnv4 or profiles")
    bar, advance = _progress(len(MODEL_GROUPS["paper-fig2"]), "tracing")
    with bar:
        path = write_report(output or Path("reports/mnv4-paper"), progress=advance)
    err.print(f"wrote {path} and its figures and tables")
