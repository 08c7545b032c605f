"""The latency formula, once: what ``analyze``, the ridge-point sweep and the fit all compute.

Per layer (or per entry of a fit's design) ``j``::

    a_j       = macs_j / peak * (1 + slow_j)     slow_j = h / R_j with a fitted reduction term, else none
    b_j       = bytes_j / bw                     0 where bw is infinite (memory is free)
    latency_j = max(a_j, b_j) / factor_j         the layer's efficiency-class factor (1 without one)

This is Eq. 1 of Qin et al. 2024 (``max(MAC time, memory time)``) with the fitted terms of
:mod:`roofline.fit.terms`. ``peak`` and ``bw`` broadcast: a scalar, one value per layer (measured
ceilings), or a column of rooflines against a row of layers (a sweep's ridge points). Per model::

    total = (sum_j latency_j + per-kernel costs + per-inference cost) * g_F

with ``g_F`` the fitted multiplier of the model's family, where the profile's fit has one
(:func:`family_multiplier`).

Callers keep their own arithmetic order by what they pass: the fit passes MACs and bytes already
multiplied by each entry's weight (``weighted_macs / peak``), the engine per-layer values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.reading import Mode
from ..hardware import HardwareProfile


@dataclass(frozen=True)
class LayerTimes:
    """Eq. 1's two sides per layer (before the class factor) and the layer latency (after it)."""

    mac_s: np.ndarray      # a = macs / peak x (1 + slow)
    mem_s: np.ndarray      # b = bytes / bw
    latency_s: np.ndarray  # max(a, b) / factor
    factor: Any = None     # per-layer class factor (array or scalar); None: 1

    @property
    def compute_bound(self) -> np.ndarray:
        """Where the MAC side sets the latency (``a >= b``: a tie counts as compute-bound)."""
        return self.mac_s >= self.mem_s

    @property
    def mac_time_s(self) -> np.ndarray:
        """Seconds of the layer's MACs at its class's rate: ``a / factor``."""
        return self.mac_s if self.factor is None else self.mac_s / self.factor

    @property
    def mem_time_s(self) -> np.ndarray:
        """Seconds of the layer's bytes at its class's rate: ``b / factor``."""
        return self.mem_s if self.factor is None else self.mem_s / self.factor


def layer_times(macs: np.ndarray, bytes_: np.ndarray, peak: Any, bw: Any, factor: Any = None,
                slow: Any = None) -> LayerTimes:
    """Eq. 1 with the fitted terms, per layer (see the module docstring); broadcasts every argument.

    ``peak``: MAC/s (scalar, per layer, or a column of rooflines); ``bw``: bytes/s (``inf``: memory is
    free, ridge point 0); ``factor``: each layer's class factor (None: 1); ``slow``: each layer's
    reduction slow-down ``h / R`` (None: no reduction term)."""
    peak = np.asarray(peak, dtype=np.float64)
    bw = np.asarray(bw, dtype=np.float64)
    a = macs / peak
    if slow is not None:
        a = a * (1.0 + slow)
    with np.errstate(divide="ignore"):
        b = np.where(np.isinf(bw), 0.0, bytes_ / bw)
    lat = np.maximum(a, b)
    if factor is not None:
        lat = lat / factor
    return LayerTimes(a, b, lat, factor)


def model_total(layers_s: Any, per_kernel_s: Any = 0.0, per_inference_s: Any = 0.0, family: Any = 1.0,
                floor: float | None = None) -> Any:
    """A model's seconds: ``(layers_s + per_kernel_s + per_inference_s) * family`` (elementwise over
    rows or ridge points); ``floor`` bounds the sum before the family multiplier from below (the fit
    takes its log)."""
    base = layers_s + per_kernel_s + per_inference_s
    if floor is not None:
        base = np.maximum(base, floor)
    return base * family


def model_family(model: str | None, family: str | None = None) -> str | None:
    """The family a prediction of ``model`` reads multipliers for: ``family`` where one is given
    (``--family``, canonical: ``mnv4`` -> ``mobilenetv4``), else the family of its architecture
    (:func:`roofline.zoo.families.model_family`: none for a user's model)."""
    from ..core.taxonomy import family_key
    from ..zoo.families import model_family as architecture_family

    if family is not None:
        return family_key(family)
    return architecture_family(model)


def family_multiplier(profile: HardwareProfile | None, roof_mode: Mode | str | None, model: str | None,
                      overhead: bool | None, family: str | None = None) -> tuple[str, float] | None:
    """The family of ``model`` (or ``family``, given: see :func:`model_family`) and the multiplier the
    profile's fit gives it, where one applies: a fitted reading of a profile whose fit has a multiplier
    for the family. A whole-model term like the overheads: Eq. 1 alone (``overhead=False``) goes without
    it."""
    if (profile is None or roof_mode != Mode.FITTED or not profile.fitted or not profile.fitted.family
            or overhead is False):
        return None
    return profile.fitted.family_factor(model_family(model, family))
