"""Fit a roofline (ridge point and bandwidth) to measured latencies.

Objective: least squares on log latency. For a ridge point RP and bandwidth B,
model i's predicted latency is ``S_i(RP) / B`` with
``S_i(RP) = sum_j max(macs_ij / RP, bytes_ij)``; so for each RP the best
``log B`` is the mean of ``log S_i - log t_i`` in closed form, and RP is found
by a dense search over a log-spaced grid (then refined). Peak = RP x B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .conventions import Convention, get_convention
from .engine import layer_costs
from .errors import RooflineError
from .stats import spearman
from .trace import LayerTable


@dataclass(frozen=True)
class FitResult:
    """A fitted roofline and how well it and plain MAC count predict the measurements."""

    ridge_point_macs_per_byte: float
    mem_bw_bytes_per_s: float
    peak_macs_per_s: float
    n_models: int
    spearman_roofline: float
    spearman_macs: float
    median_rel_error: float
    worst_rel_error: float
    macs_median_rel_error: float
    macs_worst_rel_error: float
    predictions: pd.DataFrame
    rp_is_lower_bound: bool = False  # the fit is flat above this RP: every layer is memory-bound there


def model_costs(tables: list[LayerTable], convention: Convention | str, dtype: str
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per model, the arrays (MACs, bytes) of the layers the convention counts."""
    conv = get_convention(convention)
    return [layer_costs(t, conv, dtype) for t in tables]


def latency_sums(costs, rps: np.ndarray) -> np.ndarray:
    """S[r, i] = sum_j max(macs_ij / rp_r, bytes_ij)."""
    return np.stack([np.maximum(m[None, :] / rps[:, None], b[None, :]).sum(axis=1) for m, b in costs],
                    axis=1)


def calibrate_bandwidth(costs, measured_s: np.ndarray, rp: float) -> float:
    """The bandwidth that best fits ``measured_s`` (least squares on log latency) at a fixed RP."""
    s = latency_sums(costs, np.array([rp]))[0]
    return float(np.exp(np.mean(np.log(s) - np.log(measured_s))))


def _rel_errors(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(pred / meas - 1.0)


def fit_roofline(costs, measured_s: np.ndarray, names: list[str] | None = None,
                 rp_range: tuple[float, float] = (0.1, 5000.0), points: int = 4001) -> FitResult:
    """Fit RP and bandwidth to measured latencies (seconds); see the module docstring."""
    measured_s = np.asarray(measured_s, dtype=np.float64)
    if len(costs) != len(measured_s):
        raise RooflineError("need one measured latency per model")
    if len(measured_s) < 3:
        raise RooflineError(f"fitting a ridge point and a bandwidth needs at least 3 models, got "
                            f"{len(measured_s)}")
    if not np.all(np.isfinite(measured_s)) or np.any(measured_s <= 0):
        raise RooflineError("measured latencies must be positive numbers")
    log_t = np.log(measured_s)

    def sse(rps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_s = np.log(latency_sums(costs, rps))
        log_b = np.mean(log_s - log_t[None, :], axis=1)
        resid = log_s - log_b[:, None] - log_t[None, :]
        return np.sum(resid ** 2, axis=1), log_b

    grid = np.geomspace(*rp_range, points)
    err, _ = sse(grid)
    k = int(np.argmin(err))
    fine = np.geomspace(grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)], 201)
    err_f, log_b_f = sse(fine)
    j = int(np.argmin(err_f))
    rp, bw = float(fine[j]), float(np.exp(log_b_f[j]))
    flat = bool(sse(np.array([rp * 2.0]))[0][0] <= err_f[j] * (1 + 1e-9) + 1e-15)
    pred = latency_sums(costs, np.array([rp]))[0] / bw
    macs = np.array([m.sum() for m, _ in costs])
    macs_scale = np.exp(np.mean(log_t - np.log(macs)))  # best MACs-only fit: t = macs * scale
    macs_pred = macs * macs_scale
    df = pd.DataFrame({"model": names or [f"model{i}" for i in range(len(costs))],
                       "measured_s": measured_s, "predicted_s": pred, "ratio": pred / measured_s,
                       "macs": macs, "macs_predicted_s": macs_pred})
    rel, mrel = _rel_errors(pred, measured_s), _rel_errors(macs_pred, measured_s)
    return FitResult(rp, bw, rp * bw, len(costs),
                     spearman(df["measured_s"], df["predicted_s"]),
                     spearman(df["measured_s"], df["macs"]),
                     float(np.median(rel)), float(rel.max()), float(np.median(mrel)), float(mrel.max()),
                     df, flat)
