"""Pareto fronts of accuracy against predicted latency, per ridge point and over a whole sweep.

A model is Pareto-optimal at a ridge point when no other model is at least as
fast and at least as accurate, and strictly better in one of the two. Two
models with the same latency and accuracy do not dominate each other: both
stay on the front.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.errors import InvalidInputError, RooflineError


def pareto_mask(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """True for each point that no other point dominates (lower latency is better, higher accuracy).
    A point with a NaN latency or accuracy is never on the front (and dominates nothing)."""
    lat = np.asarray(latency, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    no_worse = (lat[None, :] <= lat[:, None]) & (acc[None, :] >= acc[:, None])
    better = (lat[None, :] < lat[:, None]) | (acc[None, :] > acc[:, None])
    dominated = (no_worse & better).any(axis=1)
    return ~dominated & np.isfinite(lat) & np.isfinite(acc)


_NEEDED = ("model", "rp_macs_per_byte", "latency_s", "top1")


def _check_frame(df: object, what: str, needed: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"{what} takes a DataFrame from roofline.studies.sweep.sweep, got {type(df).__name__}")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InvalidInputError(f"{what}: the table has no column {missing[0]!r} (give the result of "
                                f"roofline.studies.sweep.sweep{'' if what == 'pareto' else ' through pareto'})")
    if df.empty:
        raise InvalidInputError(f"{what}: the table has no rows")
    return df


def pareto(sweep_df: pd.DataFrame) -> pd.DataFrame:
    """The sweep with ``pareto_optimal`` per RP and ``slowdown_vs_front``.

    ``slowdown_vs_front``: the model's latency over the latency of the fastest
    model at equal or better accuracy (1.0 on the front or tied with it).
    """
    df = _check_frame(sweep_df, "pareto", _NEEDED).copy()
    if df["top1"].isna().any():
        missing = sorted(df.loc[df["top1"].isna(), "model"].unique())
        raise RooflineError(f"no accuracy for {', '.join(missing)}: give a CSV of model,top1")
    r_code, rps = pd.factorize(df["rp_macs_per_byte"], sort=False)
    m_code, names = pd.factorize(df["model"], sort=False)
    if pd.Series(list(zip(r_code, m_code))).duplicated().any():
        raise InvalidInputError("pareto: a model appears twice at one ridge point; give one row per model and RP")
    # every ridge point at once, as (RP, model) matrices, in steps that bound memory (RP x models^2)
    lat = np.full((len(rps), len(names)), np.nan)
    acc = np.full((len(rps), len(names)), np.nan)
    lat[r_code, m_code] = df["latency_s"].to_numpy(np.float64)
    acc[r_code, m_code] = df["top1"].to_numpy(np.float64)
    opt = np.zeros_like(lat, dtype=bool)
    best = np.full_like(lat, np.inf)
    step = max(1, 4_000_000 // max(len(names) ** 2, 1))
    for s in range(0, len(rps), step):
        L, A = lat[s:s + step], acc[s:s + step]
        with np.errstate(invalid="ignore"):
            no_worse = (L[:, None, :] <= L[:, :, None]) & (A[:, None, :] >= A[:, :, None])
            better = (L[:, None, :] < L[:, :, None]) | (A[:, None, :] > A[:, :, None])
            opt[s:s + step] = ~(no_worse & better).any(axis=2) & np.isfinite(L) & np.isfinite(A)
            # the fastest model at equal or better accuracy
            best[s:s + step] = np.where(A[:, None, :] >= A[:, :, None], L[:, None, :], np.inf).min(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        slow = lat / best
    df["pareto_optimal"] = opt[r_code, m_code]
    df["slowdown_vs_front"] = slow[r_code, m_code]
    return df


def front_ranges(pareto_df: pd.DataFrame) -> pd.DataFrame:
    """Per model, the RP intervals (of the swept values) where it is on the front.

    ``universal`` is True for a model on the front at every swept RP.
    """
    _check_frame(pareto_df, "front_ranges", (*_NEEDED, "pareto_optimal"))
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
    from ..trace.graph_file import is_graph_file
    from ..trace.user_model import is_model_spec
    from ..zoo import model_name, resolve

    try:  # plain text whatever the suffix (pandas would guess a compression from the name)
        df = pd.read_csv(path, compression=None)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
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
        # a model file (mynet.py:factory) or a graph file is named as given: the table names it, never reads it
        given = str(m).strip()
        name = given if is_model_spec(str(m)) or is_graph_file(given) else model_name(*resolve(str(m)))
        if not 0.0 <= float(a) <= 100.0:
            raise RooflineError(f"accuracy CSV {path}: row {i + 2}: top1 {float(a):g} is not a percentage "
                                f"from 0 to 100")
        if name in out:
            raise RooflineError(f"accuracy CSV {path}: rows {rows[name] + 2} and {i + 2} both give {name} "
                                f"(after resolving aliases)")
        out[name], rows[name] = float(a), i
    return out
