"""The roofline-family latency model a fit estimates, and its least-squares solver.

For measurement row r (a model at one resolution, batch and dtype) with layers j::

    T_r = sum_j max(macs_j / P_d * (1 + h / R_j), bytes_j / B) / f_c(j) + k * K_r + o

- ``P_d``: the peak MAC/s of the row's dtype; ``B``: the bandwidth (B/s). Their
  ratio is the ridge point of Eq. 1.
- ``f_c``: the efficiency of op class c, the fraction of its roofline a layer
  of that class attains: compute classes (depthwise, grouped, matmul/linear,
  attention; dense conv is the reference, 1) and memory-only classes
  (normalisation, activation, elementwise, data movement). Factors are shrunk
  toward 1 by a penalty ``lam * (log f)^2``, so a small table keeps the plain
  roofline unless its data insist.
- ``h``: with the ``reduction`` term, the reduction length (MACs per output
  element: ``C_in / groups x k x k`` for a conv, ``in_features`` for a linear
  layer) at which a compute layer runs at half its class's rate. A layer with
  a short inner loop (a 1x1 conv over 16 channels, a depthwise 3x3 conv: 9)
  fills a SIMD unit or systolic array poorly and pays its fixed cost per output
  element over few MACs; measured profiles model the same axis
  (:mod:`roofline.engine.shape`). Unshrunk; without the term ``h = 0``.
- ``k``: seconds per kernel (``K_r`` kernels in the row), ``o``: seconds per
  inference (per call).
- with the ``family`` term, ``T_r`` is multiplied by ``g_F``, the effect of the
  row's model family F (``fastvit``, ``mobilenetv2``: its architecture, see
  :mod:`roofline.zoo.families`): what a device does to a whole architecture that
  its layer shapes do not explain (an op its runtime lacks, a delegate falling
  back). A random effect: only families with at least two models measured get
  one, shrunk toward 1 by ``lam_F * (log g)^2`` with ``lam_F`` set from the data.
  Multipliers are centred (:func:`centre_families`: the median model's is 1, the
  base time terms carry it), so the base predicts the typical model: what a model
  of a family the fit did not see gets.

Without class terms and overheads this is Eq. 1 with a fitted peak and
bandwidth. The objective is the squared error of ``log T_r - log t_r`` plus the
penalty (as a Huber loss: rows off by more than ``HUBER_DELTA`` in log count
linearly, so a few anomalous measurements do not drag the fit), minimised by Levenberg-Marquardt on the logs of all parameters, with
an analytic Jacobian (the max picks the bound side of each layer).

The formula is :mod:`roofline.engine.predict`'s, the one ``analyze`` and sweeps use (here on each
layer entry's MACs and bytes times its weight); the rows' layers are a :class:`~roofline.fit.design.Design`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.checks import BYTE_RATE, MAC_RATE
from ..core.errors import RooflineError
from ..core.taxonomy import EFFICIENCY_CLASSES
from ..engine.predict import layer_times, model_total
from ..hardware.model import MAX_PER_INFERENCE_S, MAX_PER_KERNEL_S
from .design import (FAMILY_MIN_MODELS, START_GRID, Design, build_design,  # noqa: F401  (re-exported)
                     row_layers)

OVERHEAD_TERMS = ("kernel", "inference")
SHAPE_TERMS = ("reduction",)  # unshrunk, like the overheads
TERMS = OVERHEAD_TERMS + SHAPE_TERMS + EFFICIENCY_CLASSES + ("family",)
_K_SCALE, _O_SCALE = 1e-6, 1e-3  # the log parameters of k and o are in µs and ms
_LOG_BOUNDS = (-25.0, 12.0)
REDUCTION_HALF_RANGE = (1e-2, 1e5)  # MACs per output element; 0.01 slows no layer by over 1 %
REDUCTION_HALF_START = 16.0
PILOT_LAMBDA = 1e-3    # the weak shrinkage of the pilot fit that measures the residual variance
PRIOR_LOG_SD = 1.5     # prior spread of log class factors: 95 % within 0.05x-20x of dense conv
LM_XTOL = 1e-7  # the smallest step in a log parameter that counts as progress (1e-5 %)
HUBER_DELTA = 0.15  # log error beyond which a row counts linearly, not squared (robust to a few outliers)
FACTOR_RANGE = (1e-2, 1e2)  # a class attains at least 1 % of the roofline: below, the fit extrapolates, not hardware
# Peak and bandwidth stay within these multiples of the spec sheet where the base profile states one (else within
# the loader's plausible rates, roofline.core.checks). The shipped fits lie at 0.27-2.2x their spec peak and
# 0.087-26x their spec bandwidth (an effective bandwidth counts on-chip reuse): a peak 10x the sheet's is the fit
# trading the peak for the reduction or overhead terms, not hardware.
PEAK_SPEC_RANGE = (1e-2, 10.0)
BW_SPEC_RANGE = (1e-2, 100.0)
BOUND_TOL = 1e-6  # a log parameter this close to its bound sits at it (the solver clips onto bounds exactly)
# A parameter whose log moves no row's log time by this share of its own change (d log T / d log p) is inert:
# a bandwidth at its bound while every layer is compute-bound sets no prediction, so it is no degenerate fit.
INERT_SHARE = 0.01


@dataclass(frozen=True)
class Bounds:
    """The spec sheet a fit's peak (MAC/s per dtype) and bandwidth (B/s) stay near (a base profile's);
    either may be absent, then the loader's plausible range holds."""

    peak_macs_per_s: dict[str, float] = field(default_factory=dict)
    mem_bw_bytes_per_s: float | None = None

    def peak(self, dtype: str) -> tuple[float, float, str]:
        """The range of ``dtype``'s peak (MAC/s) and what it is."""
        return _range(self.peak_macs_per_s.get(dtype), PEAK_SPEC_RANGE, MAC_RATE, "MAC/s")

    def bandwidth(self) -> tuple[float, float, str]:
        return _range(self.mem_bw_bytes_per_s, BW_SPEC_RANGE, BYTE_RATE, "B/s")


