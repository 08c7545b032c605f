"""Fitting latency models to measured latencies.

- ``fit_roofline``: Eq. 1 alone (the paper reproduction's Table 16): least squares on log
  latency. For a ridge point RP and bandwidth B, model i's predicted latency is
  ``S_i(RP) / B`` with ``S_i(RP) = sum_j max(macs_ij / RP, bytes_ij)``; for each RP the best
  ``log B`` is the mean of ``log S_i - log t_i`` in closed form, and RP is found by a dense
  search over a log-spaced grid (then refined). Peak = RP x B.
- ``fit_measurements`` (``roofline fit``): any table of measurements, the model of
  :mod:`roofline.fit.terms` with its terms chosen and checked by
  :mod:`roofline.fit.selection`, into a profile with a ``validation`` block; with a nested check
  (``outer_folds``), its honest accuracy too: each training part of an outer grouped split runs the
  whole selection and predicts the part it never saw.
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
from ..core.errors import InvalidInputError, ProfileError, RooflineError
from ..hardware import (Figure, Fitted, HardwareProfile, KernelCost, Overhead,
                        Validation, load_hardware, profile_to_yaml)
from ..core.stats import spearman
from ..trace import LayerTable, trace
from .design import TABLE_GRID, RidgeGrid
from .terms import Bounds, Params

NESTED_MIN_MODELS = 12  # the nested check runs by default from this many models (4 outer folds of 3+)
UNEXPLAINED = 10.0      # measured / in-sample predicted above this, or below its inverse: a row the fit cannot explain


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
class NestedCheck:
    """The fit's honest accuracy: an outer grouped ``folds``-fold split (seed 1) in which each training part
    runs the whole selection (convention, terms, band) and predicts the held-out part. ``outer`` per row:
    model, resolution, batch, measured_s, predicted_s, band_low_s, band_high_s, inside_band, macs,
    family_multiplier (whether the training part gave the row's family one). ``fits`` per outer fold: the
    training part's chosen convention and terms, any parameter it left at a bound, and its selection's
    note (the plain roofline fitted because every candidate was dropped)."""

    folds: int
    outer: pd.DataFrame
    fits: pd.DataFrame | None = None  # fold, convention, terms, at_bound, note

    def summary(self) -> dict[str, float]:
        """Median and worst |predicted / measured - 1|, Spearman, and the 80 % band's coverage."""
        from .selection import summary

        o = self.outer
        return {**summary(o["measured_s"].to_numpy(), o["predicted_s"].to_numpy()),
                "coverage": float(o["inside_band"].mean())}


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
    nested: NestedCheck | None = None  # the nested check (None: not run)
    unexplained: pd.DataFrame | None = None  # rows off by 10x or more in-sample: model, resolution, batch, measured_s, predicted_s
    note: str = ""  # why the plain roofline was fitted (every candidate term set dropped), else empty

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
        n = self.nested.summary() if self.nested else {}
        return Validation("fitted", self.data, self.n_rows, self.n_models, self.folds, self.method,
                          held["median"], self.band[0], self.band[1], self.params.terms, ins["median"],
                          held["worst"], held["spearman"], self.macs_spearman, macs["median"],
                          f"roofline fit on {today()}",
                          *(self.new_family_band or (None, None)),
                          nested_heldout_median_error=n.get("median"), nested_heldout_worst_error=n.get("worst"),
                          nested_spearman=n.get("spearman"), nested_band_coverage=n.get("coverage"),
                          nested_folds=self.nested.folds if self.nested else None)

    def profile(self, name: str, kind: str, base: HardwareProfile | None = None) -> HardwareProfile:
        """A profile that predicts with the fitted terms; ``base`` keeps its spec numbers and notes."""
        nested = (f"; nested {self.nested.folds}-fold check: median error {self.nested.summary()['median']:.1%}"
                  if self.nested else "")
        how = (f"roofline fit on {today()} to {self.data}: least squares on log latency, "
               f"convention {self.convention}, {self.execution} execution; {self.method}; held-out median "
               f"error {self.errors('heldout_s')['median']:.1%}{nested}")
        try:
            return fitted_profile(self.params, self.dtype, self.convention, self.execution, how, name, kind, base,
                                  self.validation(), self.data)
        except ProfileError as e:
            u = self.unexplained
            if u is None or not len(u):
                raise
            rows = ", ".join(f"{r.model} (measured {r.measured_s:.3g} s, predicted {r.predicted_s:.3g} s)"
                             for r in u.head(3).itertuples())
            raise ProfileError(f"the fitted profile would not load ({e}); {len(u)} row(s) the fit cannot explain "
                               f"by 10x or more widen its band: {rows}; correct or remove them") from None


def fitted_profile(p: Params, dtype: str, convention: str, execution: str, how: str, name: str, kind: str,
                   base: HardwareProfile | None, validation: Validation | None, data: str = "measurements"
                   ) -> HardwareProfile:
    """The profile of fitted parameters ``p`` (``base`` keeps its spec numbers and notes), loaded back
    (:class:`~roofline.core.errors.ProfileError` where the loader refuses it)."""
    bw = p.mem_bw_bytes_per_s
    others = {dt: p.ridge_point(dt) for dt in p.peak_macs_per_s if dt != dtype}
    fitted = Fitted(dtype, p.ridge_point(dtype), bw, how, "measured", dict(p.efficiency), others,
                    convention, execution, dict(p.family), p.reduction_half if "reduction" in p.terms else None)
    over = Overhead(
        {execution: KernelCost(p.per_kernel_s, f"fitted ({how})", "measured")} if "kernel" in p.terms else {},
        Figure(p.per_inference_s, f"fitted ({how})", "measured") if "inference" in p.terms else None)
    if base is not None:
        keep = {k: getattr(base, k) for k in ("description", "default_dtype", "peak_macs_per_s",
                                               "mem_bw_bytes_per_s", "on_chip_bytes", "machine",
                                               "ceilings", "activations_on_chip",
                                               "activations_on_chip_source")}
        if dtype not in keep["peak_macs_per_s"] and dtype != keep["default_dtype"]:
            keep["default_dtype"] = dtype
        prof = HardwareProfile(name=name, kind=base.kind, fitted=fitted, overhead=over, validation=validation,
                               **keep)
    else:
        prof = HardwareProfile(
            name=name, kind=kind, description=f"fitted to measured latency ({data})",
            default_dtype=dtype,
            peak_macs_per_s={dt: Figure(v, f"fitted: dense-conv peak ({how})", "measured")
                             for dt, v in p.peak_macs_per_s.items()},
            mem_bw_bytes_per_s=Figure(bw, f"fitted effective bandwidth ({how})", "measured"),
            fitted=fitted, overhead=over, validation=validation)
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
                     progress=None, step=None, base: HardwareProfile | None = None,
                     outer_folds: int | None = None) -> TableFit:
    """Fit the latency model to ``rows`` (as :func:`roofline.fit.measurements.read_measurements` gives)
    and cross-validate it; see :mod:`roofline.fit.selection`. ``convention="auto"`` counts the
    rows both fused (``default``) and unfused and keeps the one with the lower held-out error.
    ``base``: the profile whose spec sheet bounds the peak and bandwidth; ``outer_folds``: the nested
    check's folds (0: none; None: 4 from :data:`NESTED_MIN_MODELS` models)."""
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise RooflineError(f"folds must be a whole number of at least 2, got {folds!r}")
    if outer_folds is not None and (not isinstance(outer_folds, int) or isinstance(outer_folds, bool)
                                    or outer_folds < 0 or outer_folds == 1):
        raise RooflineError(f"outer folds must be 0 (no nested check) or a whole number of at least 2, "
                            f"got {outer_folds!r}")
    return fit_designs(*measurement_designs(rows, convention, execution, jobs, use_cache, progress),
                       terms=terms, folds=folds, data=data, step=step, base=base, outer_folds=outer_folds)


