"""How results look in a terminal or a file: tables that never cut a name or number, units, progress."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ..core import units
from .app import out, err, Fmt, _emit


def _as_text(*renderables, width: int = 240) -> str:
    """Render rich tables and text to plain text (for a file, or a view wider than the terminal)."""
    console = Console(record=True, width=width, file=io.StringIO(), highlight=False, markup=False, emoji=False)
    for r in renderables:
        console.print(r, markup=False)
    return console.export_text()


def _fitted_table(title: str, heads: list[str], rows: list[tuple[str, ...]], left: set[str], drop: tuple[str, ...],
                  width: int):
    """A table of ``rows`` (cells already text) that never cuts a cell: numbers and names keep their
    width; the columns in ``drop`` are left out, in that order, until the table fits ``width``.
    Returns the table and its width."""
    from rich import box

    keep = list(range(len(heads)))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)]
    for d in drop:
        if sum(widths[i] + 3 for i in keep) <= width:
            break
        keep.remove(heads.index(d))
    dropped = [heads[i] for i in range(len(heads)) if i not in keep]
    t = Table(title=title + (f"; {', '.join(dropped)} left out to fit {width} columns" if dropped else ""),
              box=box.SIMPLE_HEAD, pad_edge=False)
    for i in keep:
        t.add_column(heads[i], justify="left" if heads[i] in left else "right", no_wrap=True, min_width=widths[i])
    for r in rows:
        t.add_row(*(r[i] for i in keep))
    return t, max(width, sum(widths[i] + 3 for i in keep))


def _fmt_int(n: float) -> str:
    return f"{int(n):,}"


def _emit_comparison(analyses: list, fmt: "Fmt", output: Optional[Path]) -> None:
    """One row per profile: the estimate and its 80 % band (the reading itself where it is validated),
    what it rests on, the reading's own number where that is a bound, trust, memory-bound share and the
    slowest layer."""
    if fmt is Fmt.json:
        _emit(json.dumps([a.to_dict() for a in analyses], indent=2), output)
        return
    rows = []
    for a in analyses:
        s = a.summary()
        slow = a.slowest(1).iloc[0]
        e = a.estimate
        rows.append({
            "profile": a.hardware.name, "dtype": a.dtype,
            "latency_s": e.seconds if e else a.total_latency_s,
            "latency_low_s": e.low_s if e else float("nan"), "latency_high_s": e.high_s if e else float("nan"),
            "basis": str(e.basis) if e else "reading, no band",
            "bound_s": a.total_latency_s if a.band is None and a.is_lower_bound else float("nan"),
            "trust": a.hardware.status + ("" if a.band is None else " (its own band)" if a.band.validated
                                          else " (transferred band)"),
            "memory_bound_share": s["memory_bound_time_share"], "slowest_layer": slow["name"],
            "slowest_layer_s": float(slow["latency_s"])})
    df = pd.DataFrame(rows)
    title = (f"{analyses[0].model} on {len(analyses)} profiles (80 % bands; 'from': the profile's own validated "
             f"reading, a transferred profile or the prior of its kind; Eq. 1 bounds apart; JSON and CSV keep "
             f"seconds)")
    if fmt is not Fmt.table:
        _emit_frame(df, fmt, output, title)
        return
    t = Table(title=title, title_justify="left")
    for c in ("profile", "dtype", "latency", "80 % band", "from", "Eq. 1 bound", "memory-bound", "slowest layer"):
        t.add_column(c, justify="right" if c in ("latency", "Eq. 1 bound", "memory-bound") else "left",
                     no_wrap=c in ("profile", "latency", "80 % band"), overflow="fold")
    for r in rows:
        t.add_row(r["profile"], r["dtype"], units.seconds(r["latency_s"]),
                  units.seconds_range(r["latency_low_s"], r["latency_high_s"]) if r["latency_low_s"] == r["latency_low_s"]
                  else "none", r["basis"],
                  units.seconds(r["bound_s"]) if r["bound_s"] == r["bound_s"] else "",
                  units.share(r["memory_bound_share"]),
                  f"{r['slowest_layer']} ({units.seconds(r['slowest_layer_s'])})")
    if output is None:
        out.print(t)
    else:
        _emit(_as_text(t), output)


def _summary_view(a, top: int) -> list:
    """The default analyze view, under 100 columns: headline, assumptions, totals, the slowest
    layers and the shares per op type."""
    from rich.text import Text
    from ..engine.efficiency import op_group

    s = a.summary()
    head = Text(f"{a.model} on {a.hardware.name}: {a.latency_text()}"
                + (" predicted" if a.band is not None or a.estimate is None else "")
                + f" ({a.breakdown()}); profile {a.hardware.status}", style="bold")
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


def _family_line(a) -> str:
    """The per-layer table's line for the family multiplier (empty without one)."""
    if not a.family:
        return ""
    fam, g = a.family
    return f"latency = (roofline + overhead) x {g:.4g}, the fitted {fam} family multiplier; "


