"""A profile's ``validation`` and ``fitted`` blocks checked as a whole: each field may be in range and
the block still say nothing true (a band that leaves out every prediction, more folds than models,
terms no fit has, multipliers for families no model name can have). One ProfileError naming the file
and the field."""

from __future__ import annotations

from ..core.errors import ProfileError
from ..core.taxonomy import EFFICIENCY_CLASSES, is_family_key
from .model import Fitted, Validation

# The fit's term names (roofline.fit.terms.TERMS; hardware cannot import fit, a test keeps them equal).
FIT_TERMS = ("kernel", "inference", "reduction") + EFFICIENCY_CLASSES + ("family",)
MAX_MEDIAN_ERROR = 10.0  # median |predicted / measured - 1|: above, predictions are 11x off on most models
MAX_FAMILY_KEY = 64      # characters (roofline.core.taxonomy.MAX_FAMILY_KEY)


def check_family_keys(family: dict, where: str) -> None:
    """``fitted.family`` keys are families (roofline.core.taxonomy.canonical_family: lower-case letters
    and digits): any other key never matches a model, so it is a mistake, not a multiplier."""
    for k in family:
        key = str(k)
        if not is_family_key(k):
            shown = repr(key) if len(key) <= 40 else f"of {len(key):,} characters"
            raise ProfileError(f"{where}: fitted.family key {shown} is not a model family: a family is a "
                               f"lower-case word of letters and digits (fastvit, mobilenetv2), at most "
                               f"{MAX_FAMILY_KEY} characters, without '_', '-', '.' or ':'")


def check_validation(v: Validation | None, fitted: Fitted | None, where: str) -> Validation | None:
    """The validation block against itself and against the fitted block (and the fitted block's family
    keys)."""
    if fitted is not None:
        check_family_keys(fitted.family, where)
    if v is None:
        return None
    at = f"{where}: validation"
    if v.rows < v.models:
        raise ProfileError(f"{at}.rows = {v.rows} is fewer than validation.models = {v.models}: every model "
                           f"has at least one row")
    if v.folds > v.models:
        raise ProfileError(f"{at}.folds = {v.folds} is more than validation.models = {v.models}: folds are "
                           f"grouped by model (at most one fold per model: leave-one-out)")
    if v.status == "fitted" and v.folds < 2:
        raise ProfileError(f"{at}.folds = {v.folds}: a fit's cross-validation holds out at least 2 folds")
    unknown = [t for t in v.terms if t not in FIT_TERMS]
    if unknown:
        raise ProfileError(f"{at}.terms has unknown term {unknown[0]!r}; fit terms are {', '.join(FIT_TERMS)}")
    if len(set(v.terms)) != len(v.terms):
        twice = next(t for t in v.terms if v.terms.count(t) > 1)
        raise ProfileError(f"{at}.terms lists {twice!r} twice")
    for k in ("heldout_median_error", "insample_median_error", "macs_heldout_median_error"):
        x = getattr(v, k)
        if x is not None and x > MAX_MEDIAN_ERROR:
            raise ProfileError(f"{at}.{k} = {x:g} is not a median error: it is |predicted / measured - 1| "
                               f"(0.05 is 5 %), at most {MAX_MEDIAN_ERROR:g} (predictions 11x off)")
    if v.heldout_worst_error is not None and v.heldout_median_error > v.heldout_worst_error:
        raise ProfileError(f"{at}.heldout_median_error = {v.heldout_median_error:g} is above "
                           f"validation.heldout_worst_error = {v.heldout_worst_error:g}")
    if v.nested_folds is not None and v.nested_folds > v.models:
        raise ProfileError(f"{at}.nested_folds = {v.nested_folds} is more than validation.models = {v.models}")
    if None not in (v.nested_heldout_median_error, v.nested_heldout_worst_error) and \
            v.nested_heldout_median_error > v.nested_heldout_worst_error:
        raise ProfileError(f"{at}.nested_heldout_median_error is above validation.nested_heldout_worst_error")
    if v.status == "fitted" and not v.ratio_p10 <= 1.0 <= v.ratio_p90:
        raise ProfileError(f"{at} band ratio_p10 {v.ratio_p10:g} to ratio_p90 {v.ratio_p90:g} leaves out 1: a "
                           f"fit's held-out measured / predicted ratios lie on both sides of its predictions")
    if v.status != "fitted" or not v.terms or fitted is None:
        return v
    extra = [c for c in fitted.efficiency if c not in v.terms]
    if extra:
        raise ProfileError(f"{where}: fitted.efficiency.{extra[0]} has no term in validation.terms "
                           f"({', '.join(v.terms)}): the fit that was validated did not fit it")
    if fitted.reduction_half is not None and "reduction" not in v.terms:
        raise ProfileError(f"{where}: fitted.reduction_half has no 'reduction' term in validation.terms")
    if fitted.family and "family" not in v.terms:
        raise ProfileError(f"{where}: fitted.family has no 'family' term in validation.terms")
    return v