def spec_bounds(base: HardwareProfile | None) -> Bounds | None:
    """The spec sheet of ``base`` as the fit's bounds (None: the loader's plausible ranges)."""
    if base is None:
        return None
    return Bounds({dt: f.value for dt, f in base.peak_macs_per_s.items()}, base.mem_bw_bytes_per_s.value)


def fit_designs(kept: pd.DataFrame, designs: dict, execution: str, dropped: tuple, *,
                terms: list[str] | None = None, folds: int = 4, data: str = "measurements", step=None,
                base: HardwareProfile | None = None, outer_folds: int | None = None) -> TableFit:
    """The fit of rows already traced and counted (what :func:`measurement_designs` returns)."""
    from .selection import conformal_band, macs_only_heldout, select
    from .terms import predict

    main = str(kept["dtype"].value_counts().index[0])
    bounds = spec_bounds(base)

    def admit(conv: str, p: Params) -> str | None:
        """Why the loader would refuse a profile of ``p`` (None: it loads)."""
        try:
            fitted_profile(p, main, conv, execution, "a candidate fit", "candidate", base.kind if base else "cpu",
                           base, None)
        except ProfileError as e:
            return f"the profile loader refuses it: {e}"
        return None

    chosen = select(designs, terms, folds, progress=step, bounds=bounds, admit=admit)
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
    ratio = d.measured_s / insample
    off = (ratio > UNEXPLAINED) | (ratio < 1.0 / UNEXPLAINED)
    unexplained = pred.loc[off, ["model", "resolution", "batch", "measured_s", "insample_s"]].rename(
        columns={"insample_s": "predicted_s"}).reset_index(drop=True)
    n_models = kept["model"].nunique()
    k = (4 if n_models >= NESTED_MIN_MODELS else 0) if outer_folds is None else min(outer_folds, n_models)
    if k and n_models - -(-n_models // k) < 3:
        raise RooflineError(f"a nested check with {k} outer folds leaves training parts of fewer than 3 of the "
                            f"{n_models} models; use more outer folds or 0 (no nested check)")
    nested = nested_check(kept, designs, k, terms, folds, bounds, admit) if k else None
    return TableFit(params, len(fold_rows), pred, cands, band, dropped, main, conv, execution, data,
                    new_family, nested, unexplained, chosen.note)


def nested_check(kept: pd.DataFrame, designs: dict, k: int, terms: list[str] | None = None, folds: int = 4,
                 bounds: Bounds | None = None, admit=None) -> NestedCheck:
    """An outer grouped ``k``-fold split (seed 1): each training part runs the whole selection (convention,
    terms, band from its own cross-validation) and predicts the held-out part; a held-out row's band is the
    training part's, or its band without family multipliers where it gave the row's family none."""
    from .selection import conformal_band, group_folds, select
    from .terms import predict

    d0 = next(iter(designs.values()))
    n = d0.n_rows
    pred, lo, hi = np.empty(n), np.empty(n), np.empty(n)
    seen = np.zeros(n, dtype=bool)
    outer = group_folds(d0.groups, k, seed=1)
    every = np.arange(n)
    fits = []
    for i, held in enumerate(outer):
        train = np.setdiff1d(every, held)
        try:
            chosen = select({c: d.subset(train) for c, d in designs.items()}, terms, folds, bounds=bounds, admit=admit)
        except RooflineError as e:
            raise RooflineError(f"the nested check's outer fold {i + 1} of {len(outer)} (its training part: "
                                f"{len(set(d0.groups[train]))} models): {e}; fewer outer folds, or 0, leave it "
                                f"out") from None
        conv, p, cv = chosen.convention, chosen.params_, chosen.cv_
        fits.append({"fold": i + 1, "convention": conv, "terms": ", ".join(p.terms) or "(roofline only)",
                     "at_bound": "; ".join(p.at_bound), "note": chosen.note})
        measured = designs[conv].measured_s[train]
        q = conformal_band(measured / cv.heldout_s)
        qn = conformal_band(measured / cv.heldout_plain_s) if p.family else q  # a family the fit has not seen
        pred[held] = predict(designs[conv].subset(held), p)
        seen[held] = [f is not None and f in p.family for f in designs[conv].family[held]]
        lo[held] = pred[held] * np.where(seen[held], q[0], qn[0])
        hi[held] = pred[held] * np.where(seen[held], q[1], qn[1])
    inside = (d0.measured_s >= lo) & (d0.measured_s <= hi)
    return NestedCheck(len(outer), pd.DataFrame({
        "model": kept["model"], "resolution": kept["resolution"], "batch": kept["batch"], "measured_s": d0.measured_s,
        "predicted_s": pred, "band_low_s": lo, "band_high_s": hi, "inside_band": inside, "macs": d0.macs_total,
        "family_multiplier": seen}), pd.DataFrame(fits))


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
                                    kept["latency_s"].to_numpy(), list(kept["model"]), c, execution,
                                    list(kept["family"]) if "family" in kept else None)
               for c in convs}
    return kept, designs, execution, dropped
