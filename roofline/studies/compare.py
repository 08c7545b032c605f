"""Predicted against measured latency for the devices of the MobileNetV4 paper's Table 6."""

from __future__ import annotations

import pandas as pd

from ..engine import analyze
from ..hardware import load_hardware
from .measured import SOURCE, measured_for


def compare_measured(hw: str, convention: str | None = None, mode: str = "auto", execution: str | None = None,
                     overhead: bool | None = None) -> pd.DataFrame:
    """One row per zoo model measured on ``hw``: measured and predicted ms and their ratio."""
    profile = load_hardware(hw)
    measured = measured_for(profile.name)
    rows = []
    for model, ms in zip(measured["model"], measured["latency_ms"]):
        a = analyze(model, profile, convention=convention, mode=mode, execution=execution, overhead=overhead)
        pred = a.total_latency_s * 1e3
        rows.append({"model": model, "measured_ms": float(ms), "predicted_ms": pred,
                     "ratio_predicted_to_measured": pred / float(ms), "roofline": a.roof.mode,
                     "macs": a.totals["macs"]})
    df = pd.DataFrame(rows, columns=["model", "measured_ms", "predicted_ms", "ratio_predicted_to_measured",
                                     "roofline", "macs"])
    df.attrs["source"] = SOURCE
    return df