def _summary_text(a) -> str:
    s = a.summary()
    slow = a.slowest(5)
    lines = [
        "Assumptions:\n  " + a.assumptions().replace("\n", "\n  "),
        f"Summary: params {s['params']:,}; MACs {s['macs']:,}; weight bytes {s['weight_bytes']:,.0f} B; "
        f"activation bytes {s['activation_bytes']:,.0f} B",
        f"Predicted latency: {a.latency_text()}; profile {a.hardware.status}",
        f"Predicted latency: {s['latency_ms']:.4f} ms (Eq. 1 roofline {s['roofline_latency_ms']:.4f} ms + "
        f"overheads {s['overhead_ms']:.4f} ms over {s['kernels']} kernels, {s['execution']} execution"
        + (f"; all x{a.family[1]:.3g} for the {a.family[0]} family" if a.family else "") + "); "
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
        t = _rich_table(df, title, out.width if output is None else 240)
        if output is None and t.needed_width <= out.width:
            out.print(t)
        else:  # a file; or a table whose names and numbers alone are wider than the terminal: uncut
            _emit(_as_text(t, width=max(240, t.needed_width)), output)


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return "" if v != v else units.plain(float(v)) if abs(v) >= 1e-3 or v == 0 else f"{float(v):.4g}"
    return str(v)


# Headers a terminal table shows for the data's column names (CSV and JSON keep the names)
_HEADERS = {"top1": "top-1 (%)", "on_front_share": "share of RPs on the front", "universal": "on every front",
            "rp_ranges": "RP ranges (MAC/B)"}


def _rich_table(df, title: str, width: int = 240) -> Table:
    """A DataFrame as a rich table: numbers right-aligned with separators, units in the headers. No cell
    is cut or wrapped: where the table is wider than ``width``, headers wrap at spaces (the widest
    first); ``needed_width`` is the table's width, more than ``width`` where even that cannot fit."""
    t = Table(title=title, title_justify="left")
    cells = [[_cell(v) for v in row] for row in df.itertuples(index=False)]
    heads = [_HEADERS.get(str(c), str(c)) for c in df.columns]
    widest = [max([len(r[i]) for r in cells] + [1]) for i in range(len(heads))]
    least = [max([w] + [len(x) for x in h.split()]) for w, h in zip(widest, heads)]
    widths = [max(w, len(h)) for w, h in zip(widest, heads)]
    while sum(widths) + 3 * len(widths) + 1 > width and widths != least:
        i = max(range(len(widths)), key=lambda k: widths[k] - least[k])
        widths[i] -= 1
    for i, c in enumerate(df.columns):
        t.add_column(heads[i], justify="right" if df[c].dtype.kind in "iuf" else "left", width=widths[i])
    for row in cells:
        t.add_row(*row)
    t.needed_width = sum(widths) + 3 * len(widths) + 1
    return t


def _progress(total: int, label: str):
    """A rich progress bar on a terminal; a plain line per step on stderr otherwise."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    if not err.is_terminal:
        done = [0]

        every = max(1, -(-total // 20))  # at most about 20 lines, however long the list

        def line(name: str) -> None:
            done[0] += 1
            if sys.stderr is not None and (done[0] % every == 0 or done[0] in (1, total)):
                sys.stderr.write(f"{label} {name} ({done[0]}/{total})\n")
                sys.stderr.flush()

        return contextlib.nullcontext(), line
    # rich's default columns, the description read as plain text: model names are the user's ([/], :smile:)
    bar = Progress(TextColumn("{task.description}", style="progress.description", markup=False), BarColumn(),
                   TaskProgressColumn(), TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(label, total=total)

    def advance(name: str) -> None:
        bar.update(task, advance=1, description=f"{label} {name}")

    return bar, advance


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
