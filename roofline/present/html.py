"""HTML views: notebook reprs with human units, and the self-contained ``roofline report`` page.

Everything here only reads the engine's results; nothing is fetched from a network:
styles and the table-sorting script are inline, figures are inline SVG.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..core import units

BOUND_COLOURS = {"memory": "#c0392b", "compute": "#1f5fa8"}
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table.rl { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
table.rl th, table.rl td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; }
table.rl th { background: #f4f4f4; position: sticky; top: 0; cursor: pointer; user-select: none; }
table.rl td.l, table.rl th.l { text-align: left; }
table.rl td.n { white-space: nowrap; }
table.rl th.sorted-asc::after { content: " ▲"; } table.rl th.sorted-desc::after { content: " ▼"; }
.memory { color: #c0392b; font-weight: 600; } .compute { color: #1f5fa8; font-weight: 600; }
pre.assumptions { background: #f8f8f8; padding: 0.8em; white-space: pre-wrap; font-size: 0.85em; }
.figure svg { max-width: 100%; height: auto; } .scroll { max-height: 600px; overflow: auto; }
.rl-head { font-size: 0.9em; color: #333; }
"""


def _scoped(css: str, scope: str) -> str:
    """``css`` for an element inside a page we do not own (a notebook): page rules (body, headings)
    dropped, every other selector limited to ``scope``."""
    out = []
    for rule in css.split("}"):
        if "{" not in rule:
            continue
        selectors, decl = rule.split("{", 1)
        sels = [x.strip() for x in selectors.split(",") if x.strip()]
        sels = [x for x in sels if x.split()[0] not in ("body", "html", "h1", "h2")]
        if sels:
            out.append(", ".join(f"{scope} {x}" for x in sels) + " {" + decl.strip() + "}")
    return "\n".join(out)


NOTEBOOK_CSS = _scoped(CSS, ".rl-repr")


def _notebook(inner: str) -> str:
    """A notebook repr: its own element, styled only inside it."""
    return f'<div class="rl-repr"><style>{NOTEBOOK_CSS}</style>{inner}</div>'


SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

# column -> (header, formatter) for per-layer tables
_LAYER_COLUMNS = {
    "name": ("layer", str), "op": ("op", str), "macs": ("MACs", units.count),
    "weight_bytes": ("weights", units.size), "activation_bytes": ("activations", units.size),
    "intensity_macs_per_byte": ("intensity (MAC/B)", lambda v: f"{v:.3g}"),
    "mac_time_s": ("MAC time", units.seconds), "mem_time_s": ("memory time", units.seconds),
    "kernels": ("kernels", str), "overhead_s": ("overhead", units.seconds),
    "latency_s": ("latency", units.seconds), "bound": ("bound", str),
    "params": ("params", units.count), "weight_elems": ("weight elements", units.count),
    "in_elems": ("input elements", units.count), "out_elems": ("output elements", units.count),
    "out_shape": ("output shape", str), "fused": ("fused", str),
}


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


_NUMBER_TEXT = re.compile(r"[-+−]?(\d|\.\d)")  # a number with its unit ("23.9 M", "2.3–3.5 ms", "-4 %")


def _numeric(text: str, kind: str) -> bool:
    """A cell that holds a number (numeric column, or a short text that starts with one): kept on one line."""
    return kind in "iuf" or (len(text) <= 24 and _NUMBER_TEXT.match(text) is not None)


def table(df: pd.DataFrame, columns: dict[str, tuple[str, Any]] | None = None, sortable: bool = False,
          max_rows: int | None = None) -> str:
    """A DataFrame as an HTML table with human units; sortable tables sort on the raw values."""
    columns = columns or {c: (c, _auto) for c in df.columns}
    cols = [c for c in columns if c in df.columns]
    rows = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    head = "".join(f'<th class="{"l" if df[c].dtype.kind not in "iuf" else ""}">{esc(columns[c][0])}</th>'
                   for c in cols)
    body = []
    for r in rows[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, r):
            text = columns[c][1](v) if v == v else ""
            cls = ["l"] if df[c].dtype.kind not in "iuf" else []
            if _numeric(text, df[c].dtype.kind):
                cls.append("n")
            if c == "bound":
                cls.append(str(v))
            cells.append(f'<td class="{" ".join(cls)}" data-v="{esc(v)}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="rl-head">{len(df) - len(rows)} more rows not shown.</p>'
            if len(rows) < len(df) else "")
    return (f'<table class="rl{" sortable" if sortable else ""}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>{more}')


