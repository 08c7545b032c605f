"""Search helpers over a space's candidates (not a trainer): Pareto fronts over latency on several
devices, the ridge-point sweep of a space (which candidates stay on the front from RP 0 to 500), and a
latency-constrained sampler. Accuracy proxies: ``macs`` or ``params`` (more is better, as a search
assumes of capacity), or a column the user adds (measured or predicted top-1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core import checks
from ..core.errors import InvalidInputError
from .pareto import front_ranges, pareto
from .space_cost import latency as space_latency
from .space_cost import ridge_sweep

MAX_SWEEP_CANDIDATES = 2_000


def front(frame: pd.DataFrame, latency: Sequence[str] | str, accuracy: str = "macs") -> pd.Series:
    """True for each candidate no other candidate dominates: at least as fast on every ``latency``
    column and at least as accurate (``accuracy`` column, higher is better), strictly better in one.
    NaN rows are never on the front."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"front takes the frame of space.latency, got {type(frame).__name__}")
    cols = [latency] if isinstance(latency, str) else list(latency)
    for c in (*cols, accuracy):
        if c not in frame.columns:
            raise InvalidInputError(f"front: the frame has no column {c!r} (columns: {', '.join(map(str, frame.columns))})")
    lat = frame[cols].to_numpy(np.float64)
    acc = frame[accuracy].to_numpy(np.float64)
    ok = np.isfinite(lat).all(axis=1) & np.isfinite(acc)
    dominated = np.zeros(len(frame), dtype=bool)
    step = max(1, 20_000_000 // max(len(frame) * len(cols), 1))
    for s in range(0, len(frame), step):
        L, A = lat[s:s + step], acc[s:s + step]
        no_worse = (lat[None, :, :] <= L[:, None, :]).all(axis=2) & (acc[None, :] >= A[:, None]) & ok[None, :]
        better = (lat[None, :, :] < L[:, None, :]).any(axis=2) | (acc[None, :] > A[:, None])
        dominated[s:s + step] = (no_worse & better).any(axis=1)
    return pd.Series(~dominated & ok, index=frame.index, name="pareto_optimal")


def sweep_front(sp: SearchSpace, candidates: pd.DataFrame, hw: Any, rps: Any = "0:500:5",
                accuracy: Any = "macs", vary: str = "peak") -> pd.DataFrame:
    """The ridge-point sweep of a set of candidates on ``hw``'s roofline (peak varied to each ridge
    point, its fitted terms kept): per candidate the RP ranges where it is on the accuracy-latency
    front and whether it is on it at every RP (``universal``; :func:`roofline.studies.pareto.front_ranges`).
    ``accuracy``: ``macs``, ``params`` or one value per candidate."""
    from .sweep import parse_rps

    cands = sp.check(candidates)
    if len(cands) > MAX_SWEEP_CANDIDATES:
        raise InvalidInputError(f"sweep_front compares every pair of candidates at every ridge point: give at "
                                f"most {MAX_SWEEP_CANDIDATES:,} (got {len(cands):,}); take the front first")
    rp = parse_rps(rps)
    seconds = ridge_sweep(sp, cands, rp, hw, vary=vary)
    if isinstance(accuracy, str):
        if accuracy not in ("macs", "params"):
            raise InvalidInputError(f"accuracy must be 'macs', 'params' or one value per candidate, got {accuracy!r}")
        acc = space_latency(sp, cands, hw)[accuracy].to_numpy(np.float64)
    else:
        acc = np.asarray(accuracy, dtype=np.float64)
        if acc.shape != (len(cands),):
            raise InvalidInputError(f"accuracy: give one value per candidate ({len(cands)}), got {acc.size}")
    names = [sp.candidate_name(i) for i in range(len(cands))]
    long = pd.DataFrame({"model": np.tile(names, len(rp)), "rp_macs_per_byte": np.repeat(rp, len(cands)),
                         "latency_s": seconds.ravel(), "top1": np.tile(acc, len(rp))})
    out = front_ranges(pareto(long))
    out.insert(0, "candidate", range(len(cands)))
    return out.rename(columns={"top1": "accuracy"})


def constrained_sample(sp: SearchSpace, n: int, hw: Any, target_ms: float, tolerance: float = 0.05,
                       seed: int = 0, max_draws: int = 200_000) -> pd.DataFrame:
    """``n`` candidates whose latency on ``hw`` is within ``target_ms`` +/- ``tolerance`` (a share),
    drawn by rejection from :meth:`SearchSpace.sample` (deterministic with ``seed``); their latency in
    ``latency_ms``. Too few within ``max_draws`` draws: an error that says how many were found."""
    n = checks.integer(n, "n", 1, 1_000_000)
    target = checks.number(target_ms, "target_ms", 1e-6, 1e7)
    tol = checks.number(tolerance, "tolerance", 0.0, 1.0)
    got, drawn, batch, rng = [], 0, max(1_000, 4 * n), np.random.default_rng(checks.integer(seed, "seed", 0))
    while drawn < max_draws and sum(len(g) for g in got) < n:
        c = sp.sample(batch, int(rng.integers(0, 2**31)))
        lat = space_latency(sp, c, hw)
        col = [k for k in lat.columns if k.endswith("_ms") and not k.endswith(("_low_ms", "_high_ms"))][0]
        keep = (lat[col] - target).abs() <= tol * target
        got.append(c[keep.to_numpy()].assign(latency_ms=lat.loc[keep, col].to_numpy()))
        drawn += batch
    out = pd.concat(got, ignore_index=True).head(n)
    if len(out) < n:
        raise InvalidInputError(f"only {len(out)} of {drawn:,} candidates of space {sp.name!r} are within "
                                f"{target:g} ms +/- {tol:.0%}; widen the tolerance or move the target")
    return out
