"""Fit an op class's measured probe times: a fixed cost plus a shaped MAC rate or a byte rate.

Compute classes::

    seconds = fixed + max(MACs / rate(shape), bytes / bandwidth)
    rate(shape) = ceiling / ((1 + out_half / out_elems) * (1 + reduction_half / reduction)
                             * (1 + reuse_half / reuse) * (1 + channels_half / channels))

the form ``roofline.engine.shape`` predicts with, so a layer of a probed shape is
predicted as its probe measured. Memory classes: ``seconds = fixed + bytes / rate``.
Kernels with at least a threshold of work may pay a further fixed cost (threads woken
for a parallel kernel), kept where the probes pin it down (:func:`extra_t`). Both fits minimise
the squared relative error, the fixed parts at least 0.
The shape terms are found on a log grid (no optimiser dependency; a class has
at most ~15 probes), then the ceiling refined on a finer grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.shape import ShapeTerms

_OUT_GRID = np.concatenate([[0.0], np.logspace(1, 7, 19)])
_RED_GRID = np.concatenate([[0.0], np.logspace(0, 4, 13)])
_REUSE_GRID = np.concatenate([[0.0], np.logspace(0, 4, 9)])
_CHANNELS_GRID = np.concatenate([[0.0], np.logspace(0, 4, 9)])


@dataclass(frozen=True)
class RateFit:
    """A class's fitted fixed seconds, rate (MAC/s or B/s), shape terms (compute classes) and the extra
    fixed cost of kernels with at least ``parallel_at`` output elements: on
    several threads, kernels above a size run in parallel and pay for waking the other threads
    (on a 2-vCPU VM a 1x1 conv 128 -> 64 at 14 x 14 px took 33 µs on one thread, 105 µs on two)."""

    rate: float
    fixed_s: float
    shape: ShapeTerms | None
    median_error: float   # median |fitted / measured - 1| over the probes
    parallel_at: float = float("inf")
    parallel_s: float = 0.0


def _fixed_parts(c: np.ndarray, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For roofline times ``c`` (..., n) against measured ``t`` (n): fixed parts ``f0 + f1 * s`` (``s``
    1 for probes past the parallel threshold, else 0), both at least 0 and ``f0`` at most min t,
    minimising the squared relative error; returns f0, f1 and that error."""
    inv = 1.0 / t
    y = 1.0 - c * inv
    a, b = inv, s * inv
    aa, ab, bb = float(np.sum(a * a)), float(np.sum(a * b)), float(np.sum(b * b))
    e0, e1 = np.sum(a * y, axis=-1), np.sum(b * y, axis=-1)
    det = aa * bb - ab * ab
    if bb == 0 or det <= 1e-12 * aa * bb:
        f0, f1 = e0 / aa, np.zeros_like(e0)
    else:
        f0, f1 = (bb * e0 - ab * e1) / det, (aa * e1 - ab * e0) / det
        only0, only1 = f1 < 0, f0 < 0
        f0 = np.where(only0, e0 / aa, np.where(only1, 0.0, f0))
        f1 = np.where(only0, 0.0, np.where(only1, e1 / bb, f1))
    f0 = np.clip(f0, 0.0, float(t.min()))
    f1 = np.maximum(f1, 0.0)
    err = np.sum(((f0[..., None] + f1[..., None] * s + c) * inv - 1.0) ** 2, axis=-1)
    return f0, f1, err


# a parallel kernel's extra cost is kept where its estimate is at least this many standard errors (:func:`extra_t`)
MIN_EXTRA_T = 2.0


def extra_t(secs: np.ndarray, step: np.ndarray, scaled: list[np.ndarray], fixed_part: np.ndarray | float = 0.0
            ) -> float:
    """The t-statistic of a parallel extra cost: ``secs ~ fixed + extra x step + sum of beta_k x scaled_k +
    fixed_part``, every coefficient free, fitted by least squares of the relative error. The rate's own term
    (``scaled``: the compute-bound probes' MAC time, a memory class's bytes) is free too, so an extra that only
    trades against the rate (a noisy two-thread profile fitted its fully connected class at the machine's peak
    rate plus 94 µs for each layer of 4,908 outputs or more, every probe past that threshold a token layer of 9 M
    MACs or more, and predicted its self-check network 94 % slow) has a large standard error. Infinite for an
    exact fit; 0 where the columns do not determine it."""
    inv = 1.0 / secs
    cols = [inv, step * inv] + [x * inv for x in scaled if np.any(x)]
    a = np.stack(cols, axis=1)
    y = 1.0 - fixed_part * inv
    n, k = a.shape
    if n <= k or np.linalg.matrix_rank(a) < k:
        return 0.0
    p, *_ = np.linalg.lstsq(a, y, rcond=None)
    var = float(np.sum((a @ p - y) ** 2)) / (n - k) * float(np.linalg.inv(a.T @ a)[1, 1])
    if var <= 1e-30 * max(float(p[1]) ** 2, 1e-300):
        return float("inf") if p[1] > 0 else 0.0
    return float(p[1] / np.sqrt(var))


def _thresholds(work: np.ndarray) -> list[float]:
    """Candidate parallel thresholds: none, or the geometric midpoint between two neighbouring probes'
    output elements (at least 2 probes on either side): a layer between two probes is as likely on
    either side of the true threshold."""
    w = np.unique(work)
    if len(w) < 4:
        return [float("inf")]
    return [float("inf")] + [float(np.sqrt(a * b)) for a, b in zip(w[1:-2], w[2:-1])]