def _range(spec: float | None, times: tuple[float, float], plausible: tuple[float, float], unit: str
           ) -> tuple[float, float, str]:
    if not spec:
        return plausible[0], plausible[1], f"the plausible {plausible[0]:g}-{plausible[1]:g} {unit}"
    return (max(spec * times[0], plausible[0]), min(spec * times[1], plausible[1]),
            f"{times[0]:g}-{times[1]:g}x the spec sheet's {spec:.3g} {unit}")


@dataclass(frozen=True)
class Params:
    """Fitted values of the model's terms (SI units)."""

    peak_macs_per_s: dict[str, float]
    mem_bw_bytes_per_s: float
    per_kernel_s: float = 0.0
    per_inference_s: float = 0.0
    efficiency: dict[str, float] = field(default_factory=dict)
    terms: tuple[str, ...] = ()
    family: dict[str, float] = field(default_factory=dict)  # multiplier per model family
    reduction_half: float = 0.0  # MACs per output element at which a compute layer runs at half rate
    at_bound: tuple[str, ...] = ()  # parameters the fit left at a bound (a degenerate fit: not selected)

    def ridge_point(self, dtype: str) -> float:
        return self.peak_macs_per_s[dtype] / self.mem_bw_bytes_per_s


class _Layout:
    """Where each term sits in the parameter vector (all logs), and which family each row of the
    design it was made for belongs to (-1: none fitted)."""

    def __init__(self, dtypes: tuple[str, ...], terms: tuple[str, ...], families: Sequence[str] = (),
                 row_family: np.ndarray | None = None) -> None:
        self.dtypes = dtypes
        self.terms = terms
        self.n_peak = len(dtypes)
        self.i_bw = self.n_peak
        i = self.i_bw + 1
        self.i_kernel = i if "kernel" in terms else None
        i += "kernel" in terms
        self.i_inference = i if "inference" in terms else None
        i += "inference" in terms
        self.i_reduction = i if "reduction" in terms else None
        i += "reduction" in terms
        self.classes = [c for c in EFFICIENCY_CLASSES if c in terms]
        self.i_class = {c: i + j for j, c in enumerate(self.classes)}
        i += len(self.classes)
        self.families = tuple(families) if "family" in terms else ()
        self.i_family = i
        self.size = i + len(self.families)
        index = {f: j for j, f in enumerate(self.families)}
        self.row_family = (np.array([index.get(f, -1) for f in row_family], dtype=np.int64)
                           if row_family is not None else None)


