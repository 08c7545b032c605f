"""Shared by the held-out checks (check_rtx3090_holdout.py, check_gpu_derive.py): measurement rows predicted
one at a time through ``roofline.analyze(model, profile, resolution=, batch=)`` and scored."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

import roofline
from roofline.core.errors import RooflineError
from roofline.core.stats import spearman


@dataclass(frozen=True)
class Heldout:
    """Predictions of measured rows: a frame with ``measured_s``, ``predicted_s``, ``low_s``, ``high_s`` (the
    profile's 80 % band) and ``macs`` per row predicted, and the rows no trace could read (``skipped``)."""

    rows: pd.DataFrame
    skipped: list[str]

    @property
    def errors(self) -> np.ndarray:
        """|predicted / measured - 1| per row."""
        return np.abs(self.rows["predicted_s"].to_numpy() / self.rows["measured_s"].to_numpy() - 1)

    @property
    def coverage(self) -> float:
        """Share of measurements inside the band."""
        r = self.rows
        return float(np.mean((r["measured_s"] >= r["low_s"]) & (r["measured_s"] <= r["high_s"])))

    @property
    def rank_correlations(self) -> tuple[float, float]:
        """Spearman of measured against predicted, and against MAC count on the same rows."""
        r = self.rows
        return spearman(r["measured_s"], r["predicted_s"]), spearman(r["measured_s"], r["macs"])


def predict_rows(table: pd.DataFrame, profile) -> Heldout:
    """Each row of ``table`` (``model``, ``resolution``, ``batch``, ``latency_s``) predicted with ``profile``."""
    out, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in table.itertuples():
            try:
                a = roofline.analyze(r.model, profile, resolution=int(r.resolution), batch=int(r.batch))
            except RooflineError as e:
                skipped.append(f"{r.model} ({str(e).splitlines()[0][:80]})")
                continue
            lo, hi = a.latency_band_s
            out.append({"measured_s": r.latency_s, "predicted_s": a.total_latency_s, "low_s": lo, "high_s": hi,
                        "macs": a.table.macs})
    return Heldout(pd.DataFrame(out, columns=["measured_s", "predicted_s", "low_s", "high_s", "macs"]), skipped)
