"""LayerTable: the per-layer result of a trace, a pandas DataFrame with units in its column names."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

COLUMNS = ("name", "op", "in_shape", "out_shape", "kernel", "stride", "groups", "macs", "params",
           "weight_elems", "in_elems", "out_elems", "fused", "memory_only", "aten")
COUNT_COLUMNS = ("macs", "params", "weight_elems", "in_elems", "out_elems")


def exact_sum(column: pd.Series) -> int:
    """The sum of an integer column as a Python int (int64 sums wrap around at 9.2e18)."""
    return sum(int(v) for v in column.tolist())


@dataclass(frozen=True)
class LayerTable:
    """Per-layer counts of one traced model.

    ``layers`` has one row per layer (``fuse=True``) or per aten op; counts are
    in elements, never bytes: bytes depend on the target dtype and are computed
    by the engine. Totals are derived from the rows.
    """

    model: str
    input_shape: tuple[int, ...]
    fuse: bool
    layers: pd.DataFrame
    model_params: int  # parameter count of the model (all parameters, used or not)
    unsupported: dict[str, int] = field(default_factory=dict)  # aten op -> calls without a rule
    other_inputs: tuple[tuple[int, ...], ...] = ()  # shapes of the inputs after the first (``input_shape``)
    # MACs of weight-only subgraphs, folded into constants as an engine does: not in any row, and
    # reported here so totals reconcile with counters that count them (FlopCounterMode, fvcore)
    folded_macs: int = 0

    @property
    def totals(self) -> pd.Series:
        """Column sums of the count columns (MACs, params, elements), as exact Python integers."""
        return pd.Series({c: exact_sum(self.layers[c]) for c in COUNT_COLUMNS}, dtype=object)

    @property
    def macs(self) -> int:
        return exact_sum(self.layers["macs"])

    @property
    def params(self) -> int:
        return exact_sum(self.layers["params"])

    def by_module(self, depth: int = 1) -> pd.DataFrame:
        """Counts rolled up per module, ``depth`` levels deep (``stage2.uib_0`` is depth 2), like
        fvcore's ``flop_count_table``: rows, MACs and their share, params, elements (exact integers)."""
        from ..core import checks

        depth = checks.integer(depth, "depth", 1, 64)
        names = self.layers["name"].str.split("#").str[0]
        module = names.map(lambda n: n if n.startswith("(") else ".".join(n.split(".")[:depth]))
        total = self.macs or 1
        rows = []
        for m, g in self.layers.groupby(module, sort=False):
            r = {"module": m, "layers": len(g), **{c: exact_sum(g[c]) for c in COUNT_COLUMNS}}
            r["macs_share"] = r["macs"] / total
            rows.append(r)
        cols = ["module", "layers", "macs", "macs_share", "params", "weight_elems", "in_elems", "out_elems"]
        return pd.DataFrame(rows, columns=cols)

    def __len__(self) -> int:
        return len(self.layers)

    def _header(self) -> str:
        t = self.totals
        shape = "x".join(map(str, self.input_shape))
        lines = [f"LayerTable: {self.model} @ {shape} input, {len(self)} "
                 f"{'layers (fused)' if self.fuse else 'aten ops (unfused)'}",
                 f"  MACs {int(t['macs']):,}, params {int(t['params']):,}, weight elements "
                 f"{int(t['weight_elems']):,}, activation elements in {int(t['in_elems']):,} / "
                 f"out {int(t['out_elems']):,}"]
        if self.folded_macs:
            lines.append(f"  folded weight-only subgraphs: {self.folded_macs:,} MACs (not in the rows)")
        if self.unsupported:
            ops = ", ".join(f"{k} x{v}" for k, v in self.unsupported.items())
            lines.append(f"  WARNING: ops without a counting rule (counted as 0 MACs): {ops}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        cols = ["name", "op", "out_shape", "macs", "params", "in_elems", "out_elems", "fused"]
        with pd.option_context("display.max_rows", 20, "display.width", 140):
            return f"{self._header()}\n{self.layers[cols]!r}"

    def _repr_html_(self) -> str:
        from ..present.html import layer_table_html

        return layer_table_html(self)
