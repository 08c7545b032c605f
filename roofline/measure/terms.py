"""The roofline-family latency model a fit estimates, and its least-squares solver.

For measurement row r (a model at one resolution, batch and dtype) with layers j::

    T_r = sum_j max(macs_j / P_d, bytes_j / B) / f_c(j) + k * K_r + o

- ``P_d``: the peak MAC/s of the row's dtype; ``B``: the bandwidth (B/s). Their
  ratio is the ridge point of Eq. 1.
- ``f_c``: the efficiency of op class c, the fraction of its roofline a layer
  of that class attains: compute classes (depthwise, grouped, matmul/linear,
  attention; dense conv is the reference, 1) and memory-only classes
  (normalisation, activation, elementwise, data movement). Factors are shrunk
  toward 1 by a penalty ``lam * (log f)^2``, so a small table keeps the plain
  roofline unless its data insist.
- ``k``: seconds per kernel (``K_r`` kernels in the row), ``o``: seconds per
  inference (per call).

Without class terms and overheads this is Eq. 1 with a fitted peak and
bandwidth. The objective is the squared error of ``log T_r - log t_r`` plus the
penalty (as a Huber loss: rows off by more than ``HUBER_DELTA`` in log count
linearly, so a few anomalous measurements do not drag the fit), minimised by Levenberg-Marquardt on the logs of all parameters, with
an analytic Jacobian (the max picks the bound side of each layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..conventions import Convention
from ..engine.efficiency import EFFICIENCY_CLASSES, MEMORY_CLASSES, layer_classes
from ..engine.latency import kernel_counts
from ..engine.roofline import layer_bytes
from ..errors import RooflineError
from ..trace import LayerTable

OVERHEAD_TERMS = ("kernel", "inference")
TERMS = OVERHEAD_TERMS + EFFICIENCY_CLASSES
_K_SCALE, _O_SCALE = 1e-6, 1e-3  # the log parameters of k and o are in µs and ms
_LOG_BOUNDS = (-25.0, 12.0)
PILOT_LAMBDA = 1e-3    # the weak shrinkage of the pilot fit that measures the residual variance
PRIOR_LOG_SD = 1.5     # prior spread of log class factors: 95 % within 0.05x-20x of dense conv
HUBER_DELTA = 0.15  # log error beyond which a row counts linearly, not squared (robust to a few outliers)
FACTOR_RANGE = (1e-2, 1e2)  # a class attains at least 1 % of the roofline: below, the fit extrapolates, not hardware


@dataclass(frozen=True)
class Design:
    """Every measured row's layers, flattened: what the model needs and nothing else."""

    macs: np.ndarray        # per (deduplicated) layer entry
    bytes_: np.ndarray
    weight: np.ndarray      # how many identical layers of the row the entry stands for
    row: np.ndarray         # the row each entry belongs to
    cls: np.ndarray         # index into EFFICIENCY_CLASSES, or -1 (dense conv: the reference)
    memory: np.ndarray      # memory-only layer (bytes only)
    row_dtype: np.ndarray   # per row: index into ``dtypes``
    dtypes: tuple[str, ...]
    kernels: np.ndarray     # per row
    measured_s: np.ndarray  # per row
    groups: np.ndarray      # per row: the model (a cross-validation group)
    macs_total: np.ndarray  # per row

    @property
    def n_rows(self) -> int:
        return len(self.measured_s)

    def subset(self, rows: np.ndarray) -> Design:
        rows = np.asarray(rows)
        new = -np.ones(self.n_rows, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        keep = new[self.row] >= 0
        return Design(self.macs[keep], self.bytes_[keep], self.weight[keep], new[self.row[keep]], self.cls[keep],
                      self.memory[keep], self.row_dtype[rows], self.dtypes, self.kernels[rows],
                      self.measured_s[rows], self.groups[rows], self.macs_total[rows])

    def present_terms(self, share: float = 0.1, models: int = 2) -> tuple[str, ...]:
        """The class terms the data can inform: compute classes that carry at least ``share`` of the
        MACs, and memory classes at least ``share`` of the bytes, of at least ``models`` models. A
        class that only trims the edges of the models measured would be fitted to noise, and
        extrapolate wildly to a model it dominates."""
        macs = np.bincount(self.row, self.weight * self.macs, minlength=self.n_rows)
        byts = np.bincount(self.row, self.weight * self.bytes_, minlength=self.n_rows)
        out = []
        for i, c in enumerate(EFFICIENCY_CLASSES):
            sel = self.cls == i
            m = np.bincount(self.row, np.where(sel, self.weight * self.macs, 0.0), minlength=self.n_rows)
            b = np.bincount(self.row, np.where(sel, self.weight * self.bytes_, 0.0), minlength=self.n_rows)
            with np.errstate(invalid="ignore", divide="ignore"):
                big = np.nan_to_num(b / byts if c in MEMORY_CLASSES else m / macs) >= share
            if len(set(self.groups[big].tolist())) >= models:
                out.append(c)
        return tuple(out)


def row_layers(table: LayerTable, convention: Convention, dtype: str, execution: str
               ) -> tuple[pd.DataFrame, int]:
    """A traced row's counted layers (MACs, bytes, class) and its kernel count."""
    layers = layer_bytes(table, convention, dtype)
    return layers, int(kernel_counts(layers, execution).sum())


def build_design(tables: Sequence[LayerTable], dtypes: Sequence[str], measured_s: Sequence[float],
                 groups: Sequence[str], convention: Convention, execution: str) -> Design:
    """The design of rows ``tables`` (one per measurement), counted with ``convention``."""
    parts = []
    kernels = np.empty(len(tables))
    dtype_names = tuple(dict.fromkeys(dtypes))
    class_index = {c: i for i, c in enumerate(EFFICIENCY_CLASSES)}
    for r, (t, dt) in enumerate(zip(tables, dtypes)):
        layers, k = row_layers(t, convention, dt, execution)
        kernels[r] = k
        cls = np.array([class_index.get(c, -1) for c in layer_classes(layers)], dtype=np.int64)
        macs = layers["macs"].to_numpy(np.float64)
        byts = (layers["weight_bytes"] + layers["activation_bytes"]).to_numpy(np.float64)
        mem = layers["memory_only"].to_numpy(bool)
        # identical layers (a transformer's repeated blocks) become one entry with a weight
        key = pd.DataFrame({"m": macs, "b": byts, "c": cls, "o": mem})
        grouped = key.groupby(["m", "b", "c", "o"], sort=False).size().reset_index(name="w")
        parts.append(pd.DataFrame({"macs": grouped["m"], "bytes": grouped["b"], "cls": grouped["c"],
                                   "memory": grouped["o"], "weight": grouped["w"], "row": r}))
    flat = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["macs", "bytes", "cls", "memory", "weight", "row"])
    return Design(flat["macs"].to_numpy(np.float64), flat["bytes"].to_numpy(np.float64),
                  flat["weight"].to_numpy(np.float64), flat["row"].to_numpy(np.int64),
                  flat["cls"].to_numpy(np.int64), flat["memory"].to_numpy(bool),
                  np.array([dtype_names.index(d) for d in dtypes], dtype=np.int64), dtype_names, kernels,
                  np.asarray(measured_s, dtype=np.float64), np.asarray(groups, dtype=object),
                  np.array([float(t.macs) for t in tables]))


