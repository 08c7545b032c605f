"""How far to trust a prediction: an 80 % band from held-out measurements.

- A profile with a ``validation`` block (``roofline fit``, ``roofline derive``, or
  ``roofline validate --save-band`` for a measured profile) carries the 10th and 90th percentile of
  measured / predicted on rows its fit never saw; the band is the prediction
  times those two numbers.
- Any other reading (a spec-only profile, ``--spec``, ``--no-overhead``) has no band of its own:
  its number is printed as what it is (Eq. 1 at the spec sheet: a lower bound), and
  :mod:`roofline.engine.estimate` leads with a calibrated estimate whose band does hold. The last
  resort of that estimate is the prior of its kind of hardware: measured / spec-only prediction
  over the rows of every validated profile of that kind (``prior_bands.json``, written by
  ``roofline reproduce profiles``), centred on its median.

A band always holds its own point (``low_ratio <= 1 <= high_ratio``; a held-out band that would
exclude it is widened to it) and never has zero width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..core.reading import Mode
from ..hardware import HardwareProfile, Roof
from .predict import model_family

PRIOR_FILE = "prior_bands.json"


@dataclass(frozen=True)
class Band:
    """Multipliers of a prediction that bound 80 % of measurements, and where they come from."""

    low_ratio: float
    high_ratio: float
    label: str        # "4-fold CV over 19 models", "prior for spec-only gpu profiles ..."
    validated: bool   # from this profile's own held-out measurements

    def __post_init__(self) -> None:
        # a band holds the number it is printed around: a held-out band off to one side (a biased fit,
        # a few models) is widened to the prediction, not printed beside it
        object.__setattr__(self, "low_ratio", min(float(self.low_ratio), 1.0))
        object.__setattr__(self, "high_ratio", max(float(self.high_ratio), 1.0))

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


@dataclass(frozen=True)
class Prior:
    """The prior of a kind of hardware: measured / spec-only Eq. 1 (10th, 50th and 90th percentile)
    over the measurements of its validated profiles."""

    low: float
    median: float
    high: float
    kind: str        # the kind, or "all kinds" where the kind has no validated profile
    profiles: int
    rows: int

    def band(self) -> Band:
        """The band around the prior's estimate (spec-only Eq. 1 x median)."""
        return Band(self.low / self.median, self.high / self.median,
                    f"prior: measured / spec-only Eq. 1 on {self.profiles} validated {self.kind} profiles "
                    f"({self.rows} measurements), x{self.median:.3g} at the median", False)


def prior(kind: str) -> Prior | None:
    """The prior of ``kind`` (else of all kinds pooled). Files written before the median was stored
    centre on the band's geometric middle."""
    priors = prior_bands().get("kinds", {})
    entry = priors.get(kind) or priors.get("all")
    if not entry:
        return None
    med = entry.get("median") or (entry["low"] * entry["high"]) ** 0.5
    return Prior(entry["low"], med, entry["high"], kind if kind in priors else "all kinds", entry["profiles"],
                 entry["rows"])


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
             execution: str = "", model: str | None = None, family: str | None = None) -> Band | None:
    """The band of a prediction of ``model`` made with ``roof`` (and the overhead, convention and
    execution of ``analyze``), where the profile's validation read it so; else None (the reading is
    unvalidated: see :mod:`roofline.engine.estimate`). A fit with family multipliers has a wider band
    for a model of a family it did not see (held-out errors without the multipliers; the family is
    ``family`` where given, else the model's: :func:`~roofline.engine.predict.model_family`). A transferred
    profile's band is not ``validated``: no measurement of the device checked it."""
    v = profile.validation
    if v is not None and not v.ratio_p10 < v.ratio_p90:
        return None  # a band of zero width (a validation run of too few models) bounds nothing
    if v is not None and validated_reading(profile, roof, overhead, convention, execution):
        if v.status == "measured":
            return Band(v.ratio_p10, v.ratio_p90, f"measured: real runs of {v.models} models it never saw", True)
        how = "leave-one-out" if v.folds >= v.models else f"{v.folds}-fold CV"
        own = v.status != "transferred"
        f = profile.fitted
        if (v.new_family_ratio_p10 is not None and f is not None and f.family
                and f.family_factor(model_family(model, family)) is None):
            return Band(v.new_family_ratio_p10, v.new_family_ratio_p90,
                        f"{v.status}: {how} over {v.models} models; a family the fit did not see", own)
        return Band(v.ratio_p10, v.ratio_p90, f"{v.status}: {how} over {v.models} models", own)
    return None


def no_band_reason(profile: HardwareProfile) -> str:
    v = profile.validation
    if v is not None and not v.ratio_p10 < v.ratio_p90:
        return (f"no band: its validation band has zero width ({v.ratio_p10:.3g}-{v.ratio_p90:.3g}); validate "
                f"more models")
    if profile.status == "measured, unvalidated":
        return "no band until 'roofline validate --save-band' checks this profile against real runs"
    return "no band: no validated profile of its kind ships"
