"""``roofline report``: one model on one or more profiles as a single self-contained HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core import checks
from ..engine import Analysis, analyze
from .html import report_page
from ..core.io import check_writable, write_atomic
from .plots import plot_devices, plot_layer_latency, plot_roofline


def html_report(model: Any, hws: Sequence[Any], **options: Any) -> tuple[str, list[Analysis]]:
    """The report page for ``model`` on each profile in ``hws`` (``options`` as for ``analyze``)."""
    hws = checks.names(hws, "hardware profiles")
    analyses = [analyze(model, hw, **options) for hw in hws]
    figures = {}
    if len(analyses) > 1:  # the summary first: the model on every profile, validated apart from spec-only
        figures["Predicted latency across profiles"] = plot_devices(analyses).to_svg()
    figures |= {f"Roofline chart on {a.hardware.name}": plot_roofline(a).to_svg() for a in analyses}
    figures["Per-layer predicted latency"] = plot_layer_latency(
        analyses, titles=[f"{a.hardware.name} ({a.dtype}, {a.roof.mode})" for a in analyses],
        suptitle=f"{analyses[0].model}: per-layer predicted latency").to_svg()
    return report_page(analyses, figures), analyses


def write_html_report(model: Any, hws: Sequence[Any], path: str | Path, **options: Any) -> Path:
    check_writable(path)
    page, _ = html_report(model, hws, **options)
    return write_atomic(path, page)