def fit_compute(macs: np.ndarray, bytes_: np.ndarray, out_elems: np.ndarray, reduction: np.ndarray,
                secs: np.ndarray, bandwidth: float, cap: float | None = None, reuse: np.ndarray | None = None
                ) -> RateFit:
    """Ceiling, shape terms, fixed cost and parallel cost of a compute class from its probes. ``cap``
    bounds the ceiling (the machine's measured peak): large shape terms with a ceiling far above any
    probe's rate fit the probes as well, but would predict impossible rates for layers larger than
    them. ``reuse`` (MACs per weight; infinite without weights) adds the third axis."""
    macs, bytes_, secs = (np.asarray(a, dtype=np.float64) for a in (macs, bytes_, secs))
    mem = bytes_ / bandwidth
    o = np.maximum(np.asarray(out_elems, dtype=np.float64), 1.0)
    r = np.maximum(np.asarray(reduction, dtype=np.float64), 1.0)
    u = np.full(len(macs), np.inf) if reuse is None else np.maximum(np.asarray(reuse, dtype=np.float64), 1.0)
    u_grid = _REUSE_GRID if np.isfinite(u).any() else _REUSE_GRID[:1]
    c_grid = _CHANNELS_GRID if np.isfinite(u).any() else _CHANNELS_GRID[:1]
    ch = o / u  # output channels (0 without weights: no such axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        ch_term = np.where(ch > 0, 1.0 + c_grid[:, None] / np.maximum(ch, 1e-300), 1.0)  # (C, n)
    g = ((1.0 + _OUT_GRID[:, None, None, None, None] / o) * (1.0 + _RED_GRID[None, :, None, None, None] / r)
         * (1.0 + u_grid[None, None, :, None, None] / u) * ch_term[None, None, None])  # (O, R, U, C, n)
    top = float(np.max(macs / secs))
    high = max(cap or top * 300, top * 1.05)

    def search(s: np.ndarray) -> tuple[float, float, tuple[int, ...]]:
        best: tuple[float, float, tuple[int, ...]] | None = None
        for rate in np.geomspace(top / 3, high, 61):
            _, _, err = _fixed_parts(np.maximum(macs * g / rate, mem), secs, s)
            idx = np.unravel_index(int(np.argmin(err)), err.shape)
            if best is None or err[idx] < best[0]:
                best = (float(err[idx]), float(rate), tuple(int(x) for x in idx))
        assert best is not None
        return best

    # the shape with one fixed cost; then the parallel threshold for that shape; then the shape again; the parallel
    # cost is kept only where the probes pin it down (:func:`extra_t`), else the fit without one
    _, rate0, ijk0 = search(np.zeros(len(macs)))
    c = np.maximum(macs * g[ijk0] / rate0, mem)
    at = min(_thresholds(o), key=lambda x: float(_fixed_parts(c, secs, (o >= x).astype(float))[2]))
    for at in dict.fromkeys((at, float("inf"))):
        s = (o >= at).astype(float)
        rate, ijk = search(s)[1:] if np.isfinite(at) else (rate0, ijk0)
        gij = g[ijk]
        rates = np.minimum(rate * np.geomspace(0.9, 1.1, 41), high)
        c = np.maximum(macs[None, :] * gij[None, :] / rates[:, None], mem[None, :])
        f0, f1, err = _fixed_parts(c, secs, s)
        n = int(np.argmin(err))
        compute = macs * gij / rates[n]
        bound = compute >= mem  # compute-bound probes: their time scales with 1 / rate
        if f1[n] == 0 or extra_t(secs, s, [bound * compute], (~bound) * mem) >= MIN_EXTRA_T:
            break
    pred = f0[n] + f1[n] * s + c[n]
    i, j, k, m = ijk
    return RateFit(float(rates[n]), float(f0[n]),
                   ShapeTerms(float(_OUT_GRID[i]), float(_RED_GRID[j]), float(u_grid[k]), float(c_grid[m])),
                   float(np.median(np.abs(pred / secs - 1.0))),
                   at if f1[n] > 0 else float("inf"), float(f1[n]))


def fit_memory(bytes_: np.ndarray, secs: np.ndarray, out_elems: np.ndarray | None = None) -> RateFit:
    """Byte rate, fixed cost and parallel cost of a memory class:
    ``seconds = fixed + parallel_s x [output elements >= parallel_at] + bytes / rate``."""
    w, t = np.asarray(bytes_, dtype=np.float64), np.asarray(secs, dtype=np.float64)
    o = w if out_elems is None else np.asarray(out_elems, dtype=np.float64)
    best: tuple[float, float, float, float, float] | None = None  # err, fixed, parallel, 1 / rate, at
    for at in _thresholds(o):
        s = (o >= at).astype(float)
        if np.isfinite(at) and extra_t(t, s, [w]) < MIN_EXTRA_T:  # not pinned down by the probes
            continue
        a = np.stack([1.0 / t, s / t, w / t], axis=1)
        for cols in ([0, 1, 2], [0, 2], [1, 2], [2]):
            if 1 in cols and not s.any():
                continue
            sol, *_ = np.linalg.lstsq(a[:, cols], np.ones(len(t)), rcond=None)
            p = np.zeros(3)
            p[cols] = sol
            if (p < 0).any() or p[2] <= 0:
                continue
            err = float(np.sum((a @ p - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, p[0], p[1], p[2], at if p[1] > 0 else float("inf"))
    if best is None:  # no positive slope: the time does not grow with bytes over these sizes
        fixed, rate, par, at = float(np.min(t)), float(np.max(w) / np.min(t)), 0.0, float("inf")
    else:
        _, fixed, par, inv_rate, at = best
        rate = 1.0 / inv_rate
    pred = fixed + par * (o >= at) + w / rate
    return RateFit(float(rate), float(fixed), None, float(np.median(np.abs(pred / t - 1.0))), float(at),
                   float(par))