class _Jacobian:
    """A Jacobian whose last ``n_sparse`` columns (the family effects) hold at most one value per row:
    dense columns ``dense``, and per row the sparse column ``col`` (-1: none) and its value ``val``.
    The normal equations then cost rows x dense columns, not rows x all columns squared."""

    def __init__(self, dense: np.ndarray, col: np.ndarray, val: np.ndarray, n_sparse: int) -> None:
        self.dense, self.col, self.val, self.n_sparse = dense, col, val, n_sparse

    def scale_rows(self, rows: np.ndarray, by: np.ndarray) -> None:
        self.dense[rows] *= by[:, None]
        self.val[rows] *= by

    def normal(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``J.T @ r`` and ``J.T @ J``."""
        q, f = self.dense.shape[1], self.n_sparse
        H = np.zeros((q + f, q + f))
        g = np.empty(q + f)
        H[:q, :q] = self.dense.T @ self.dense
        g[:q] = self.dense.T @ r
        if f:
            on = self.col >= 0
            c, v = self.col[on], self.val[on]
            H[q:, q:][np.diag_indices(f)] = np.bincount(c, v * v, minlength=f)
            g[q:] = np.bincount(c, v * r[on], minlength=f)
            cross = np.stack([np.bincount(c, v * self.dense[on, j], minlength=f) for j in range(q)])
            H[:q, q:] = cross
            H[q:, :q] = cross.T
        return g, H


def _evaluate(d: Design, lay: _Layout, x: np.ndarray, lam: float, jac: bool = True, lam_family: float = 0.0
              ) -> tuple[np.ndarray, _Jacobian | None, np.ndarray]:
    """Residuals (log error per row, then the penalties), their Jacobian, and the predictions."""
    entry_dtype = d.entry_dtype
    peak = np.exp(x[:lay.n_peak])[entry_dtype] if lay.n_peak > 1 else np.exp(x[0])
    bw = np.exp(x[lay.i_bw])
    # one factor per class (the last slot, index -1, is dense conv and classes without a term: 1)
    fvals = np.ones(len(EFFICIENCY_CLASSES) + 1)
    for c in lay.classes:
        fvals[EFFICIENCY_CLASSES.index(c)] = np.exp(x[lay.i_class[c]])
    factor = fvals[d.cls]
    # h / R_j: a short loop's share of MAC time
    slow = np.exp(x[lay.i_reduction]) * d.inverse_reduction if lay.i_reduction is not None else None
    # the latency formula (roofline.engine.predict) on each entry, times its weight (the weight goes in
    # first: the comparison is the same per layer)
    t = layer_times(d.weighted_macs, d.weighted_bytes, peak, bw, factor, slow)
    compute = t.compute_bound
    wm = t.latency_s
    n = d.n_rows
    total = np.bincount(d.row, wm, minlength=n)
    k = np.exp(x[lay.i_kernel]) * _K_SCALE if lay.i_kernel is not None else 0.0
    o = np.exp(x[lay.i_inference]) * _O_SCALE if lay.i_inference is not None else 0.0
    base = model_total(total, k * d.kernels, o, floor=1e-300)  # the roofline and overheads, before families
    fams = np.arange(lay.i_family, lay.size)
    has_family = lay.row_family >= 0 if lay.families else np.zeros(n, dtype=bool)
    g = np.ones(n)
    if lay.families:
        g[has_family] = np.exp(x[lay.i_family + lay.row_family[has_family]])
    classes = np.array([lay.i_class[c] for c in lay.classes], dtype=np.int64)
    pred = model_total(base, family=g)  # base * g
    resid = np.concatenate([np.log(pred) - np.log(d.measured_s), np.sqrt(lam) * x[classes],
                            np.sqrt(lam_family) * x[fams]])
    if not jac:
        return resid, None, pred
    J = np.zeros((n + len(classes) + len(fams), lay.i_family))  # the dense columns; families: one-hot
    wa = np.where(compute, wm, 0.0)
    wb = np.where(compute, 0.0, wm)
    if lay.n_peak == 1:
        J[:n, 0] = -np.bincount(d.row, wa, minlength=n)
    else:
        per = np.bincount(entry_dtype * n + d.row, wa, minlength=lay.n_peak * n).reshape(lay.n_peak, n)
        J[:n, :lay.n_peak] = -per.T
    J[:n, lay.i_bw] = -np.bincount(d.row, wb, minlength=n)
    if lay.classes:  # every class's share of each row in one pass
        nc = len(EFFICIENCY_CLASSES) + 1
        per = np.bincount(d.cls_slot * n + d.row, wm, minlength=nc * n).reshape(nc, n)
        for c in lay.classes:
            J[:n, lay.i_class[c]] = -per[EFFICIENCY_CLASSES.index(c)]
    if lay.i_kernel is not None:
        J[:n, lay.i_kernel] = k * d.kernels
    if lay.i_inference is not None:
        J[:n, lay.i_inference] = o
    if lay.i_reduction is not None:
        J[:n, lay.i_reduction] = np.bincount(d.row, wa * slow / (1.0 + slow), minlength=n)
    J[:n] /= base[:, None]  # d log(base * g) / d log(parameter) of the roofline part
    for j, c in enumerate(classes):
        J[n + j, c] = np.sqrt(lam)
    # each row's family column (d log T / d log g = 1), and each family's penalty row
    col = np.full(len(resid), -1, dtype=np.int64)
    val = np.zeros(len(resid))
    col[:n][has_family] = lay.row_family[has_family]
    val[:n][has_family] = 1.0
    col[n + len(classes):] = np.arange(len(fams))
    val[n + len(classes):] = np.sqrt(lam_family)
    return resid, _Jacobian(J, col, val, len(fams)), pred


def _huber(resid: np.ndarray, J: _Jacobian | None, n: int, delta: float
           ) -> tuple[np.ndarray, _Jacobian | None]:
    """Residuals whose squares are the Huber loss of the first ``n`` (the rows): quadratic up to
    ``delta``, linear beyond, so a few anomalous measurements cannot drag the whole fit."""
    r = resid.copy()
    big = np.zeros(len(r), dtype=bool)
    big[:n] = np.abs(r[:n]) > delta
    if not big.any():
        return r, J
    a = np.abs(resid[big])
    r[big] = np.sign(resid[big]) * np.sqrt(2 * delta * a - delta ** 2)
    if J is not None:  # made fresh by each evaluation: scaled in place
        J.scale_rows(np.flatnonzero(big), delta / np.abs(r[big]))
    return r, J


def _levenberg_marquardt(fun, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, iters: int = 200
                         ) -> tuple[np.ndarray, float]:
    """Minimise ``|r(x)|^2`` within [lo, hi]; ``fun(x)`` gives (r, J, predictions). A parameter held at
    a bound that the gradient pushes against is left out of the step (an active set): clipping its
    step instead costs a long run of tiny steps along the bound."""
    x = np.clip(x0, lo, hi)
    r, J, _ = fun(x)
    cost = float(r @ r)
    mu = 1e-3
    for _ in range(iters):
        g, H = J.normal(r)
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        g, H = g[free], H[np.ix_(free, free)]
        diag = np.diag(H).copy()
        improved = False
        while mu < 1e12:
            Hm = H.copy()
            Hm[np.diag_indices_from(Hm)] += mu * (diag + 1e-9)
            step = np.zeros_like(x)
            step[free] = np.linalg.solve(Hm, -g)
            xn = np.clip(x + step, lo, hi)
            rn, Jn, _ = fun(xn)
            cn = float(rn @ rn)
            if np.isfinite(cn) and cn < cost:
                improved = True
                gain = cost - cn
                x, r, J, cost = xn, rn, Jn, cn
                mu = max(mu * 0.3, 1e-9)
                break
            mu *= 10
        # converged: no better point, a negligible gain, or a step that moves no parameter by more
        # than 1e-7 of itself (the parameters are logs): a long tail of such steps changes nothing
        if not improved or gain <= 1e-12 * max(cost, 1e-12) or float(np.abs(step).max()) < LM_XTOL:
            break
    return x, cost


def _init(d: Design, terms: tuple[str, ...], lay: _Layout) -> list[np.ndarray]:
    """Starting points: the best Eq. 1 roofline on a ridge-point grid (bandwidth in closed form), with
    the overheads taking a small and a larger share of the time."""
    rps = START_GRID.values()
    log_t = np.log(d.measured_s)
    best = None
    for rp in rps:
        a = np.where(d.memory, 0.0, d.macs / rp)
        s = np.bincount(d.row, d.weight * np.maximum(a, d.bytes_), minlength=d.n_rows)
        s = np.maximum(s, 1e-300)
        log_b = float(np.mean(np.log(s) - log_t))
        err = float(np.sum((np.log(s) - log_b - log_t) ** 2))
        if best is None or err < best[0]:
            best = (err, rp, log_b)
    _, rp, log_b = best
    starts = []
    for share in (0.05, 0.3):
        x = np.zeros(lay.size)
        lb = log_b + np.log(1.0 / (1.0 - share)) if ("kernel" in terms or "inference" in terms) else log_b
        x[:lay.n_peak] = np.log(rp) + lb
        x[lay.i_bw] = lb
        if lay.i_kernel is not None:
            x[lay.i_kernel] = np.log(max(np.median(share * d.measured_s / np.maximum(d.kernels, 1)), 1e-12)
                                     / _K_SCALE)
        if lay.i_inference is not None:
            x[lay.i_inference] = np.log(max(share * float(np.min(d.measured_s)), 1e-12) / _O_SCALE)
        if lay.i_reduction is not None:
            x[lay.i_reduction] = np.log(REDUCTION_HALF_START)
        starts.append(x)
        if "kernel" not in terms and "inference" not in terms:
            break
    if lay.classes:  # class terms start where they matter: slow classes are bound by their own rate
        x = starts[0].copy()
        for c in lay.classes:
            x[lay.i_class[c]] = np.log(0.1)
        starts.append(x)
    return starts


def fit_params(d: Design, terms: Sequence[str] = (), lam: float | None = None, bounds: Bounds | None = None
               ) -> Params:
    """Least-squares fit of the model with ``terms`` beside peak(s) and bandwidth.

    ``lam``: the shrinkage of the class factors; None sets it from the data (empirical Bayes): a
    pilot fit with weak shrinkage gives the residual variance s^2 of log latency, and
    ``lam = s^2 / PRIOR_LOG_SD^2`` (a prior of log factor ~ N(0, PRIOR_LOG_SD^2)). Clean data then keep
    their factors; noisy data have them pulled toward 1. Family effects are shrunk the same way,
    their prior spread tau^2 estimated from the pilot's effects (method of moments): families that
    differ little are pulled to 1, a device that runs one family 7x slow keeps most of it.

    Every parameter lives in a range the profile loader accepts (``bounds``: the spec sheet's peak and
    bandwidth, :class:`Bounds`); one the fit leaves at a bound is named in ``Params.at_bound``.
    """
    terms = tuple(t for t in TERMS if t in terms)
    unknown = set(terms) - set(TERMS)
    if unknown:
        raise RooflineError(f"unknown fit term {sorted(unknown)[0]!r}; use {', '.join(TERMS)}")
    if d.n_rows == 0:
        raise RooflineError("no measurements to fit")
    families = d.families() if "family" in terms else ()
    lay = _Layout(d.dtypes, terms, families, d.family)
    starts = _init(d, terms, lay)
    lo, hi, what = _bounds(d, lay, starts[0], bounds or Bounds())

    def solve(penalty: float, penalty_family: float, x0s: list[np.ndarray]) -> np.ndarray:
        def robust(v: np.ndarray):
            r, J, pred = _evaluate(d, lay, v, penalty, lam_family=penalty_family)
            r, J = _huber(r, J, d.n_rows, HUBER_DELTA)
            return r, J, pred

        best = None
        for x0 in x0s:
            x, cost = _levenberg_marquardt(robust, x0, lo, hi)
            if best is None or cost < best[1]:
                best = (x, cost)
        return best[0]

    if (lam is None and lay.classes) or lay.families:
        x = solve(PILOT_LAMBDA if lam is None else lam, PILOT_LAMBDA, starts)
        resid = _evaluate(d, lay, x, 0.0, jac=False)[0][:d.n_rows]
        dof = max(d.n_rows - lay.size, 1)
        s2 = max(float(np.sum(np.minimum(resid ** 2, HUBER_DELTA ** 2 * 4)) / dof), 1e-8)
        lam_f = 0.0
        if lay.families:
            u = x[lay.i_family:]
            per_model = pd.DataFrame({"f": d.family, "g": d.groups}).drop_duplicates().groupby("f").size()
            n_f = np.array([per_model[f] for f in lay.families], dtype=np.float64)
            tau2 = max(float(np.mean(u ** 2) - np.mean(s2 / n_f)), 1e-4)
            lam_f = s2 / tau2
        x = solve(s2 / PRIOR_LOG_SD ** 2 if lam is None else lam, lam_f, [x])
    else:
        x = solve(0.0 if lam is None else lam, 0.0, starts)  # without class factors there is nothing to shrink
    k = float(np.exp(x[lay.i_kernel]) * _K_SCALE) if lay.i_kernel is not None else 0.0
    o = float(np.exp(x[lay.i_inference]) * _O_SCALE) if lay.i_inference is not None else 0.0
    h = float(np.exp(x[lay.i_reduction])) if lay.i_reduction is not None else 0.0
    # a parameter at a bound that sets at least INERT_SHARE of some row's time: the data pushed it there
    J = _evaluate(d, lay, x, 0.0)[1]
    sets = np.concatenate([np.abs(J.dense[:d.n_rows]).max(axis=0, initial=0.0), np.ones(len(lay.families))])
    at_bound = tuple(f"{name} = {np.exp(v) * scale:.3g} at its {side} bound ({why})"
                     for v, l_, h_, s_, (name, why, both, scale) in zip(x, lo, hi, sets, what) if s_ >= INERT_SHARE
                     for side, on in (("lower", both and v <= l_ + BOUND_TOL), ("upper", v >= h_ - BOUND_TOL)) if on)
    x, c = centre_families(x, lay, d)
    k, o = k * c, o * c
    return Params({dt: float(np.exp(x[i])) for i, dt in enumerate(d.dtypes)}, float(np.exp(x[lay.i_bw])),
                  k if k > 1e-15 else 0.0, o if o > 1e-12 else 0.0,
                  {c: float(np.exp(x[lay.i_class[c]])) for c in lay.classes}, terms,
                  {f: float(np.exp(x[lay.i_family + j])) for j, f in enumerate(lay.families)}, h, at_bound=at_bound)


def centre_families(x: np.ndarray, lay: _Layout, d: Design | None = None) -> tuple[np.ndarray, float]:
    """``x`` with its family multipliers divided by the typical model's ``c`` and ``c`` moved into the
    base time terms (peaks and bandwidth / c, per kernel and per inference x c), and ``c``. ``c`` is the
    median multiplier over the design's models (each model once; a model without a fitted family at 1),
    so one family a device runs 9x slow does not move the base. Every row of a fitted family is
    predicted as before; the base predicts the typical model, what a model of a family the fit did not
    see gets (with the new-family band). Without ``d``: the median over the fitted families."""
    if not lay.families:
        return x, 1.0
    logs = x[lay.i_family:lay.size]
    if d is not None and lay.row_family is not None:
        per_model = pd.DataFrame({"g": d.groups, "f": lay.row_family}).drop_duplicates("g")["f"].to_numpy()
        m = float(np.median(np.where(per_model >= 0, logs[np.maximum(per_model, 0)], 0.0)))
    else:
        m = float(np.median(logs))
    x = x.copy()
    x[lay.i_family:lay.size] -= m
    x[:lay.n_peak] -= m
    x[lay.i_bw] -= m
    for i in (lay.i_kernel, lay.i_inference):
        if i is not None:
            x[i] += m
    return x, float(np.exp(m))


def _bounds(d: Design, lay: _Layout, start: np.ndarray, bounds: Bounds
            ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str, bool, float]]]:
    """Each log parameter's range, and per parameter (name, what bounds it, whether its lower bound counts
    as degenerate: an overhead or a half-length at its lower bound is the term switched off, not a fit
    gone astray; the parameter's unit scale)."""
    lo, hi, what = np.empty(lay.size), np.empty(lay.size), []
    for i, dt in enumerate(d.dtypes):
        a, b, why = bounds.peak(dt)
        lo[i], hi[i] = np.log(a), np.log(b)
        what.append((f"peak {dt} (MAC/s)", why, True, 1.0))
    # the bandwidth also stays within a factor 100 of the plain roofline fit's: beyond that every layer is
    # compute-bound, memory terms stop mattering, and the fit drifts to an infinite bandwidth
    a, b, why = bounds.bandwidth()
    b0 = start[lay.i_bw]
    lo[lay.i_bw], hi[lay.i_bw] = max(b0 - np.log(100.0), np.log(a)), min(b0 + np.log(100.0), np.log(b))
    if lo[lay.i_bw] >= hi[lay.i_bw]:  # the roofline start lies far off the spec sheet: the sheet's range holds
        lo[lay.i_bw], hi[lay.i_bw] = np.log(a), np.log(b)
    what.append(("bandwidth (B/s)", f"{why}, and 100x either side of the plain roofline fit's", True, 1.0))
    for i, name, scale, top in ((lay.i_kernel, "per-kernel cost (s)", _K_SCALE, MAX_PER_KERNEL_S),
                                (lay.i_inference, "per-inference cost (s)", _O_SCALE, MAX_PER_INFERENCE_S)):
        if i is not None:
            lo[i], hi[i] = _LOG_BOUNDS[0], min(_LOG_BOUNDS[1], np.log(top / scale))
            what.append((name, f"at most {np.exp(hi[i]) * scale:.3g} s", False, scale))
    if lay.i_reduction is not None:
        lo[lay.i_reduction], hi[lay.i_reduction] = np.log(REDUCTION_HALF_RANGE[0]), np.log(REDUCTION_HALF_RANGE[1])
        what.append(("reduction half-length (MACs per output element)", f"at most {REDUCTION_HALF_RANGE[1]:g}",
                     False, 1.0))
    factor = (np.log(FACTOR_RANGE[0]), np.log(FACTOR_RANGE[1]))
    for c in lay.classes:
        lo[lay.i_class[c]], hi[lay.i_class[c]] = factor
        what.append((f"{c} efficiency", f"{FACTOR_RANGE[0]:g}-{FACTOR_RANGE[1]:g}", True, 1.0))
    lo[lay.i_family:], hi[lay.i_family:] = factor
    what += [(f"family {f} multiplier", f"{FACTOR_RANGE[0]:g}-{FACTOR_RANGE[1]:g}", True, 1.0) for f in lay.families]
    return lo, hi, what


def predict(d: Design, p: Params) -> np.ndarray:
    """Predicted seconds per row of ``d`` with fitted parameters ``p``."""
    missing = [dt for dt in d.dtypes if dt not in p.peak_macs_per_s]
    if missing:
        raise RooflineError(f"no fitted peak for dtype {missing[0]} (the fit saw {', '.join(p.peak_macs_per_s)})")
    lay = _Layout(d.dtypes, p.terms, tuple(p.family), d.family)
    x = np.zeros(lay.size)
    x[:lay.n_peak] = [np.log(p.peak_macs_per_s[dt]) for dt in d.dtypes]
    x[lay.i_bw] = np.log(p.mem_bw_bytes_per_s)
    if lay.i_kernel is not None:
        x[lay.i_kernel] = np.log(max(p.per_kernel_s, 1e-30) / _K_SCALE)
    if lay.i_inference is not None:
        x[lay.i_inference] = np.log(max(p.per_inference_s, 1e-30) / _O_SCALE)
    if lay.i_reduction is not None:
        x[lay.i_reduction] = np.log(max(p.reduction_half, 1e-30))
    for c in lay.classes:
        x[lay.i_class[c]] = np.log(p.efficiency[c])
    for j, f in enumerate(lay.families):
        x[lay.i_family + j] = np.log(p.family[f])
    return _evaluate(d, lay, x, 0.0, jac=False)[2]
