"""A profile for a device with only a spec sheet, from a validated profile of the same kind.

:func:`transfer` ``(target, like)`` keeps ``target``'s name, description and spec numbers and carries
over what the validated profile ``like`` learned from measurements, on the assumption that a device
of the same kind running the same software stack reaches the same fractions of its spec sheet and
is read the same way:

- the fitted peak and bandwidth become ``target``'s spec numbers times ``like``'s fitted / spec
  ratios (its attained share of its spec sheet), for its fitted dtype and for each other dtype it
  fitted where both spec sheets give that dtype's peak;
- ``like``'s reading is kept whole: its counting convention and execution mode, its per-op-class
  efficiency factors, its reduction half-length and its per-kernel (per execution) and
  per-inference costs (the fitted block's source says what was carried);
- family multipliers are not carried: what a device does to a whole architecture is that
  device's, and unknown for the new one. The band is ``like``'s new-family band where it has one
  (its band for a model of a family its fit gave no multiplier), else its band;
- the validation block says ``transferred``, names ``like``, and its band is that band with its
  width (in log) times :data:`WIDEN` = sqrt(2) about its centre: a transfer is a guess that no measurement of
  the new device has checked, so its error is the source's spread over models plus the transfer's own,
  taken as independent and as wide (log-normal spreads add in quadrature). Where that band would leave out
  the prediction itself (measured / predicted = 1), it is widened to 1 and says so.

What it returns is checked to load back (:func:`check_loads`) before anyone can write it.
:func:`derive` (``roofline derive``) builds the target from spec numbers given on the command
line and calls :func:`transfer`; :func:`transfer_source` picks the profile to transfer from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import yaml

from ..core import checks
from ..core.errors import ProfileError, RooflineError
from . import BYTES_PER_ELEMENT, Figure, Fitted, HardwareProfile, KernelCost, Overhead, list_hardware, load_hardware
from .model import MAX_RIDGE_POINT, MIN_RIDGE_POINT
from .write import profile_to_yaml

# a transferred band's log width over its source's: the source's spread and an independent transfer error as
# wide, added in quadrature. Doubled (the two added as if one), the band held 95.7 % of timm's RTX 4090 table and
# 96.7 % of its RTX 5090 table for an 80 % band (benchmarks/check_gpu_derive.py); that check led to this rule
WIDEN = math.sqrt(2.0)

TRANSFERABLE = ("fitted", "measured")  # validation statuses measured on the source device itself


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


def _check_source(like: HardwareProfile, what: str = "derive") -> None:
    """``like`` must be validated against measurements of its own device, with a fit to carry."""
    v = like.validation
    if v is None or like.fitted is None or v.status not in TRANSFERABLE:
        status = like.status if v is None or like.fitted is None else f"{v.status} (not on its own device)"
        raise ProfileError(f"profile {like.name} is {status}: {what} needs a profile validated against "
                           f"measurements of its own device, with a fitted roofline ('roofline hw' shows the "
                           f"status of each)")


def check_loads(p: HardwareProfile, what: str) -> HardwareProfile:
    """``p`` as a file would hold it (``yaml.safe_load`` of :func:`profile_to_yaml`), loaded back by
    :func:`load_hardware`; else one ProfileError saying ``what`` would have been written."""
    try:
        return load_hardware(yaml.safe_load(profile_to_yaml(p)))
    except ProfileError as e:
        msg = str(e).removeprefix("<dict>: ")
        raise ProfileError(f"{what} would not load back, so nothing is written: {msg}") from None


def _carried_figure(f: Figure | None, like: str) -> Figure | None:
    return None if f is None else Figure(f.value, f"transferred from {like}: {f.source}", f.confidence)


def transfer(target: HardwareProfile, like: HardwareProfile | str) -> HardwareProfile:
    """``target`` (its name, description, kind, default dtype, spec numbers, on-chip memory kept) with
    ``like``'s fitted terms, overheads and reading transferred as the module docstring says, validation
    status ``transferred``. Raises ProfileError where it cannot: ``like`` not validated on its own
    device or without a fit, another kind, no spec peak for the fitted dtype in either profile,
    ``target`` validated already, or a result the loader would refuse."""
    like = load_hardware(like)
    _check_source(like, "a transfer")
    v, f = like.validation, like.fitted
    if target.validation is not None:
        raise ProfileError(f"profile {target.name} is {target.status} itself: read its own validated terms, "
                           f"not {like.name}'s")
    if target.kind != like.kind:
        raise ProfileError(f"profile {target.name} is a {target.kind} and {like.name} a {like.kind}: terms "
                           f"transfer only between devices of the same kind")
    dt = f.dtype
    if dt not in like.peak_macs_per_s:
        raise ProfileError(f"profile {like.name} has no spec peak for its fitted dtype {dt}: nothing to scale from")
    if dt not in target.peak_macs_per_s:
        raise ProfileError(f"profile {target.name} has no spec peak for {dt}, the dtype {like.name} was fitted "
                           f"at: nothing to scale to")
    like_bw = f.mem_bw_bytes_per_s or like.mem_bw_bytes_per_s.value
    bw_share = like_bw / like.mem_bw_bytes_per_s.value
    new_bw = target.mem_bw_bytes_per_s.value * bw_share

    def share(d: str, rp: float) -> float:  # like's fitted peak of dtype d / its spec peak
        return rp * like_bw / like.peak_macs_per_s[d].value

    peak_share = share(dt, f.ridge_point_macs_per_byte)
    others = {d: target.peak_macs_per_s[d].value * share(d, rp) / new_bw for d, rp in f.other_dtypes.items()
              if d in like.peak_macs_per_s and d in target.peak_macs_per_s}
    dropped = [d for d in f.other_dtypes if d not in others]
    o = like.overhead
    carried = [f"convention {f.convention or 'default'}", f"{f.execution or 'default'} execution"]
    carried += [f"efficiency factors ({', '.join(f.efficiency)})"] if f.efficiency else []
    carried += ["the reduction half-length"] if f.reduction_half is not None else []
    carried += [f"other-dtype ridge points ({', '.join(others)})"] if others else []
    carried += [f"per-kernel costs ({', '.join(o.per_kernel_s)})"] if o.per_kernel_s else []
    carried += ["the per-inference cost"] if o.per_inference_s else []
    carried += ["the fresh-memory cost"] if o.fresh_memory_s_per_byte else []
    left = [f"family multipliers ({len(f.family)} families: this device's are unknown)"] if f.family else []
    left += [f"the {', '.join(dropped)} ridge point{'s' if len(dropped) > 1 else ''} (no spec peak to scale "
             f"by)"] if dropped else []
    how = (f"transferred from {like.name} ({v.describe()}): its fitted peak is {peak_share:.3g} x and its fitted "
           f"bandwidth {bw_share:.3g} x its spec sheet; the same shares of this device's spec numbers. Carried: "
           f"{', '.join(carried)}" + (f". Not carried: {'; '.join(left)}" if left else ""))
    fitted = Fitted(dt, target.peak_macs_per_s[dt].value * peak_share / new_bw, new_bw, how, "low",
                    dict(f.efficiency), others, f.convention, f.execution, {}, f.reduction_half)
    overhead = Overhead({ex: KernelCost(k.value, f"transferred from {like.name}: {k.source}", k.confidence,
                                        dict(k.by_op)) for ex, k in o.per_kernel_s.items()},
                        _carried_figure(o.per_inference_s, like.name),
                        _carried_figure(o.fresh_memory_s_per_byte, like.name),
                        _carried_figure(o.fresh_memory_share, like.name))
    new_family = v.new_family_ratio_p10 is not None and bool(f.family)
    p10, p90 = (v.new_family_ratio_p10, v.new_family_ratio_p90) if new_family else (v.ratio_p10, v.ratio_p90)
    if not 0 < p10 < p90:
        raise ProfileError(f"profile {like.name}'s band {p10:g} to {p90:g} has no width: nothing to widen")
    mid, half = math.sqrt(p10 * p90), math.sqrt(p90 / p10) ** WIDEN  # the log width times WIDEN about the centre
    lo, hi = mid / half, mid * half
    band = (f"{like.name}'s {'new-family ' if new_family else ''}band {p10:.3g}-{p90:.3g} with its log width "
            f"times sqrt(2) (its spread and a transfer error as wide, independent)")
    if not lo <= 1.0 <= hi:
        band += f" ({lo:.3g}-{hi:.3g}), then widened to hold the prediction itself (1)"
        lo, hi = min(lo, 1.0), max(hi, 1.0)
    validation = replace(v, status="transferred", data=f"none of this device; {like.name}'s: {v.data}",
                         method=f"transferred from {like.name}: {band}; {like.name}'s: {v.method}",
                         terms=tuple(t for t in v.terms if t != "family"), ratio_p10=lo, ratio_p90=hi,
                         new_family_ratio_p10=None, new_family_ratio_p90=None,
                         source=f"roofline derive --like {like.name}")
    out = replace(target, fitted=fitted, overhead=overhead, validation=validation)
    check_loads(out, f"the profile {target.name} transferred from {like.name}")
    return out  # not the loaded copy: a file rounds some numbers (7 digits), the transfer itself is exact


def transfer_source(target: HardwareProfile, candidates: Iterable[HardwareProfile | str] | None = None,
                    dtype: str | None = None) -> HardwareProfile | None:
    """The profile to transfer to ``target`` from, among ``candidates`` (default: the shipped profiles),
    or None where none fits.

    The rule: a candidate must be of ``target``'s kind, validated against measurements of its own
    device (status ``fitted`` or ``measured``) with a fitted roofline, not ``target`` itself, and both
    spec sheets must give a peak for its fitted dtype (:func:`transfer` needs them). Among those, the
    ones fitted at ``dtype`` (default: ``target``'s default dtype) come first, where there are any;
    then the nearest in spec ridge point (peak / bandwidth at the fitted dtype, distance in log: the
    balance of compute and memory decides which layers are bound by which, and so what the fitted
    shares mean); ties go to the one validated on the most models, then to the name (so the choice
    never depends on the order given)."""
    dtype = dtype or target.default_dtype
    pool = []
    for c in list_hardware() if candidates is None else candidates:
        try:
            p = load_hardware(c)
        except RooflineError:
            continue
        f = p.fitted
        if (p.name == target.name or p.kind != target.kind or f is None or p.validation is None
                or p.validation.status not in TRANSFERABLE or f.dtype not in p.peak_macs_per_s
                or f.dtype not in target.peak_macs_per_s):
            continue
        spec_rp = p.peak_macs_per_s[f.dtype].value / p.mem_bw_bytes_per_s.value
        target_rp = target.peak_macs_per_s[f.dtype].value / target.mem_bw_bytes_per_s.value
        pool.append((f.dtype != dtype, abs(math.log(target_rp / spec_rp)), -p.validation.models, p.name, p))
    return min(pool, key=lambda t: t[:4])[-1] if pool else None


def derive(name: str, like: str | HardwareProfile, peak: dict[str, float], bandwidth: float,
           description: str = "", source: str = "") -> HardwareProfile:
    """A transferred profile: ``peak`` (dtype -> MAC/s) and ``bandwidth`` (B/s) from a spec sheet, the rest
    from ``like`` (:func:`transfer`). Refuses, before anything is written, numbers whose ridge point no
    device has and a result the loader would refuse."""
    _check_new_name(name)
    base = load_hardware(like)
    _check_source(base)
    if not peak:
        raise RooflineError("give the new device's peak for at least one dtype (--peak fp16=2e13)")
    for dt in peak:
        if dt not in BYTES_PER_ELEMENT:
            raise RooflineError(f"unknown dtype {dt!r} in --peak; use {', '.join(BYTES_PER_ELEMENT)}")
    peak = {dt: checks.number(v, f"peak {dt}", *checks.MAC_RATE, unit="MAC/s") for dt, v in peak.items()}
    bandwidth = checks.number(bandwidth, "bandwidth", *checks.BYTE_RATE, unit="B/s")
    dt = base.fitted.dtype
    if dt not in peak:
        raise RooflineError(f"{base.name} was validated at {dt}: give --peak {dt}=...")
    for d, v in peak.items():
        rp = v / bandwidth
        if not MIN_RIDGE_POINT <= rp <= MAX_RIDGE_POINT:
            raise RooflineError(f"--peak {d}={v:g} MAC/s over --bw {bandwidth:g} B/s is a ridge point of {rp:g} "
                                f"MAC/B, which no device has (they go from {MIN_RIDGE_POINT:g} to "
                                f"{MAX_RIDGE_POINT:g}): check the units (MAC/s, one MAC = 2 vendor ops; B/s)")
    src = source or "spec sheet (given to roofline derive)"
    target = HardwareProfile(name=name, kind=base.kind, description=description or f"{name} (transferred from "
                             f"{base.name})", default_dtype=dt,
                             peak_macs_per_s={d: Figure(v, src, "medium") for d, v in peak.items()},
                             mem_bw_bytes_per_s=Figure(bandwidth, src, "medium"))
    return transfer(target, base)
