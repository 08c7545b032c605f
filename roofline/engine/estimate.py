"""The number to lead with when a reading has no band of its own.

A reading without its own validation (a spec-only profile, ``--spec``, ``--no-overhead``) is not a
prediction measurements have checked: Eq. 1 at the spec sheet's peak and bandwidth is a lower
bound on latency, not an estimate of it (measured latency ran 1.7x to 28x spec-only Eq. 1 on the
validated profiles, ``prior_bands.json``). Such an analysis keeps that number, labelled as what
it is, and carries an :class:`Estimate` whose band holds it, from the first of:

1. ``VALIDATED_READING``: the profile's own validated reading (its fitted roofline with its
   overheads, convention and execution; or the reading a measured profile was validated with),
   where the profile has one;
2. ``PRIOR``: spec-only Eq. 1 times the median of measured / spec-only Eq. 1 over the validated
   profiles of its kind, with the prior's 10th-90th percentile band about it.

A spec-only profile is not transferred automatically from a validated profile of its kind
(``roofline derive --like`` does that on request, for a device known to run the source's software
stack). Checked on measurements no fit saw (``benchmarks/check_spec_estimates.py``): on our own
H200 runs (eager PyTorch, 9 zoo models), rtx3090's terms transferred to the H200 spec sheet missed
by a median 53 % at batch 256 (4 of 9 inside the band) and 7.6x at batch 1, where the prior's
estimate missed by 10 % with 9 of 9 inside its band at batch 256. At batch 1 neither holds (measured latency
is 43x-247x Eq. 1 there, launch-bound): that check is printed, not hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import RooflineError
from ..core.reading import Mode, TextEnum
from ..hardware import HardwareProfile
from .band import Band, prior


class Basis(TextEnum):
    """Where an estimate comes from (see the module docstring)."""

    READING = "reading"                      # the reading itself is validated (or transferred): no detour
    VALIDATED_READING = "validated reading"  # the profile's own validated reading
    PRIOR = "prior"                          # spec-only Eq. 1 x the prior median of its kind


@dataclass(frozen=True)
class Estimate:
    """The calibrated estimate of a model's latency (seconds) and the 80 % band around it."""

    seconds: float
    band: Band
    basis: Basis
    label: str       # how it was made, for the headline

    @property
    def low_s(self) -> float:
        return self.band.around(self.seconds)[0]

    @property
    def high_s(self) -> float:
        return self.band.around(self.seconds)[1]


def estimate(profile: HardwareProfile, dtype: str, reanalyze: Callable[..., object]) -> Estimate | None:
    """The estimate of an unvalidated reading. ``reanalyze(hw, **reading)`` analyses the same model
    on ``hw`` with another reading and returns an :class:`~roofline.engine.analysis.Analysis` (built
    without an estimate of its own); None: there is no honest estimate (a measured profile not yet
    validated: its own microbenchmarks are all it has)."""
    v = profile.validation
    if v is not None and v.ratio_p10 < v.ratio_p90:
        try:
            a = reanalyze(profile, dtype=dtype)
        except RooflineError:
            a = None
        if a is not None and a.band is not None:
            how = ("its validated reading: fitted roofline with its overheads, convention "
                   f"{a.convention.name}, {a.latency.execution} execution" if a.roof.mode == Mode.FITTED
                   else f"its validated reading ({a.roof.mode} roofline)")
            return Estimate(a.total_latency_s, a.band, Basis.VALIDATED_READING, f"{how}; band {a.band.label}")
    if profile.status == "measured, unvalidated":
        return None
    pr = prior(profile.kind)
    if pr is None:
        return None
    try:  # the prior was measured against the default (fused) convention's Eq. 1
        spec = reanalyze(profile, dtype=dtype, mode=Mode.SPEC, overhead=False, convention="default")
    except RooflineError:
        return None  # e.g. an unfused trace handed in as a LayerTable: no fused count to scale
    band = pr.band()
    return Estimate(spec.total_latency_s * pr.median, band, Basis.PRIOR, band.label)
