"""Commands about models: the zoo and what a trace counts."""

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

from .app import (_Command, app, out, err, Fmt, _emit, _output_format, UserModelOpt, InputShapeOpt, ModelArg,
    _parse_shape)
from .views import _as_text, _fitted_table, _fmt_int, _emit_frame, _has_tabulate


@app.command(cls=_Command)
def models(
    source: Annotated[str, typer.Option(help="zoo, timm or torchvision (the last two need their extra).")] = "zoo",
    filter_: Annotated[str, typer.Option("--filter", help="Only names matching this pattern, e.g. 'mobile*'.")] = "*",
) -> None:
    """List the models: the zoo (name, resolution, params, published top-1), or a library's names."""
    import fnmatch

    from ..zoo import list_models, model_card

    if source != "zoo":
        from ..zoo.libraries import SOURCES, available

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


def _option_model(name: str) -> None:
    """``--model NAME``: a zoo or library name, or a spec; a name that is neither is read as a malformed
    spec (``--model mynet`` forgot its ``:factory``); a graph file (``PATH.onnx``, ``onnx:PATH``, ``PATH.tflite``,
    ``tflite:PATH``) must exist."""
    from ..trace.graph_file import graph_path, is_graph_file
    from ..trace.user_model import check_spec, is_model_spec
    from ..zoo import resolve

    if is_graph_file(name):
        graph_path(name)
        return
    if is_model_spec(name):
        return
    try:
        resolve(name)
    except RooflineError:
        check_spec(name)


def _model_names(models: Optional[list[str]], user_models: Optional[list[str]]) -> tuple[list[str], list[str]]:
    """The models of a command that takes several (positional MODELs and repeated --model, one meaning):
    (zoo and library names and ONNX files, model files and MODULE:FACTORY specs), each in the order given."""
    from ..trace.graph_file import graph_path, is_graph_file
    from ..trace.user_model import check_spec, is_model_spec

    for m in user_models or []:
        _option_model(m)
    given = list(models or []) + list(user_models or [])
    for m in given:
        if is_graph_file(m):
            graph_path(m)  # a missing graph file fails before any work
    specs = [m for m in given if is_model_spec(m)]
    for m in specs:
        check_spec(m)  # a malformed spec or a missing file fails before any work
    return [m for m in given if not is_model_spec(m)], specs


def _warn_unsupported(table) -> None:
    """One line per op without a counting rule; for a graph file (ONNX, TFLite), per node, with its share of the
    graph's bytes."""
    nodes = getattr(table, "unsupported_nodes", ())
    kind = getattr(table, "FORMAT", "ONNX")
    for name, op, share in nodes[:10]:
        err.print(f"warning: no counting rule for {kind} {op} {'node' if kind == 'ONNX' else 'op'} {name!r}: counted "
                  f"memory-only (0 MACs), {share:.1%} of the graph's bytes", style="yellow")
    if len(nodes) > 10:
        err.print(f"warning: and {len(nodes) - 10} more nodes without a counting rule "
                  f"({sum(s for _, _, s in nodes[10:]):.1%} of the graph's bytes)", style="yellow")
    for op, n in ({} if nodes else table.unsupported).items():
        err.print(f"warning: no counting rule for {op} ({n} calls): counted as 0 MACs", style="yellow")


