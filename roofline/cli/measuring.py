"""Commands that measure: fit a table of latencies, profile this machine, validate against real runs."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from ..core import units
from ..core.errors import RooflineError
from ..core.reading import Runtime
from ..core.io import check_not_input, check_report_folder, check_writable, report_folder

from .app import (_Command, app, out, err, ValidateFmt, _emit, ModelsArg, GroupOpt, FamilyOpt, FittedOpt, _one_hw,
    CalibratedOpt, ConventionOpt, ResolutionOpt, WidthOpt, BatchOpt, UserModelsOpt, _mode, _parse_ints)
from .models import _model_names
from .views import _progress


@app.command(cls=_Command)
def fit(
    measured: Annotated[Path, typer.Argument(help="CSV of measurements: one row per measurement (model and "
                                              "ms, or a throughput column; optional resolution, batch, dtype, "
                                              "width, family: a model file's family, or another for a "
                                              "model).")],
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
                                                 "kernel, inference, reduction, dwconv, grouped, matmul, "
                                                 "attention, norm, "
                                                 "activation, elementwise, movement, family; 'none' for Eq. 1 "
                                                 "alone); "
                                                 "default: chosen by cross-validated error.")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by model; leave-one-model-out "
                                       "below 20 models).")] = 4,
    outer_folds: Annotated[Optional[int], typer.Option("--outer-folds", help="Folds of the nested check: an outer "
                                                       "grouped split whose training parts each run the whole "
                                                       "selection, the honest held-out error (0: none; default "
                                                       "4 from 12 models, else none).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Traces computed in parallel.")] = 1,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the trace cache.", metavar="")] = False,
    base: Annotated[Optional[str], typer.Option("--base", help="A profile whose spec numbers the written "
                                                "profile keeps (name or YAML), and that bound the fitted peak "
                                                "(0.01-10x) and bandwidth (0.01-100x).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Profile name (default: the output file's stem).")] = None,
    kind: Annotated[str, typer.Option(help="cpu, gpu, dsp or npu.")] = "cpu",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Profile YAML to write (without it "
                                                   "nothing is saved).")] = None,
) -> None:
    """Fit a latency model (roofline, overheads, per-op-class efficiency) to measurements, cross-validated."""
    from ..core.taxonomy import CLASS_TEXT
    from ..hardware import KINDS, load_hardware, profile_to_yaml
    from ..fit.table_fit import fit_measurements
    from ..fit.measurements import Columns, read_measurements

    if output is not None:
        check_writable(output)
        check_not_input(output, measured, base)
    yaml_out = output is not None and str(output) == "-"  # the YAML on stdout: the report goes to stderr

    def say(*args) -> None:
        print(*args, file=sys.stderr if yaml_out else sys.stdout)

    if kind not in KINDS:
        raise RooflineError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if jobs < 1 or jobs > 256:
        raise RooflineError(f"--jobs must be from 1 to 256, got {jobs}")
    if outer_folds is not None and (outer_folds < 0 or outer_folds == 1):
        raise RooflineError(f"--outer-folds must be 0 (no nested check) or at least 2, got {outer_folds}")
    base_profile = load_hardware(base) if base else None
    chosen = None
    if terms is not None:
        from ..fit.terms import TERMS

        chosen = [] if terms.strip() == "none" else [t.strip() for t in terms.split(",") if t.strip()]
        if not chosen and terms.strip() != "none":
            raise RooflineError(f"--terms {terms!r} names no term; give terms (kernel,inference) or none for Eq. 1 "
                                f"alone")
        bad = [t for t in chosen if t not in TERMS]
        if bad:
            raise RooflineError(f"unknown term {bad[0]!r} in --terms; use none or any of {', '.join(TERMS)}")
    if convention not in (None, "auto"):
        from ..core.conventions import get_convention

        get_convention(convention)
    if execution is not None:
        from ..engine.latency import check_execution

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
                             data=f"{measured.name}: {len(rows)} rows, {n_models} models", base=base_profile,
                             outer_folds=outer_folds)
    for w in {str(w.message): w for w in caught if issubclass(w.category, UserWarning)}.values():
        err.print(f"warning: {w.message}", style="yellow")
    for m, why in f.dropped[:5]:
        err.print(f"warning: dropped {m}: {why}", style="yellow")
    if len(f.dropped) > 5:
        err.print(f"warning: {len(f.dropped) - 5} more rows dropped (could not be traced)", style="yellow")
    if f.unexplained is not None and len(f.unexplained):
        say(f"{len(f.unexplained)} row{'s' if len(f.unexplained) > 1 else ''} the fit cannot explain by 10x or more "
            f"(a typo or a unit error in the table?):")
        for r in f.unexplained.itertuples():
            try:
                at = f"{int(r.resolution)} px"
            except (TypeError, ValueError):  # None or NaN: the model's own
                at = "native resolution"
            say(f"  {r.model} ({at}, batch {int(r.batch)}): measured {units.seconds(r.measured_s)}, predicted "
                f"{units.seconds(r.predicted_s)}")
    if f.note:
        err.print(f"warning: {f.note}", style="yellow")
    p = f.params
    say(f"fitted {f.n_rows} rows of {f.n_models} models ({len(f.dropped)} dropped); convention {f.convention}, "
        f"{f.execution} execution; least squares on log latency (Huber), class factors shrunk toward 1")
    say(f"terms ({f.method}):")
    for dt, peak in p.peak_macs_per_s.items():
        say(f"  peak ({dt}, dense conv): {units.count(peak, 'MAC/s')}; ridge point {p.ridge_point(dt):.1f} "
            f"MAC/B")
    say(f"  bandwidth: {units.count(p.mem_bw_bytes_per_s, 'B/s')}")
    if "kernel" in p.terms:
        say(f"  per kernel: {units.seconds(p.per_kernel_s)}")
    if "inference" in p.terms:
        say(f"  per inference: {units.seconds(p.per_inference_s)}")
    if "reduction" in p.terms:
        say(f"  reduction half-length: {p.reduction_half:.3g} MACs per output element (a compute layer runs at "
            f"1 / (1 + this / its MACs per output) of its class's rate)")
    for c, v in p.efficiency.items():
        say(f"  {CLASS_TEXT[c]}: {v:.3g} x its roofline (efficiency, 1 = dense conv's)")
    for fam, g in p.family.items():
        say(f"  family {fam}: x{g:.3g} latency (a model of this family on this device; others x1)")
    say("candidates tried (held-out median |predicted/measured - 1|; the criterion selected by: mean "
        "|ln(predicted/measured)| on held-out rows, lowest wins):")
    for r in f.candidates.itertuples():
        conv_ = f"{r.convention}: " if f.candidates["convention"].nunique() > 1 else ""
        say(f"  {conv_}{r.terms}: median {r.heldout_median_error:.1%}, criterion {r.score:.4f}"
            + (f" (dropped: {r.dropped})" if r.dropped else "") + ("  <- chosen" if r.chosen else ""))
    best = f.candidates[f.candidates["chosen"]].iloc[0]
    say(f"chosen by the criterion: {best['terms']} (held-out mean |ln(predicted/measured)| {best['score']:.4f})")
    ins, held, macs = f.errors("insample_s"), f.errors("heldout_s"), f.errors("macs_heldout_s")
    say("accuracy (|predicted/measured - 1|; Spearman of predicted vs measured):")
    say(f"  {'':22s}{'median':>9s}{'worst':>9s}{'Spearman':>10s}")
    say(f"  {'in-sample':22s}{ins['median']:>9.1%}{ins['worst']:>9.1%}{ins['spearman']:>10.3f}")
    say(f"  {'held out':22s}{held['median']:>9.1%}{held['worst']:>9.1%}{held['spearman']:>10.3f}")
    say(f"  {'MACs only, held out':22s}{macs['median']:>9.1%}{macs['worst']:>9.1%}{f.macs_spearman:>10.3f}")
    if f.nested:
        n = f.nested.summary()
        say(f"  {f'nested ({f.nested.folds} outer folds)':22s}{n['median']:>9.1%}{n['worst']:>9.1%}"
            f"{n['spearman']:>10.3f}")
        say(f"nested check: each of {f.nested.folds} outer training parts ran the whole selection and predicted "
            f"models it never saw (the honest figure; 'held out' above chose the terms on its own folds); "
            f"{n['coverage']:.0%} of those rows lie inside their training part's 80 % band")
        for r in f.nested.fits.itertuples():
            say(f"  outer fold {r.fold}: {r.convention + ': ' if r.convention else ''}{r.terms}"
                + (f" (at a bound: {r.at_bound})" if r.at_bound else "") + (f" ({r.note})" if r.note else ""))
    say(f"80 % band: measured / predicted from {f.band[0]:.2f} to {f.band[1]:.2f} (held-out, conformal)")
    if f.new_family_band:
        say(f"80 % band for a model of a family without a multiplier: {f.new_family_band[0]:.2f} to "
            f"{f.new_family_band[1]:.2f} (the same held-out rows predicted without family multipliers)")
    profile = f.profile(name or (output.stem if output is not None and not yaml_out else "fitted-device"), kind,
                        base_profile)
    if output is not None:
        _emit(profile_to_yaml(profile), output)
    else:
        err.print("profile not saved: give -o FILE.yaml to write it")


class Exec(str, Enum):
    eager = "eager"
    graph = "graph"
    compile = "compile"


@app.command(cls=_Command)
def profile(
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[Optional[str], typer.Option(help="Comma-separated dtypes to measure: fp32,fp16,bf16,int8 "
                                                 "(default: fp32 on cpu, fp16,fp32 on cuda).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="15-20 s on 2 cores (about half the full run): smaller "
                                        "sizes, fewer trials.", metavar="")] = False,
    ceilings: Annotated[bool, typer.Option("--ceilings/--no-ceilings", help="Also measure per-op-class "
                                           "ceilings (3x3, 1x1, depthwise conv, FC, BN, activation, add, "
                                           "pool).", metavar="")] = True,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes to measure op ceilings at, "
                                       "comma-separated, e.g. 1,256.")] = "1",
    name: Annotated[Optional[str], typer.Option(help="Profile name (default: the output file's stem).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the profile YAML here.")] = None,
    allow_noisy: Annotated[bool, typer.Option("--allow-noisy", help="Write the profile even where a figure "
                                              "stayed spread by more than 100 % (a loaded machine); its "
                                              "terms are then unreliable.", metavar="")] = False,
    runtime: Annotated[Runtime, typer.Option(help="torch (default), onnxruntime or litert: peaks, op ceilings "
                                             "and overheads timed through ONNX Runtime's CPU provider or LiteRT "
                                             "with XNNPACK, as validate runs models there; their ceilings in the "
                                             "first --dtype: fp32, or int8 for quantized graphs (ONNX Runtime: "
                                             "QDQ U8S8 graphs, as its quantizer makes them).")] = Runtime.TORCH,
) -> None:
    """Measure this machine's peak MAC/s, memory bandwidth, op ceilings and overheads; write a profile.

    A figure spread by more than 100 % after retries (another program competing for the cores) makes
    the run exit 2 naming it, and nothing is written, unless --allow-noisy."""
    from ..hardware import profile_to_yaml
    from ..measure.profiler import check_device, profile_machine, to_profile

    if output is not None:
        check_writable(output)
    yaml_out = output is not None and str(output) == "-"
    check_device(device)
    dtypes = tuple(d.strip() for d in (dtype or ("fp16,fp32" if device == "cuda" else "fp32")).split(",") if d.strip())
    batches = _parse_ints(batch, "--batch")
    bar, advance = _progress(len(dtypes) * 2 + 2 + (len(batches) + 1 if ceilings else 0), "measuring")
    with bar:
        run = profile_machine(device, dtypes, threads, quick, ceilings, progress=advance, batches=batches,
                              runtime=runtime.value)
    t = Table(title=f"Measured on {run.machine.get('gpu') or run.machine.get('cpu')} ({device}, "
                    f"{run.machine['threads_used']} thread{'' if run.machine['threads_used'] == 1 else 's'})")
    for c in ("what", "median", "spread", "trials", "how"):
        t.add_column(c)

    def value(v: float, unit: str) -> str:
        return units.seconds(v) if unit == "s" else units.count(v, unit)

    rows = [(f"peak {d}", m) for d, m in run.peaks.items()] + [("bandwidth (triad)", run.bandwidth),
                                                                ("bandwidth (copy)", run.copy)]
    rows += [(f"overhead {k}", m) for k, m in run.overhead.items()]
    for label, m in rows:
        t.add_row(label, value(m.value, m.unit), f"{m.spread:.1%}", str(m.trials), m.what)
    for bt, fits in run.ceilings.items():
        for op, f in fits.items():
            t.add_row(f"ceiling {op} (batch {bt})", value(f.rate, f.unit), f"{f.spread:.1%}", str(f.shapes),
                      f"fixed {f.fixed_s * 1e6:.3g} µs per kernel + "
                      + ("MACs / rate(shape)" if f.shape else "bytes / rate")
                      + f" over {f.shapes} shapes, median fit error {f.median_fit_error:.0%}")
    report = err if yaml_out else out  # the YAML on stdout: the report goes to stderr
    report.print(t)
    for label in run.noisy:
        err.print(f"warning: {label} is noisy (spread above {run.limit(label) * 100:.0f} % after extra trials): the "
                  f"machine is loaded" + ("; the ridge point made from it is unreliable" if label.startswith("peak ")
                                          else ""), style="yellow")
    if run.check:
        c = run.check
        report.print(f"self-check: {c['network']}: predicted {units.seconds(c['predicted_s'])}, measured "
                  f"{units.seconds(c['measured_s'])} ({c['error']:+.1%})")
    prof = to_profile(run, name or (output.stem if output is not None and not yaml_out else f"local-{device}"),
                      allow_noisy)
    r = prof.roof()
    report.print(f"ridge point ({r.dtype}): {r.ridge_point:.2f} MACs/byte")
    if output is not None:
        _emit(f"# Measured by roofline profile on {run.machine['date']}\n" + profile_to_yaml(prof), output)


# validate's terminal table: words with units (CSV and JSON keep the data names)
VALIDATE_HEADERS = {"model": "model", "macs": "MACs", "kernels": "kernels", "roofline_ms": "Eq. 1 (ms)",
                    "overhead_ms": "overheads (ms)", "predicted_ms": "predicted (ms)", "measured_ms": "measured (ms)",
                    "spread": "spread (%)", "process_spread": "spread between processes (%)",
                    "error": "error (%)", "page_faults": "page faults"}


@app.command(cls=_Command)
def validate(
    models: ModelsArg = None, user_models: UserModelsOpt = None, groups: GroupOpt = None,
    families: FamilyOpt = None,
    hw_name: Annotated[str, typer.Option("--hw", callback=_one_hw, help="One profile to predict with: a name or "
                                         "YAML file "
                                         "(e.g. one written by 'roofline profile').")] = "",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    runs: Annotated[int, typer.Option(help="Timed runs per model (median).")] = 10,
    batch: BatchOpt = 1,
    dtype: Annotated[Optional[str], typer.Option(help="fp32, fp16 or bf16 (default: the profile's); models run "
                                                 "in it here, so no int8.")] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Run in channels_last memory "
                                                "format.", metavar="")] = False,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's); match the "
                                                   "profile's.")] = None,
    processes: Annotated[Optional[int], typer.Option(help="Fresh Python processes each model is timed in "
                                                     "(median of their medians; default 3 on cpu, 1 on "
                                                     "cuda); 0 times all in this process.")] = None,
    execution: Annotated[Optional[Exec], typer.Option("--exec", help="eager (PyTorch eager), graph (CUDA-graph "
                                            "replay, cuda only) or compile (torch.compile); predicted with "
                                            "the matching execution mode (default eager).")] = None,
    runtime: Annotated[Optional[Runtime], typer.Option(help="torch (default; an ONNX file: onnxruntime, a TFLite "
                                                       "file: litert), onnxruntime (ONNX Runtime's CPU provider "
                                                       "runs the models, PyTorch ones exported first) or litert "
                                                       "(LiteRT with XNNPACK runs TFLite files end to end, PyTorch "
                                                       "ones converted to float32 TFLite first); "
                                                       "predicted fused.")] = None,
    convention: ConventionOpt = None,
    calibrated: CalibratedOpt = False, fitted: FittedOpt = None, resolution: ResolutionOpt = None,
    width: WidthOpt = None,
    fmt: Annotated[ValidateFmt, typer.Option("--format", metavar="FORMAT", help="table, csv (one row per "
                                             "model, SI units) or json (stdout).")] = ValidateFmt.table,
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
    """Run models for real and compare measured with predicted latency, per model and per layer.

    Shared options mean what they mean in analyze, except --exec: here it is how the models run on
    this machine (eager, graph or compile), not fused, which needs a deployed engine."""
    from ..hardware import load_hardware
    from ..measure.validate import validate as run_validate
    from ..present.validate_report import write_report_files
    from ..studies.sweep import expand_models

    if not hw_name:
        raise RooflineError("missing --hw (a profile name or YAML file, e.g. from 'roofline profile')")
    if output is not None:
        check_report_folder(output)
    if save_band is not None:
        check_writable(save_band)
        check_not_input(save_band, hw_name, *(profile_run or []))
        from ..measure.validate import check_band_reading

        check_band_reading(load_hardware(hw_name), dtype, _mode(fitted, calibrated))  # before any run
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
        from ..measure.validate import load_validation
        from ..present.validate_report import write_report

        v = load_validation(from_report, hw_name)
        path = write_report(v, output or from_report, runs_table)
        err.print(f"wrote {path}")
        return
    if runtime not in (None, Runtime.TORCH) and execution is not None:
        raise RooflineError(f"--exec is how PyTorch runs the models; --runtime {runtime.value} runs them under "
                            f"that runtime: give one of them")
    run_as = runtime.value if runtime not in (None, Runtime.TORCH) else execution.value if execution else (
        "eager" if runtime is Runtime.TORCH else None)
    rest, specs = _model_names(models, user_models)  # model files run as given, after the named ones
    names = (expand_models(rest, groups or [], families or []) if rest or groups or families or not specs
             else []) + specs
    if save_band is not None:
        from ..measure.validate import check_band_models

        check_band_models(len(dict.fromkeys(names)))  # before any run: a band needs enough models
    # the report folder is made before measuring: one that cannot be written fails at once
    with report_folder(output) if output is not None else contextlib.nullcontext() as folder:
        bar, advance = _progress(len(names), "running")
        with bar:
            v = run_validate(names, hw_name, device=device, runs=runs, convention=convention,
                             mode=_mode(fitted, calibrated), dtype=dtype, batch=batch, resolution=resolution,
                             width=width,
                             channels_last=channels_last, execution=run_as, threads=threads,
                             processes=processes, progress=advance)
        for w in v.warnings:
            err.print(f"warning: {w}", style="yellow")
        if fmt is ValidateFmt.json:
            print(json.dumps(v.to_dict(), indent=2))
        elif fmt is ValidateFmt.csv:
            sys.stdout.write(v.models.to_csv(index=False))
        else:
            def num(x: float, f: str) -> str:
                return "n/a" if x != x else format(x, f)

            import textwrap

            head = f"{v.setup}; predicted with {next(iter(v.analyses.values())).latency.describe(sources=False)}"
            print(textwrap.fill(head, max(out.width, 40), break_on_hyphens=False))  # not one 600-character line
            view = v.models.copy()
            if "macs" in view:
                view["macs"] = [units.count(float(x)) for x in view["macs"]]
            for c in ("spread", "process_spread", "error"):
                if c in view:
                    view[c] = (view[c] * 100).round(1)
            if "page_faults" in view:
                view["page_faults"] = view["page_faults"].round(0).astype(int)
            view = view.rename(columns=lambda c: VALIDATE_HEADERS.get(c, c.replace("_", " ")))
            print(view.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            print(f"median |predicted/measured - 1|: {v.median_abs_error:.1%} (models), "
                  f"{num(v.median_abs_error_layers, '.1%')} (layers); Spearman predicted vs measured: "
                  f"{num(v.spearman_models, '.3f')} (models), {num(v.spearman_layers, '.3f')} (layers); MACs vs "
                  f"measured: {num(v.spearman_macs, '.3f')}")
        if folder is not None:
            write_report_files(v, folder, runs_table)
    if output is not None:
        err.print(f"wrote {output / 'README.md'}")
    if save_band is not None:
        from ..hardware import profile_to_yaml

        _emit(profile_to_yaml(v.band_profile()), save_band)