def _auto(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def layer_columns(df: pd.DataFrame) -> dict[str, tuple[str, Any]]:
    return {c: _LAYER_COLUMNS[c] for c in _LAYER_COLUMNS if c in df.columns}


def analysis_html(a: Any, max_rows: int = 60) -> str:
    """The notebook view of an Analysis: headline, assumptions, totals, per-layer table."""
    t = a.totals
    head = (f'<p><b>{esc(a.model)} on {esc(a.hardware.name)}: {esc(a.latency_text())} predicted</b> '
            f'(profile {esc(a.hardware.status)}) '
            f'({esc(a.breakdown())}); '
            f'{units.count(t["macs"])} MACs, {units.count(t["params"])} params, weights '
            f'{units.size(t["weight_bytes"])}, activations {units.size(t["activation_bytes"])}</p>')
    assumptions = f'<pre class="assumptions">{esc(a.assumptions())}</pre>'
    return _notebook(head + assumptions + table(a.layers, layer_columns(a.layers), max_rows=max_rows))


def layer_table_html(t: Any, max_rows: int = 60) -> str:
    """The notebook view of a LayerTable: totals and the rows, counts in k/M/G."""
    tot = t.totals
    head = (f'<p><b>{esc(t.model)}</b> @ {"x".join(map(str, t.input_shape))}: {len(t)} '
            f'{"layers (fused)" if t.fuse else "aten ops (unfused)"}; {units.count(tot["macs"])} MACs, '
            f'{units.count(tot["params"])} params, {units.count(tot["weight_elems"])} weight elements, '
            f'{units.count(tot["in_elems"])} / {units.count(tot["out_elems"])} activation elements in / out '
            f'(elements: bytes depend on the dtype)</p>')
    warn = (f'<p style="color:#c0392b">ops without a counting rule (0 MACs): '
            f'{esc(", ".join(f"{k} x{v}" for k, v in t.unsupported.items()))}</p>' if t.unsupported else "")
    return _notebook(head + warn + table(t.layers, layer_columns(t.layers), max_rows=max_rows))


def model_card_html(card: Any) -> str:
    """The notebook view of a ModelCard: what the zoo knows, field by field."""
    rows = "".join(f'<tr><th class="l">{esc(k)}</th><td class="l">{esc(v)}</td></tr>' for k, v in card.rows())
    return _notebook(f'<p><b>{esc(card.name)}</b></p><table class="rl">{rows}</table>')


_SWEEP_COLUMNS = {
    "model": ("model", str), "rp_macs_per_byte": ("RP (MAC/B)", lambda v: f"{v:g}"),
    "latency_s": ("latency", units.seconds), "overhead_s": ("overheads", units.seconds),
    "mem_time_share": ("memory-bound share", units.share), "memory_bound_layers": ("memory-bound layers", str),
    "layers": ("layers", str), "macs": ("MACs", units.count), "top1": ("top-1 (%)", lambda v: f"{v:.1f}"),
    "pareto_optimal": ("Pareto-optimal", lambda v: "yes" if v else ""),
    "slowdown_vs_front": ("vs front", lambda v: f"{v:.2f}x"),
}


def sweep_html(df: pd.DataFrame, max_rows: int = 60) -> str:
    setup = df.attrs.get("setup")
    head = f'<p class="rl-head"><b>RP sweep</b>: {esc(setup.describe())}</p>' if setup else ""
    return _notebook(head + table(df, {c: v for c, v in _SWEEP_COLUMNS.items()}, max_rows=max_rows))


def report_page(analyses: Sequence[Any], figures: dict[str, str]) -> str:
    """One self-contained HTML page: assumptions, totals per profile side by side, inline SVG figures,
    and a sortable per-layer table per profile with each layer's bound."""
    first = analyses[0]
    title = f"{first.model}: roofline latency on {', '.join(a.hardware.name for a in analyses)}"
    totals = pd.DataFrame([{
        "hardware": a.hardware.name, "dtype": a.dtype, "roofline": a.roof.mode, "convention": a.convention.name,
        "execution": a.latency.execution,
        "latency": units.seconds(a.estimate.seconds if a.estimate else a.total_latency_s),
        "80 % band": (units.seconds_range(a.estimate.low_s, a.estimate.high_s) if a.estimate else "none"),
        "from": (str(a.estimate.basis) if a.estimate else "this reading, no band"),
        "Eq. 1 lower bound": (units.seconds(a.total_latency_s) if a.band is None and a.is_lower_bound else ""),
        "trust": f"{a.hardware.status}" + (f" ({a.estimate.label})" if a.estimate else ""),
        "Eq. 1": units.seconds(a.roofline_latency_s), "overheads": units.seconds(a.overhead_s),
        "MACs": units.count(a.totals["macs"]), "weights": units.size(a.totals["weight_bytes"]),
        "activations": units.size(a.totals["activation_bytes"]),
        "memory-bound layers": f'{int((a.layers["bound"] == "memory").sum())} of {len(a.layers)}',
        "memory-bound share of Eq. 1": units.share(float(a.summary()["memory_bound_time_share"])),
    } for a in analyses])
    parts = [f"<h1>{esc(title)}</h1>",
             '<p class="rl-head">Generated by <code>roofline report</code>; every number is predicted by the '
             "latency model under the assumptions below.</p>",
             "<h2>Totals per profile</h2>", table(totals),
             "<h2>Assumptions</h2>"]
    for a in analyses:
        parts.append(f'<pre class="assumptions">{esc(a.assumptions())}</pre>')
    for name, svg in figures.items():
        parts.append(f'<h2>{esc(name)}</h2><div class="figure">{svg}</div>')
    for a in analyses:
        n_mem = int((a.layers["bound"] == "memory").sum())
        parts.append(f"<h2>Per layer on {esc(a.hardware.name)}</h2>"
                     f'<p class="rl-head">{n_mem} of {len(a.layers)} layers are memory-bound '
                     f'(<span class="memory">memory</span>), {len(a.layers) - n_mem} compute-bound '
                     f'(<span class="compute">compute</span>). Click a column header to sort.</p>'
                     f'<div class="scroll">{table(a.layers, layer_columns(a.layers), sortable=True)}</div>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + f"<script>{SORT_JS}</script></body></html>\n")
