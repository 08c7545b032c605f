"""Fit an op class's measured probe times: a fixed cost plus a shaped MAC rate or a byte rate.

Compute classes::

    seconds = fixed + max(MACs / rate(shape), bytes / bandwidth)
    rate(shape) = ceiling / ((1 + out_half / out_elems) * (1 + reduction_half / reduction))

the form ``roofline.engine.shape`` predicts with, so a layer of a probed shape is
predicted as its probe measured. Memory classes: ``seconds = fixed + bytes / rate``.
Both fits minimise the squared relative error, the fixed part at least 0.
The shape terms are found on a log grid (no optimiser dependency; a class has
at most ~15 probes), then the ceiling refined on a finer grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.shape import ShapeTerms

_OUT_GRID = np.concatenate([[0.0], np.logspace(1, 7, 25)])
_RED_GRID = np.concatenate([[0.0], np.logspace(0, 4, 17)])


@dataclass(frozen=True)
class RateFit:
    """A class's fitted ``fixed`` seconds, rate (MAC/s or B/s) and, for compute classes, shape terms."""

    rate: float
    fixed_s: float
    shape: ShapeTerms | None
    median_error: float   # median |fitted / measured - 1| over the probes


def _best_fixed(c: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of roofline times ``c`` (..., n) against measured ``t`` (n): the fixed part in
    [0, min t] minimising the squared relative error, and that error."""
    inv = 1.0 / t
    f = np.sum((1.0 - c * inv) * inv, axis=-1) / np.sum(inv * inv)
    f = np.clip(f, 0.0, float(t.min()))
    err = np.sum(((f[..., None] + c) * inv - 1.0) ** 2, axis=-1)
    return f, err


def fit_compute(macs: np.ndarray, bytes_: np.ndarray, out_elems: np.ndarray, reduction: np.ndarray,
                secs: np.ndarray, bandwidth: float, cap: float | None = None) -> RateFit:
    """Ceiling, shape terms and fixed cost of a compute class from its probes. ``cap`` bounds the
    ceiling (the machine's measured peak): large shape terms with a ceiling far above any probe's
    rate fit the probes as well, but would predict impossible rates for layers larger than them."""
    macs, bytes_, secs = (np.asarray(a, dtype=np.float64) for a in (macs, bytes_, secs))
    mem = bytes_ / bandwidth
    o = np.maximum(np.asarray(out_elems, dtype=np.float64), 1.0)
    r = np.maximum(np.asarray(reduction, dtype=np.float64), 1.0)
    g = (1.0 + _OUT_GRID[:, None, None] / o) * (1.0 + _RED_GRID[None, :, None] / r)  # (O, R, n)
    top = float(np.max(macs / secs))
    best: tuple[float, float, int, int] | None = None
    high = max(cap or top * 300, top * 1.05)
    for rate in np.geomspace(top / 3, high, 61):
        c = np.maximum(macs * g / rate, mem)
        _, err = _best_fixed(c, secs)
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)
        if best is None or err[i, j] < best[0]:
            best = (float(err[i, j]), float(rate), int(i), int(j))
    assert best is not None
    _, rate, i, j = best
    gij = g[i, j]
    rates = np.minimum(rate * np.geomspace(0.9, 1.1, 41), high)
    c = np.maximum(macs[None, :] * gij[None, :] / rates[:, None], mem[None, :])
    f, err = _best_fixed(c, secs)
    k = int(np.argmin(err))
    pred = f[k] + c[k]
    return RateFit(float(rates[k]), float(f[k]), ShapeTerms(float(_OUT_GRID[i]), float(_RED_GRID[j])),
                   float(np.median(np.abs(pred / secs - 1.0))))


def fit_memory(bytes_: np.ndarray, secs: np.ndarray) -> RateFit:
    """Byte rate and fixed cost of a memory class: ``seconds = fixed + bytes / rate``."""
    w, t = np.asarray(bytes_, dtype=np.float64), np.asarray(secs, dtype=np.float64)
    a = np.stack([1.0 / t, w / t], axis=1)
    best: tuple[float, float, float] | None = None
    for cols in ([0, 1], [1]):  # both terms, or no fixed part
        sol, *_ = np.linalg.lstsq(a[:, cols], np.ones(len(t)), rcond=None)
        p = np.zeros(2)
        p[cols] = sol
        if (p < 0).any() or p[1] <= 0:
            continue
        err = float(np.sum((a @ p - 1.0) ** 2))
        if best is None or err < best[0]:
            best = (err, p[0], p[1])
    if best is None:  # no positive slope: the time does not grow with bytes over these sizes
        fixed, rate = float(np.min(t)), float(np.max(w) / np.min(t))
    else:
        fixed, rate = float(best[1]), float(1.0 / best[2])
    return RateFit(rate, fixed, None, float(np.median(np.abs((fixed + w / rate) / t - 1.0))))
