"""Fitting latency models to measured latencies.

- ``fit_roofline``: Eq. 1 alone (the paper reproduction's Table 16): least squares on log
  latency. For a ridge point RP and bandwidth B, model i's predicted latency is
  ``S_i(RP) / B`` with ``S_i(RP) = sum_j max(macs_ij / RP, bytes_ij)``; for each RP the best
  ``log B`` is the mean of ``log S_i - log t_i`` in closed form, and RP is found by a dense
  search over a log-spaced grid (then refined). Peak = RP x B.
- ``fit_measurements`` (``roofline fit``): any table of measurements, the model of
  :mod:`roofline.fit.terms` with its terms chosen and checked by
  :mod:`roofline.fit.selection`, into a profile with a ``validation`` block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from ..core.conventions import Convention, get_convention
from ..engine import layer_costs
from ..core import checks
from ..core.clock import today
from ..core.errors import InvalidInputError, RooflineError
from ..hardware import (Figure, Fitted, HardwareProfile, KernelCost, Overhead,
                        Validation, load_hardware, profile_to_yaml)
from ..core.stats import spearman
from ..trace import LayerTable, trace
from .design import TABLE_GRID, RidgeGrid
from .terms import Params


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
                 rp_range: tuple[float, float] = (TABLE_GRID.low, TABLE_GRID.high), points: int = TABLE_GRID.points
                 ) -> FitResult:
    """Fit RP and bandwidth to measured latencies (seconds); see the module docstring."""
    try:
        measured_s = np.asarray(measured_s, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"measured latencies must be numbers (seconds), got "
                                f"{checks.show(measured_s)}") from None
    if measured_s.ndim != 1:
        raise InvalidInputError("measured latencies must be a flat list of numbers (seconds)")
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

    grid = RidgeGrid(*rp_range, points).values()
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


# --- fitting any table of measurements ---------------------------------------------------------------

@dataclass(frozen=True)
class TableFit:
    """A latency model fitted to a table of measurements, with its cross-validated accuracy."""

    params: Params
    folds: int
    predictions: pd.DataFrame   # per row: measured, in-sample and held-out predictions, MACs baseline
    candidates: pd.DataFrame    # each term set tried, with its held-out error
    band: tuple[float, float]   # 80 % band: held-out measured / predicted, conformal quantiles
    dropped: tuple[tuple[str, str], ...]  # (model, why) of rows that could not be traced
    dtype: str
    convention: str
    execution: str
    data: str
    new_family_band: tuple[float, float] | None = None  # the same without family multipliers

    @property
    def n_rows(self) -> int:
        return len(self.predictions)

    @property
    def n_models(self) -> int:
        return int(self.predictions["model"].nunique())

    def errors(self, column: str) -> dict[str, float]:
        from .selection import summary

        p = self.predictions
        return summary(p["measured_s"].to_numpy(), p[column].to_numpy())

    @property
    def macs_spearman(self) -> float:
        return spearman(self.predictions["measured_s"], self.predictions["macs"])

    @property
    def method(self) -> str:
        how = ("leave-one-model-out" if self.folds >= self.n_models
               else f"{self.folds}-fold grouped by model")
        convs = self.candidates["convention"].nunique() if "convention" in self.candidates else 1
        what = f"convention ({convs} tried) and terms" if convs > 1 else "terms"
        return f"{how} cross-validation; {what} chosen by held-out error among {len(self.candidates)} candidates"

    def validation(self) -> Validation:
        held, ins = self.errors("heldout_s"), self.errors("insample_s")
        macs = self.errors("macs_heldout_s")
        return Validation("fitted", self.data, self.n_rows, self.n_models, self.folds, self.method,
                          held["median"], self.band[0], self.band[1], self.params.terms, ins["median"],
                          held["worst"], held["spearman"], self.macs_spearman, macs["median"],
                          f"roofline fit on {today()}",
                          *(self.new_family_band or (None, None)))

    def profile(self, name: str, kind: str, base: HardwareProfile | None = None) -> HardwareProfile:
        """A profile that predicts with the fitted terms; ``base`` keeps its spec numbers and notes."""
        p = self.params
        bw = p.mem_bw_bytes_per_s
        how = (f"roofline fit on {today()} to {self.data}: least squares on log latency, "
               f"convention {self.convention}, {self.execution} execution; {self.method}; held-out median "
               f"error {self.errors('heldout_s')['median']:.1%}")
        others = {dt: p.ridge_point(dt) for dt in p.peak_macs_per_s if dt != self.dtype}
        fitted = Fitted(self.dtype, p.ridge_point(self.dtype), bw, how, "measured", dict(p.efficiency), others,
                        self.convention, self.execution, dict(p.family),
                        p.reduction_half if "reduction" in p.terms else None)
        over = Overhead(
            {self.execution: KernelCost(p.per_kernel_s, f"fitted ({how})", "measured")}
            if "kernel" in p.terms else {},
            Figure(p.per_inference_s, f"fitted ({how})", "measured") if "inference" in p.terms else None)
        if base is not None:
            keep = {k: getattr(base, k) for k in ("description", "default_dtype", "peak_macs_per_s",
                                                   "mem_bw_bytes_per_s", "on_chip_bytes", "machine",
                                                   "ceilings", "activations_on_chip",
                                                   "activations_on_chip_source")}
            if self.dtype not in keep["peak_macs_per_s"] and self.dtype != keep["default_dtype"]:
                keep["default_dtype"] = self.dtype
            prof = HardwareProfile(name=name, kind=base.kind, fitted=fitted, overhead=over,
                                   validation=self.validation(), **keep)
        else:
            prof = HardwareProfile(
                name=name, kind=kind, description=f"fitted to measured latency ({self.data})",
                default_dtype=self.dtype,
                peak_macs_per_s={dt: Figure(v, f"fitted: dense-conv peak ({how})", "measured")
                                 for dt, v in p.peak_macs_per_s.items()},
                mem_bw_bytes_per_s=Figure(bw, f"fitted effective bandwidth ({how})", "measured"),
                fitted=fitted, overhead=over, validation=self.validation())
        load_hardware(yaml.safe_load(profile_to_yaml(prof)))  # what will be written must load back
        return prof


def _trace_rows(rows: pd.DataFrame, fuse: bool, jobs: int, use_cache: bool, progress
                ) -> list[LayerTable | str]:
    """The trace of every row (library and zoo names cached on disk; user files traced here)."""
    from ..trace.cache import TraceRequest, trace_many
    from ..trace.user_model import USER_MODEL_RESOLUTION, is_model_spec, load_factory

    reqs = [TraceRequest(r.model, None if pd.isna(r.resolution) else int(r.resolution), int(r.batch),
                         None if r.width is None or pd.isna(r.width) else float(r.width), fuse)
            for r in rows.itertuples()]
    named = [q for q in reqs if not is_model_spec(q.model)]
    done = dict(zip(named, trace_many(named, jobs, use_cache, progress)))
    out: list[LayerTable | str] = []
    for q in reqs:
        if q in done:
            out.append(done[q])
            continue
        try:
            module = load_factory(q.model)
            out.append(trace(module, resolution=q.resolution or USER_MODEL_RESOLUTION, batch=q.batch, fuse=fuse))
        except RooflineError as e:
            out.append(str(e))
        if progress:
            progress(q.model)
    return out


def fit_measurements(rows: pd.DataFrame, *, convention: str | Convention | None = None,
                     execution: str | None = None, terms: list[str] | None = None, folds: int = 4,
                     jobs: int = 1, use_cache: bool = True, data: str = "measurements",
                     progress=None, step=None) -> TableFit:
    """Fit the latency model to ``rows`` (as :func:`roofline.fit.measurements.read_measurements` gives)
    and cross-validate it; see :mod:`roofline.fit.selection`. ``convention="auto"`` counts the
    rows both fused (``default``) and unfused and keeps the one with the lower held-out error."""
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise RooflineError(f"folds must be a whole number of at least 2, got {folds!r}")
    return fit_designs(*measurement_designs(rows, convention, execution, jobs, use_cache, progress),
                       terms=terms, folds=folds, data=data, step=step)


def fit_designs(kept: pd.DataFrame, designs: dict, execution: str, dropped: tuple, *,
                terms: list[str] | None = None, folds: int = 4, data: str = "measurements", step=None
                ) -> TableFit:
    """The fit of rows already traced and counted (what :func:`measurement_designs` returns)."""
    from .selection import conformal_band, macs_only_heldout, select
    from .terms import predict

    chosen = select(designs, terms, folds, progress=step)
    conv, params, cv, fold_rows, cands = (chosen.convention, chosen.params_, chosen.cv_, chosen.folds,
                                          chosen.cv_results_)
    d = designs[conv]
    insample = predict(d, params)
    macs_held = macs_only_heldout(d, fold_rows)
    pred = pd.DataFrame({"model": kept["model"], "resolution": kept["resolution"], "batch": kept["batch"],
                         "dtype": kept["dtype"], "measured_s": d.measured_s, "insample_s": insample,
                         "heldout_s": cv.heldout_s, "macs": d.macs_total, "macs_heldout_s": macs_held})
    band = conformal_band(d.measured_s / cv.heldout_s)
    new_family = conformal_band(d.measured_s / cv.heldout_plain_s) if params.family else None
    main = kept["dtype"].value_counts().index[0]
    return TableFit(params, len(fold_rows), pred, cands, band, dropped, str(main), conv, execution, data,
                    new_family)


CONVENTIONS_TRIED = ("default", "unfused")


def measurement_designs(rows: pd.DataFrame, convention: str | Convention | None, execution: str | None,
                        jobs: int = 1, use_cache: bool = True, progress=None):
    """The rows that trace (``kept``), their design under each convention to try, the execution, and
    the rows dropped (model, why)."""
    from ..core.conventions import get_convention
    from ..engine.analysis import resolve_execution
    from .terms import build_design

    if convention == "auto":
        _, execution = resolve_execution(None, execution)
        convs = [get_convention(c) for c in CONVENTIONS_TRIED]
    else:
        conv, execution = resolve_execution(convention, execution)
        convs = [conv]
    traced = {fuse: _trace_rows(rows, fuse, jobs, use_cache, progress) for fuse in dict.fromkeys(c.fused for c in convs)}
    bad = {i for t in traced.values() for i, x in enumerate(t) if isinstance(x, str)}
    ok = [i for i in range(len(rows)) if i not in bad]
    dropped = tuple((rows.iloc[i]["model"], next(t[i] for t in traced.values() if isinstance(t[i], str)))
                    for i in sorted(bad))
    kept = rows.iloc[ok].reset_index(drop=True)
    if kept["model"].nunique() < 3:
        why = f"; {len(dropped)} rows could not be traced (first: {dropped[0][1]})" if dropped else ""
        raise RooflineError(f"fitting needs measurements of at least 3 models, got {kept['model'].nunique()}{why}")
    designs = {c.name: build_design([traced[c.fused][i] for i in ok], list(kept["dtype"]),
                                    kept["latency_s"].to_numpy(), list(kept["model"]), c, execution)
               for c in convs}
    return kept, designs, execution, dropped