def _load_model(model: Optional[str], user_model: Optional[str], input_shape,
                resolution: Optional[int]):
    """The zoo name or user Module to trace, its input shape, and its resolution (224 for user models)."""
    from ..trace.user_model import USER_MODEL_RESOLUTION, is_model_spec, load_factory

    if user_model and model:
        raise RooflineError("give a MODEL or --model, not both")
    name = user_model or model
    if user_model:
        _option_model(user_model)
    if not name:
        raise RooflineError("missing MODEL (a zoo name; 'roofline models' lists them) or --model FILE:FACTORY")
    from ..trace.graph_file import graph_path, is_graph_file

    if is_graph_file(name):
        graph_path(name)  # read as a model by the trace: a missing file fails here, before any work
    # one model argument: MODEL and --model both take a zoo or library name or a model file
    target = load_factory(name) if is_model_spec(name) else name
    shape = _parse_shape(input_shape)
    if not isinstance(target, str) and resolution is None and shape is None:
        resolution = USER_MODEL_RESOLUTION
        r = USER_MODEL_RESOLUTION
        err.print(f"note: no --input-shape or --resolution for the model file: traced at 1x3x{r}x{r} (one "
                  f"{r}-pixel RGB image); give --input-shape for another input")
    return target, shape, resolution


@app.command(cls=_Command)
def trace(
    model: ModelArg = None,
    resolution: Annotated[Optional[int], typer.Option(help="Input height = width in pixels "
                                                      "(default: the model's native resolution).")] = None,
    width: Annotated[Optional[float], typer.Option(help="Width multiplier (alpha).")] = None,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 1,
    no_fuse: Annotated[bool, typer.Option("--no-fuse", help="One row per raw aten op.", metavar="")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", metavar="FORMAT", help="table, csv, json or markdown "
                                     "(default: from -o's suffix, else table).")] = Fmt.table,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to this file.")] = None,
    user_model: UserModelOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Compare per-module MACs with fvcore.", metavar="")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on ops without a counting rule.", metavar="")] = False,
    input_shape: InputShapeOpt = None,
    depth: Annotated[Optional[int], typer.Option(help="Roll the counts up per module, N levels deep "
                                                 "(stage2.uib_0 is 2), with the share of MACs.")] = None,
) -> None:
    """Trace a model layer by layer: MACs, parameters, weight and activation elements."""
    from ..trace import trace as run_trace

    if output is not None:
        fmt = _output_format(output, fmt)
        check_writable(output)
        check_not_input(output, model, user_model)
    target, shape, resolution = _load_model(model, user_model, input_shape, resolution)
    from ..trace.graph_file import graph_format, label

    graph = graph_format(target)  # (``fmt`` is the output format)
    if check and graph is not None:
        raise RooflineError(f"--check compares a PyTorch trace with fvcore's; {label(graph)} file has no PyTorch "
                            f"module")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)  # listed below, one line per op
        table = run_trace(target, shape, resolution=resolution, batch=batch, width=width,
                          fuse=not no_fuse, strict=strict)
    _warn_unsupported(table)
    df = table.layers
    if depth is not None:
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
        cols = ["name", "op", "out_shape", "kernel", "stride", "macs", "params", "weight_elems",
                "in_elems", "out_elems", "fused"]
        heads = ["name", "op", "output", "kernel", "stride", "MACs", "params", "weight elements",
                 "input elements", "output elements", "fused"]
        rows = [tuple(_fmt_int(v) if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in row)
                for row in df[cols].itertuples(index=False)]
        tot = table.totals
        rows.append(("TOTAL", "", "", "", "", *[_fmt_int(tot[c]) for c in
                                                ("macs", "params", "weight_elems", "in_elems", "out_elems")], ""))
        t, w = _fitted_table(f"{table.model} @ {'x'.join(map(str, table.input_shape))} "
                             f"({'fused layers' if table.fuse else 'raw aten ops'}); every column: --format csv",
                             heads, rows, {"name", "op", "output", "kernel", "stride", "fused"},
                             ("weight elements", "fused", "input elements", "stride", "kernel", "output elements",
                              "output"), out.size.width if output is None else 120)
        note = ("Units: macs = multiply-accumulates; *_elems = tensor elements "
                 "(bytes = elements x bytes per element of the target dtype).")
        if output is None:
            out.print(t, width=w, crop=False)
            out.print(note)
        else:
            _emit(_as_text(t, note, width=w), output)
    if check:
        from ..trace.crosscheck import fvcore_check
        from ..zoo import build_model

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
