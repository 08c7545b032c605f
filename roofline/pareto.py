"""Pareto fronts of accuracy against predicted latency, per ridge point and over a whole sweep.

A model is Pareto-optimal at a ridge point when no other model is at least as
fast and at least as accurate, and strictly better in one of the two. Two
models with the same latency and accuracy do not dominate each other: both
stay on the front.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import RooflineError


def pareto_mask(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """True for each point that no other point dominates (lower latency is better, higher accuracy)."""
    lat = np.asarray(latency, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    no_worse = (lat[None, :] <= lat[:, None]) & (acc[None, :] >= acc[:, None])
    better = (lat[None, :] < lat[:, None]) | (acc[None, :] > acc[:, None])
    dominated = (no_worse & better).any(axis=1)
    return ~dominated


def pareto(sweep_df: pd.DataFrame) -> pd.DataFrame:
    """The sweep with ``pareto_optimal`` per RP and ``slowdown_vs_front``.

    ``slowdown_vs_front``: the model's latency over the latency of the fastest
    model at equal or better accuracy (1.0 on the front or tied with it).
    """
    df = sweep_df.copy()
    if df["top1"].isna().any():
        missing = sorted(df.loc[df["top1"].isna(), "model"].unique())
        raise RooflineError(f"no accuracy for {', '.join(missing)}: give a CSV of model,top1")
    opt = np.zeros(len(df), dtype=bool)
    slow = np.zeros(len(df))
    for _, idx in df.groupby("rp_macs_per_byte", sort=False).indices.items():
        lat = df["latency_s"].to_numpy()[idx]
        acc = df["top1"].to_numpy()[idx]
        opt[idx] = pareto_mask(lat, acc)
        best = np.array([lat[acc >= a].min() for a in acc])
        slow[idx] = lat / best
    df["pareto_optimal"] = opt
    df["slowdown_vs_front"] = slow
    return df


def front_ranges(pareto_df: pd.DataFrame) -> pd.DataFrame:
    """Per model, the RP intervals (of the swept values) where it is on the front.

    ``universal`` is True for a model on the front at every swept RP.
    """
    rows = []
    for model, g in pareto_df.groupby("model", sort=False):
        g = g.sort_values("rp_macs_per_byte")
        rps, on = g["rp_macs_per_byte"].to_numpy(), g["pareto_optimal"].to_numpy()
        ranges, start = [], None
        for i, (r, o) in enumerate(zip(rps, on)):
            if o and start is None:
                start = r
            if start is not None and (not o or i == len(rps) - 1):
                end = r if o else rps[i - 1]
                ranges.append((float(start), float(end)))
                start = None
        rows.append({"model": model, "top1": float(g["top1"].iloc[0]),
                     "on_front_share": float(on.mean()), "universal": bool(on.all()),
                     "rp_ranges": "; ".join(f"{a:g}-{b:g}" if a != b else f"{a:g}" for a, b in ranges)
                     or "never"})
    return pd.DataFrame(rows)


def read_accuracy_csv(path: str) -> dict[str, float]:
    """A user CSV with columns ``model`` and ``top1`` (percent)."""
    from .zoo import model_name, resolve

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise RooflineError(f"cannot read accuracy CSV {path}: {e}") from None
    for col in ("model", "top1"):
        if col not in df.columns:
            raise RooflineError(f"accuracy CSV {path} has no column {col!r} (columns: {', '.join(df.columns)})")
    acc = pd.to_numeric(df["top1"], errors="coerce")
    if acc.isna().any():
        bad = df.loc[acc.isna(), "top1"].iloc[0]
        raise RooflineError(f"accuracy CSV {path}: top1 must be numeric, got {str(bad)!r}")
    out: dict[str, float] = {}
    rows: dict[str, int] = {}
    for i, (m, a) in enumerate(zip(df["model"], acc)):
        name = model_name(*resolve(str(m)))
        if not 0.0 <= float(a) <= 100.0:
            raise RooflineError(f"accuracy CSV {path}: row {i + 2}: top1 {float(a):g} is not a percentage "
                                f"from 0 to 100")
        if name in out:
            raise RooflineError(f"accuracy CSV {path}: rows {rows[name] + 2} and {i + 2} both give {name} "
                                f"(after resolving aliases)")
        out[name], rows[name] = float(a), i
    return out
