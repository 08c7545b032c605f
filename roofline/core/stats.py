"""Rank correlation without scipy (pandas' ``corr(method="spearman")`` imports scipy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def spearman(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series) -> float:
    """Spearman's rank correlation: Pearson correlation of the ranks (ties get their average rank)."""
    ra = pd.Series(np.asarray(a, dtype=np.float64)).rank()
    rb = pd.Series(np.asarray(b, dtype=np.float64)).rank()
    return float(ra.corr(rb))
