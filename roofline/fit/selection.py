"""Honest accuracy: grouped cross-validation, term selection by held-out error, error bands.

- Folds are grouped by model: a model measured at several resolutions or batches
  is held out whole, so a fold never predicts a model it has seen.
- ``k`` folds (default 4), or leave-one-model-out when there are fewer than 20
  models.
- The term set is the one with the lowest held-out error among a ladder of
  nested candidates (Eq. 1 roofline -> + overheads -> + compute classes ->
  + memory classes, each with and without family multipliers), and a forward
  step from the ladder's best set (the reduction half-length added to it, and
  to it without its class factors); a simpler set wins ties.
- A candidate whose fit on any fold, or on every row, leaves a parameter at a bound
  (:func:`roofline.fit.terms.fit_params`: peak or bandwidth at their multiples of the
  spec sheet, a factor at 0.01 or 100, a half-length at 1e5; a degenerate, unidentified
  fit), or whose profile the loader would refuse, is dropped (``cv_results_.dropped``
  says why) and never chosen. If every candidate is, the plain roofline is.
- The 80 % band of a prediction is [p x q_lo, p x q_hi], q_lo and q_hi the
  split-conformal quantiles of held-out measured / predicted: with n held-out
  ratios, the floor(0.1 (n + 1))-th and ceil(0.9 (n + 1))-th smallest (the extremes
  when n is too small for them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..core.errors import RooflineError
from ..core.stats import spearman
from ..core.taxonomy import COMPUTE_CLASSES, MEMORY_CLASSES
from .terms import OVERHEAD_TERMS, SHAPE_TERMS, TERMS, Bounds, Design, Params, fit_params, predict

LOO_BELOW = 20  # models: fewer than this are cross-validated leave-one-model-out


def group_folds(groups: Sequence[str], k: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Row indices of each held-out fold; every group (model) lies in exactly one fold."""
    groups = np.asarray(groups, dtype=object)
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise RooflineError("cross-validation needs measurements of at least 2 models")
    k = len(names) if k <= 0 else min(k, len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: j % k for j, i in enumerate(order)}
    return [np.flatnonzero([fold_of[g] == f for g in groups]) for f in range(k)]


def default_folds(n_models: int, k: int = 4) -> int:
    """``k``, or leave-one-out (0) below :data:`LOO_BELOW` models."""
    return 0 if n_models < LOO_BELOW else k


def conformal_band(ratios: np.ndarray, coverage: float = 0.8) -> tuple[float, float]:
    """Lower and upper multipliers of a prediction that cover ``coverage`` of held-out ratios."""
    r = np.sort(np.asarray(ratios, dtype=np.float64))
    n = len(r)
    if n == 0:
        raise RooflineError("no held-out ratios to make a band from")
    alpha = (1.0 - coverage) / 2.0
    lo_k = math.floor(alpha * (n + 1) + 1e-9)  # 1e-9: (1 - 0.8) / 2 is 0.09999999999999998 in floats
    hi_k = math.ceil((1.0 - alpha) * (n + 1) - 1e-9)
    lo = r[lo_k - 1] if lo_k >= 1 else r[0]
    hi = r[hi_k - 1] if hi_k <= n else r[-1]
    return float(lo), float(hi)


def supported(n_models: int, terms: Sequence[str], n_dtypes: int = 1) -> bool:
    """Unshrunk parameters (peaks, bandwidth, overheads, the reduction half-length) need two more
    training models than their count."""
    unshrunk = n_dtypes + 1 + sum(t in OVERHEAD_TERMS or t in SHAPE_TERMS for t in terms)
    return n_models >= unshrunk + 2


def candidates(d: Design) -> list[tuple[str, ...]]:
    """The nested term sets tried, simplest first, that the data supports (the reduction half-length
    is tried after them: :func:`with_shape`)."""
    n_models = len(set(d.groups.tolist()))
    present = d.present_terms()
    ladder = [()]
    for over in (("kernel", "inference"), ("kernel",), ("inference",)):
        if supported(_train_models(n_models), over, len(d.dtypes)):
            ladder.append(over)
            break
    base = ladder[-1]
    comp = tuple(c for c in present if c in COMPUTE_CLASSES)
    mem = tuple(c for c in present if c in MEMORY_CLASSES)
    if comp:
        ladder.append(base + comp)
    if mem:
        ladder.append(base + comp + mem)
    fams = d.families()
    if fams and len(set(d.family.tolist())) >= 2:  # a family effect beside others, not the overall scale
        ladder += [t + ("family",) for t in ladder]
    return ladder