@dataclass(frozen=True)
class Params:
    """Fitted values of the model's terms (SI units)."""

    peak_macs_per_s: dict[str, float]
    mem_bw_bytes_per_s: float
    per_kernel_s: float = 0.0
    per_inference_s: float = 0.0
    efficiency: dict[str, float] = field(default_factory=dict)
    terms: tuple[str, ...] = ()

    def ridge_point(self, dtype: str) -> float:
        return self.peak_macs_per_s[dtype] / self.mem_bw_bytes_per_s


class _Layout:
    """Where each term sits in the parameter vector (all logs)."""

    def __init__(self, dtypes: tuple[str, ...], terms: tuple[str, ...]) -> None:
        self.dtypes = dtypes
        self.terms = terms
        self.n_peak = len(dtypes)
        self.i_bw = self.n_peak
        i = self.i_bw + 1
        self.i_kernel = i if "kernel" in terms else None
        i += "kernel" in terms
        self.i_inference = i if "inference" in terms else None
        i += "inference" in terms
        self.classes = [c for c in EFFICIENCY_CLASSES if c in terms]
        self.i_class = {c: i + j for j, c in enumerate(self.classes)}
        self.size = i + len(self.classes)


def _evaluate(d: Design, lay: _Layout, x: np.ndarray, lam: float, jac: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Residuals (log error per row, then the penalties), their Jacobian, and the predictions."""
    peak = np.exp(x[:lay.n_peak])[d.row_dtype[d.row]]
    bw = np.exp(x[lay.i_bw])
    factor = np.ones(len(d.macs))
    for c in lay.classes:
        factor[d.cls == EFFICIENCY_CLASSES.index(c)] = np.exp(x[lay.i_class[c]])
    a = np.where(d.memory, 0.0, d.macs / peak)
    b = d.bytes_ / bw
    compute = a >= b
    m = np.where(compute, a, b) / factor
    n = d.n_rows
    total = np.bincount(d.row, d.weight * m, minlength=n)
    k = np.exp(x[lay.i_kernel]) * _K_SCALE if lay.i_kernel is not None else 0.0
    o = np.exp(x[lay.i_inference]) * _O_SCALE if lay.i_inference is not None else 0.0
    pred = total + k * d.kernels + o
    pred = np.maximum(pred, 1e-300)
    classes = np.array([lay.i_class[c] for c in lay.classes], dtype=np.int64)
    resid = np.concatenate([np.log(pred) - np.log(d.measured_s), np.sqrt(lam) * x[classes]])
    if not jac:
        return resid, None, pred
    J = np.zeros((n + len(classes), lay.size))
    wa = d.weight * np.where(compute, a, 0.0) / factor
    wb = d.weight * np.where(compute, 0.0, b) / factor
    for i in range(lay.n_peak):
        J[:n, i] = -np.bincount(d.row, np.where(d.row_dtype[d.row] == i, wa, 0.0), minlength=n)
    J[:n, lay.i_bw] = -np.bincount(d.row, wb, minlength=n)
    for c in lay.classes:
        sel = d.cls == EFFICIENCY_CLASSES.index(c)
        J[:n, lay.i_class[c]] = -np.bincount(d.row, np.where(sel, d.weight * m, 0.0), minlength=n)
    if lay.i_kernel is not None:
        J[:n, lay.i_kernel] = k * d.kernels
    if lay.i_inference is not None:
        J[:n, lay.i_inference] = o
    J[:n] /= pred[:, None]
    for j, c in enumerate(classes):
        J[n + j, c] = np.sqrt(lam)
    return resid, J, pred


def _huber(resid: np.ndarray, J: np.ndarray | None, n: int, delta: float
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Residuals whose squares are the Huber loss of the first ``n`` (the rows): quadratic up to
    ``delta``, linear beyond, so a few anomalous measurements cannot drag the whole fit."""
    r = resid.copy()
    big = np.zeros(len(r), dtype=bool)
    big[:n] = np.abs(r[:n]) > delta
    if not big.any():
        return r, J
    a = np.abs(resid[big])
    r[big] = np.sign(resid[big]) * np.sqrt(2 * delta * a - delta ** 2)
    if J is not None:
        J = J.copy()
        J[big] *= (delta / np.abs(r[big]))[:, None]
    return r, J


def _levenberg_marquardt(fun, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, iters: int = 200
                         ) -> tuple[np.ndarray, float]:
    x = np.clip(x0, lo, hi)
    r, J, _ = fun(x)
    cost = float(r @ r)
    mu = 1e-3
    for _ in range(iters):
        g = J.T @ r
        H = J.T @ J
        improved = False
        while mu < 1e12:
            step = np.linalg.solve(H + mu * (np.diag(np.diag(H)) + 1e-9 * np.eye(len(x))), -g)
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
        if not improved or gain <= 1e-12 * max(cost, 1e-12):
            break
    return x, cost


def _init(d: Design, terms: tuple[str, ...]) -> list[np.ndarray]:
    """Starting points: the best Eq. 1 roofline on a ridge-point grid (bandwidth in closed form), with
    the overheads taking a small and a larger share of the time."""
    rps = np.geomspace(0.3, 3000.0, 40)
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
    lay = _Layout(d.dtypes, terms)
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
        starts.append(x)
        if "kernel" not in terms and "inference" not in terms:
            break
    if lay.classes:  # class terms start where they matter: slow classes are bound by their own rate
        x = starts[0].copy()
        for c in lay.classes:
            x[lay.i_class[c]] = np.log(0.1)
        starts.append(x)
    return starts


def fit_params(d: Design, terms: Sequence[str] = (), lam: float | None = None) -> Params:
    """Least-squares fit of the model with ``terms`` beside peak(s) and bandwidth.

    ``lam``: the shrinkage of the class factors; None sets it from the data (empirical Bayes): a
    pilot fit with weak shrinkage gives the residual variance s^2 of log latency, and
    ``lam = s^2 / PRIOR_LOG_SD^2`` (a prior of log factor ~ N(0, PRIOR_LOG_SD^2)). Clean data then keep
    their factors; noisy data have them pulled toward 1.
    """
    terms = tuple(t for t in TERMS if t in terms)
    unknown = set(terms) - set(TERMS)
    if unknown:
        raise RooflineError(f"unknown fit term {sorted(unknown)[0]!r}; use {', '.join(TERMS)}")
    if d.n_rows == 0:
        raise RooflineError("no measurements to fit")
    lay = _Layout(d.dtypes, terms)
    starts = _init(d, terms)
    lo = np.full(lay.size, -np.inf)
    hi = np.full(lay.size, np.inf)
    # the bandwidth stays within a factor 100 of the plain roofline fit's: beyond that every layer is
    # compute-bound, memory terms stop mattering, and the fit drifts to an infinite bandwidth
    b0 = starts[0][lay.i_bw]
    lo[lay.i_bw], hi[lay.i_bw] = b0 - np.log(100.0), b0 + np.log(100.0)
    for i in (lay.i_kernel, lay.i_inference):
        if i is not None:
            lo[i], hi[i] = _LOG_BOUNDS
    for c in lay.classes:
        lo[lay.i_class[c]], hi[lay.i_class[c]] = np.log(FACTOR_RANGE[0]), np.log(FACTOR_RANGE[1])

    def solve(penalty: float, x0s: list[np.ndarray]) -> np.ndarray:
        def robust(v: np.ndarray):
            r, J, pred = _evaluate(d, lay, v, penalty)
            r, J = _huber(r, J, d.n_rows, HUBER_DELTA)
            return r, J, pred

        best = None
        for x0 in x0s:
            x, cost = _levenberg_marquardt(robust, x0, lo, hi)
            if best is None or cost < best[1]:
                best = (x, cost)
        return best[0]

    if lam is None and lay.classes:
        x = solve(PILOT_LAMBDA, starts)
        resid = _evaluate(d, lay, x, 0.0, jac=False)[0][:d.n_rows]
        dof = max(d.n_rows - lay.size, 1)
        s2 = float(np.sum(np.minimum(resid ** 2, HUBER_DELTA ** 2 * 4)) / dof)
        x = solve(max(s2, 1e-8) / PRIOR_LOG_SD ** 2, [x])
    else:
        x = solve(0.0 if lam is None else lam, starts)  # without class factors there is nothing to shrink
    k = float(np.exp(x[lay.i_kernel]) * _K_SCALE) if lay.i_kernel is not None else 0.0
    o = float(np.exp(x[lay.i_inference]) * _O_SCALE) if lay.i_inference is not None else 0.0
    return Params({dt: float(np.exp(x[i])) for i, dt in enumerate(d.dtypes)}, float(np.exp(x[lay.i_bw])),
                  k if k > 1e-15 else 0.0, o if o > 1e-12 else 0.0,
                  {c: float(np.exp(x[lay.i_class[c]])) for c in lay.classes}, terms)


def predict(d: Design, p: Params) -> np.ndarray:
    """Predicted seconds per row of ``d`` with fitted parameters ``p``."""
    missing = [dt for dt in d.dtypes if dt not in p.peak_macs_per_s]
    if missing:
        raise RooflineError(f"no fitted peak for dtype {missing[0]} (the fit saw {', '.join(p.peak_macs_per_s)})")
    lay = _Layout(d.dtypes, p.terms)
    x = np.zeros(lay.size)
    x[:lay.n_peak] = [np.log(p.peak_macs_per_s[dt]) for dt in d.dtypes]
    x[lay.i_bw] = np.log(p.mem_bw_bytes_per_s)
    if lay.i_kernel is not None:
        x[lay.i_kernel] = np.log(max(p.per_kernel_s, 1e-30) / _K_SCALE)
    if lay.i_inference is not None:
        x[lay.i_inference] = np.log(max(p.per_inference_s, 1e-30) / _O_SCALE)
    for c in lay.classes:
        x[lay.i_class[c]] = np.log(p.efficiency[c])
    return _evaluate(d, lay, x, 0.0, jac=False)[2]
