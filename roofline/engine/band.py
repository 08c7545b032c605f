"""How far to trust a prediction: an 80 % band from held-out measurements.

- A profile with a ``validation`` block (``roofline fit``, ``roofline derive``, or
  ``roofline validate --save-band`` for a measured profile) carries the 10th and 90th percentile of
  measured / predicted on rows its fit never saw; the band is the prediction
  times those two numbers.
- Any other reading (a spec-only profile, ``--spec``, ``--no-overhead``, another
  dtype than the one validated) gets the prior band of its kind of hardware:
  measured / spec-only prediction over the rows of every validated profile of that
  kind (``prior_bands.json``, written by ``roofline reproduce profiles``), and
  is labelled unvalidated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..core.reading import Mode
from ..hardware import HardwareProfile, Roof

PRIOR_FILE = "prior_bands.json"


@dataclass(frozen=True)
class Band:
    """Multipliers of a prediction that bound 80 % of measurements, and where they come from."""

    low_ratio: float
    high_ratio: float
    label: str        # "4-fold CV over 19 models", "prior for spec-only gpu profiles ..."
    validated: bool   # from this profile's own held-out measurements

    def around(self, seconds: float) -> tuple[float, float]:
        return seconds * self.low_ratio, seconds * self.high_ratio


@cache
def prior_bands() -> dict:
    """The shipped prior bands per kind of hardware (empty when the file is missing)."""
    try:
        text = (resources.files("roofline.engine") / PRIOR_FILE).read_text(encoding="utf-8")
    except (OSError, FileNotFoundError):
        return {}
    return json.loads(text)


def prior_band(kind: str, status: str) -> Band | None:
    """The prior band of ``kind`` (else of all kinds pooled), labelled with ``status``."""
    priors = prior_bands().get("kinds", {})
    entry = priors.get(kind) or priors.get("all")
    if not entry:
        return None
    which = kind if kind in priors else "all kinds"
    return Band(entry["low"], entry["high"],
                f"{status}; prior band of spec-only predictions on {entry['profiles']} validated {which} "
                f"profiles ({entry['rows']} measurements)", False)


def validated_reading(profile: HardwareProfile, roof: Roof, overhead: bool | None, convention: str = "",
                      execution: str = "") -> bool:
    """Whether a prediction reads the profile as its validation did: a fitted (or transferred)
    profile through its fitted roofline with its overhead terms, convention and execution; a measured
    one through its calibrated ceilings."""
    v = profile.validation
    if v is None or overhead is False:
        return False
    if v.status == "measured":  # validated by real runs: the reading they used (validate writes it), else the default
        return roof.mode == (v.reading or profile.roof(roof.dtype).mode)
    f = profile.fitted
    same = f is None or ((not f.convention or f.convention == convention) and
                         (not f.execution or f.execution == execution))
    return roof.mode == Mode.FITTED and same


def band_for(profile: HardwareProfile, roof: Roof, overhead: bool | None = None, convention: str = "",
             execution: str = "", model: str | None = None) -> Band | None:
    """The band of a prediction of ``model`` made with ``roof`` (and the overhead, convention and
    execution of ``analyze``). A fit with family multipliers has a wider band for a model of a family
    it did not see (held-out errors without the multipliers)."""
    v = profile.validation
    if v is not None and validated_reading(profile, roof, overhead, convention, execution):
        if v.status == "measured":
            return Band(v.ratio_p10, v.ratio_p90, f"measured: real runs of {v.models} models it never saw", True)
        how = "leave-one-out" if v.folds >= v.models else f"{v.folds}-fold CV"
        f = profile.fitted
        if (v.new_family_ratio_p10 is not None and f is not None and f.family
                and (model is None or f.family_factor(model) is None)):
            return Band(v.new_family_ratio_p10, v.new_family_ratio_p90,
                        f"{v.status}: {how} over {v.models} models; a family the fit did not see", True)
        return Band(v.ratio_p10, v.ratio_p90, f"{v.status}: {how} over {v.models} models", True)
    if v is None and profile.status == "measured, unvalidated":
        return None  # microbenchmarks, not a spec sheet: the spec-only prior does not describe it
    status = profile.status if v is None else f"{profile.status} profile, unvalidated reading"
    return prior_band(profile.kind, status)


def no_band_reason(profile: HardwareProfile) -> str:
    if profile.status == "measured, unvalidated":
        return "no band until 'roofline validate --save-band' checks this profile against real runs"
    return "no band: no validated profile of its kind ships"
