"""The figures' frame: one style, a Figure that shows itself in a notebook (PNG or SVG, stored once),
atomic saving, and log axes labelled however small their span."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

from ..core import checks
from ..core.errors import RooflineError
from ..core.io import check_writable, write_atomic

FORMATS = ("png", "svg", "pdf")
STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
    "svg.fonttype": "none", "pdf.fonttype": 42,  # text stays text in vector formats
}


_NOTEBOOK = {"format": "png"}


def notebook_format(fmt: str = "png") -> None:
    """How figures show in a notebook: ``png`` (default) or ``svg``. One format only, so that an
    executed notebook stores each figure once."""
    if fmt not in ("png", "svg"):
        raise RooflineError(f"notebook figures are png or svg, got {fmt!r}")
    _NOTEBOOK["format"] = fmt


class RooflineFigure(Figure):
    """A matplotlib Figure that shows itself in a notebook, with no ``%matplotlib`` magic."""

    def _render(self, fmt: str) -> bytes:
        buf = io.BytesIO()
        with rc_context(STYLE):
            self.savefig(buf, format=fmt, dpi=110 if fmt == "png" else None, bbox_inches="tight")
        return buf.getvalue()

    def _repr_png_(self) -> bytes | None:
        return self._render("png") if _NOTEBOOK["format"] == "png" else None

    def _repr_svg_(self) -> str | None:
        return self.to_svg() if _NOTEBOOK["format"] == "svg" else None

    def to_png(self) -> bytes:
        return self._render("png")

    def to_svg(self) -> str:
        """The figure as an inline SVG document (for HTML reports)."""
        return self._render("svg").decode("utf-8")


@contextlib.contextmanager
def figure(figsize: tuple[float, float]) -> Iterator[RooflineFigure]:
    """A new figure of ``figsize`` inches in the package's style (constrained layout, Agg canvas)."""
    with rc_context(STYLE):
        fig = RooflineFigure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` atomically; the format comes from the suffix (png, svg or pdf)."""
    path = checks.file_path(path, "figure path")
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise RooflineError(f"cannot save a figure as {path}: use a .png, .svg or .pdf file name")
    check_writable(path)
    buf = io.BytesIO()
    with rc_context(STYLE):
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
    return write_atomic(path, buf.getvalue())


def _plain(v: float, _pos: Any = None) -> str:
    return f"{v:g}"


def label_log_axis(axis: Any) -> None:
    """Tick labels on a log axis however small its span: minor ticks (1, 2, 3, 5 per decade) are
    labelled too when the axis holds fewer than two powers of ten (matplotlib then labels one tick or
    none), and a span too short for those gets plain ticks (0.9, 1, 1.1)."""
    lo, hi = sorted(axis.get_view_interval())
    axis.set_major_formatter(FuncFormatter(_plain))
    decades = [e for e in range(-30, 31) if lo <= 10.0 ** e <= hi] if lo > 0 else []
    if lo > 0 and len(decades) < 2:
        subs = (1.0, 2.0, 3.0, 5.0)
        found = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
                 for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(found) >= 3:
            axis.set_minor_locator(LogLocator(base=10, subs=subs))
        else:  # a span of a few tens of per cent: plain ticks (0.8, 0.9, 1, 1.1, ...), all labelled
            axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
            axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(FuncFormatter(_plain))
    else:
        axis.set_minor_formatter(NullFormatter())
