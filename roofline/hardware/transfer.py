"""A profile for a device with only a spec sheet, from a validated profile of the same kind.

``derive(name, like, peak={"fp16": ...}, bandwidth=...)`` keeps the new device's
spec numbers and carries over what the validated profile ``like`` learned from
measurements, on the assumption that a device of the same kind running the same
software stack reaches the same fractions of its spec:

- the fitted peak and bandwidth become the new spec numbers times the ratios
  fitted / spec of ``like`` (its attained share of the spec sheet);
- the per-op-class efficiency factors, the reduction half-length and the
  per-kernel and per-inference costs are copied;
- the validation block says ``transferred``, names ``like``, and its band is
  ``like``'s with its width (in log) doubled about its centre: a transfer is a
  guess that no measurement of the new device has checked.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..core import checks
from ..core.errors import ProfileError, RooflineError
from . import BYTES_PER_ELEMENT, Figure, Fitted, HardwareProfile, list_hardware, load_hardware


def _check_new_name(name: object) -> None:
    """The new profile's name: one line of text, not a shipped profile's (``--hw NAME`` would still find
    the shipped one, and the derived profile would be shadowed)."""
    if not isinstance(name, str) or not name.strip():
        raise RooflineError(f"the new profile needs a name, got {checks.show(name)}")
    if name != name.strip() or any(not c.isprintable() for c in name):
        raise RooflineError(f"profile name {name!r} must be one line of text without leading or trailing "
                            f"spaces or control characters")
    if name in list_hardware():
        raise RooflineError(f"{name!r} is a shipped profile: --hw {name} would still read the shipped one; "
                            f"give the new device another name")


def derive(name: str, like: str | HardwareProfile, peak: dict[str, float], bandwidth: float,
           description: str = "", source: str = "") -> HardwareProfile:
    """A transferred profile: ``peak`` (dtype -> MAC/s) and ``bandwidth`` (B/s) from a spec sheet."""
    _check_new_name(name)
    base = load_hardware(like)
    if base.validation is None or base.fitted is None:
        raise ProfileError(f"profile {base.name} is {base.status}: derive needs a profile validated against "
                           f"measurements ('roofline hw' shows the status of each)")
    if not peak:
        raise RooflineError("give the new device's peak for at least one dtype (--peak fp16=2e13)")
    for dt in peak:
        if dt not in BYTES_PER_ELEMENT:
            raise RooflineError(f"unknown dtype {dt!r} in --peak; use {', '.join(BYTES_PER_ELEMENT)}")
    peak = {dt: checks.number(v, f"peak {dt}", *checks.MAC_RATE, unit="MAC/s") for dt, v in peak.items()}
    bandwidth = checks.number(bandwidth, "bandwidth", *checks.BYTE_RATE, unit="B/s")
    f = base.fitted
    dt = f.dtype
    if dt not in base.peak_macs_per_s:
        raise ProfileError(f"profile {base.name} has no spec peak for its fitted dtype {dt}: nothing to scale from")
    if dt not in peak:
        raise RooflineError(f"{base.name} was validated at {dt}: give --peak {dt}=...")
    peak_share = f.ridge_point_macs_per_byte * (f.mem_bw_bytes_per_s or base.mem_bw_bytes_per_s.value) / \
        base.peak_macs_per_s[dt].value
    bw_share = (f.mem_bw_bytes_per_s or base.mem_bw_bytes_per_s.value) / base.mem_bw_bytes_per_s.value
    new_bw = bandwidth * bw_share
    src = source or "spec sheet (given to roofline derive)"
    how = (f"transferred from {base.name} ({base.validation.describe()}): its fitted peak is {peak_share:.3g} x "
           f"and its fitted bandwidth {bw_share:.3g} x its spec sheet; the same shares of this device's spec "
           f"numbers, with its efficiency factors and overheads (not its family multipliers)")
    others = {d: peak[d] * peak_share / new_bw for d in peak if d != dt}
    fitted = Fitted(dt, peak[dt] * peak_share / new_bw, new_bw, how, "low", dict(f.efficiency), others,
                    reduction_half=f.reduction_half)
    v = base.validation
    # family multipliers are the source device's runtime, not this device's: none carry over, so the
    # band starts from the source's band without them (its new-family band) where it has one
    p10, p90 = ((v.new_family_ratio_p10, v.new_family_ratio_p90) if v.new_family_ratio_p10 is not None
                else (v.ratio_p10, v.ratio_p90))
    width = math.sqrt(p90 / p10)
    validation = replace(v, status="transferred", data=f"none of this device; {base.name}'s: {v.data}",
                         method=f"transferred from {base.name}, band widened (log width doubled); {v.method}",
                         ratio_p10=p10 / width, ratio_p90=p90 * width, new_family_ratio_p10=None,
                         new_family_ratio_p90=None, source=f"roofline derive --like {base.name}")
    return HardwareProfile(
        name=name, kind=base.kind, description=description or f"{name} (transferred from {base.name})",
        default_dtype=dt, peak_macs_per_s={d: Figure(v_, src, "medium") for d, v_ in peak.items()},
        mem_bw_bytes_per_s=Figure(bandwidth, src, "medium"), fitted=fitted, overhead=base.overhead,
        validation=validation)