def _train_models(n_models: int) -> int:
    """Models in the smallest training part of a 4-fold (or leave-one-out) split."""
    return n_models - max(1, n_models // 4)


def with_shape(d: Design, best: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The forward step tried after the ladder: the reduction half-length added to the ladder's best
    set, and to that set without its class factors (a layer's reduction length and its op class
    explain much the same layers: a depthwise conv has 9 MACs per output), where the training folds
    can carry one more unshrunk parameter. Trying it on every rung would double the fit's time."""
    if any(t in best for t in SHAPE_TERMS):
        return []
    n_models = len(set(d.groups.tolist()))
    out = []
    for keep in (best, tuple(t for t in best if t in OVERHEAD_TERMS or t == "family")):
        grown = tuple(x for x in TERMS if x in keep or x in SHAPE_TERMS)
        if grown not in out and supported(_train_models(n_models), grown, len(d.dtypes)):
            out.append(grown)
    return out


@dataclass(frozen=True)
class CVResult:
    terms: tuple[str, ...]
    heldout_s: np.ndarray  # per row: predicted by the fold that held it out
    heldout_plain_s: np.ndarray | None = None  # the same without family multipliers (a new family's view)
    at_bound: str = ""  # the first fold whose fit left a parameter at a bound, and which ("": none)

    def errors(self, measured: np.ndarray) -> np.ndarray:
        return np.abs(self.heldout_s / measured - 1.0)

    def score(self, measured: np.ndarray) -> float:
        """Mean absolute log error on held-out rows (the selection criterion)."""
        return float(np.mean(np.abs(np.log(self.heldout_s / measured))))


def cross_validate(d: Design, terms: Sequence[str], folds: list[np.ndarray], lam: float | None = None,
                   bounds: Bounds | None = None) -> CVResult:
    """Held-out predictions of ``terms`` fitted on all folds but one, for each fold."""
    out = np.empty(d.n_rows)
    plain = np.empty(d.n_rows)
    every = np.arange(d.n_rows)
    at_bound = ""
    for i, held in enumerate(folds):
        train = np.setdiff1d(every, held)
        train_d = d.subset(train)
        t = tuple(x for x in terms if x not in OVERHEAD_TERMS + SHAPE_TERMS or supported(
            len(set(train_d.groups.tolist())), [x], len(d.dtypes)))
        p = fit_params(train_d, t, lam, bounds)
        if p.at_bound and not at_bound:
            at_bound = f"fold {i + 1} of {len(folds)}: {p.at_bound[0]}"
        held_d = d.subset(held)
        out[held] = predict(held_d, p)
        plain[held] = predict(held_d, replace(p, family={})) if p.family else out[held]
    return CVResult(tuple(terms), out, plain, at_bound)


def macs_only_heldout(d: Design, folds: list[np.ndarray]) -> np.ndarray:
    """Held-out predictions of the MAC-count baseline ``t = c_dtype x MACs`` (c by log least squares)."""
    out = np.empty(d.n_rows)
    every = np.arange(d.n_rows)
    for held in folds:
        train = np.setdiff1d(every, held)
        for i, _ in enumerate(d.dtypes):
            tr = train[d.row_dtype[train] == i]
            h = held[d.row_dtype[held] == i]
            if not len(h):
                continue
            if not len(tr):
                tr = train
            c = np.exp(np.mean(np.log(d.measured_s[tr]) - np.log(d.macs_total[tr])))
            out[h] = c * d.macs_total[h]
    return out


@dataclass(frozen=True)
class Selection:
    """What :func:`select` chose: the convention and term set with the best held-out score, refitted
    on every row (``params_``), its cross-validation (``cv_``), the folds, and every candidate tried
    with its held-out median error, score and why it was dropped (``cv_results_``, one row each,
    ``chosen`` marking the winner; ``dropped`` empty where it was not). ``note``: why the plain
    roofline was chosen when every candidate was dropped."""

    convention: str
    params_: Params
    cv_: CVResult
    folds: list[np.ndarray]
    cv_results_: pd.DataFrame
    note: str = ""


def select(designs: Design | dict[str, Design], terms: Sequence[str] | None = None, k: int = 4,
           lam: float | None = None, progress: Callable[[str], None] | None = None, bounds: Bounds | None = None,
           admit: Callable[[str, Params], str | None] | None = None) -> Selection:
    """Choose the counting convention and the term set by grouped CV (or take ``terms``), then fit
    the choice on every row. ``designs``: the same rows counted under each convention tried;
    ``bounds``: the spec sheet the peak and bandwidth stay near; ``admit(convention, params)``: why a
    final fit cannot be used (the loader's refusal), or None."""
    if isinstance(designs, Design):
        designs = {"": designs}
    first = next(iter(designs.values()))
    n_models = len(set(first.groups.tolist()))
    folds = group_folds(first.groups, default_folds(n_models, k))
    if terms is not None:
        unknown = [t for t in terms if t not in TERMS]
        if unknown:
            raise RooflineError(f"unknown term {unknown[0]!r}; use {', '.join(TERMS)}")
        if not supported(n_models, terms, len(first.dtypes)):
            raise RooflineError(f"fitting {', '.join(terms) or 'ridge point and bandwidth'} needs measurements "
                                f"of more models than {n_models}")
    tasks = [(conv, terms_i) for conv, d in designs.items()
             for terms_i in ([tuple(t for t in TERMS if t in terms)] if terms is not None else candidates(d))]
    rows, results = [], []

    def run(conv: str, terms_i: tuple[str, ...]) -> None:
        if progress:
            progress(f"{conv} {'+'.join(terms_i) or 'roofline'}".strip())
        d = designs[conv]
        cv = cross_validate(d, terms_i, folds, lam, bounds)
        results.append((conv, cv))
        rows.append({"convention": conv, "terms": ", ".join(terms_i) or "(roofline only)",
                     "heldout_median_error": float(np.median(cv.errors(d.measured_s))),
                     "score": cv.score(d.measured_s), "dropped": cv.at_bound})

    for conv, terms_i in tasks:  # one process: forked workers were slower (OpenBLAS already uses the cores)
        run(conv, terms_i)
    if terms is None:  # the forward step: each convention's best kept set with the reduction half-length
        for conv in designs:
            mine = [i for i, (c, _) in enumerate(results) if c == conv and not rows[i]["dropped"]]
            if mine:
                best_i = min(mine, key=lambda i: rows[i]["score"])
                for grown in with_shape(designs[conv], results[best_i][1].terms):
                    run(conv, grown)
    best, params, note = None, None, ""
    # best score first; ties (to 1e-12): the simpler, listed first. The winner's fit on every row must be sound too.
    for i in sorted((i for i, r in enumerate(rows) if not r["dropped"]), key=lambda i: (round(rows[i]["score"], 12), i)):
        conv, cv = results[i]
        p = fit_params(designs[conv], cv.terms, lam, bounds)
        why = p.at_bound[0] if p.at_bound else (admit(conv, p) if admit else None)
        if not why:
            best, params = i, p
            break
        rows[i]["dropped"] = f"fit on every row: {why}"
    if best is None:  # every candidate dropped: the plain roofline (its bandwidth is bounded: it cannot drift)
        plain = [i for i, (_, cv) in enumerate(results) if not cv.terms]
        if not plain:
            run(next(iter(designs)), ())
            plain = [len(rows) - 1]
        best = min(plain, key=lambda i: (rows[i]["score"], i))
        conv, cv = results[best]
        params = fit_params(designs[conv], (), lam, bounds)
        note = (f"every candidate term set was dropped (first: {rows[0]['terms']}: {rows[0]['dropped']}); "
                f"fitted the plain roofline instead")
    table = pd.DataFrame(rows)
    table["chosen"] = [i == best for i in range(len(rows))]
    conv, cv = results[best]
    return Selection(conv, params, cv, folds, table, note)


def summary(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Median and worst |predicted / measured - 1| and Spearman of predicted vs measured."""
    e = np.abs(predicted / measured - 1.0)
    return {"median": float(np.median(e)), "worst": float(e.max()),
            "spearman": spearman(measured, predicted) if len(measured) > 2 else float("nan")}
