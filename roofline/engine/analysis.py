"""The result users hold: a model on a piece of hardware, per layer and in total."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from ..core import checks, units
from ..core.conventions import Convention
from ..core.reading import Execution, Mode
from ..core.errors import RooflineError
from ..hardware import BYTES_PER_ELEMENT, HardwareProfile, Roof, load_hardware
from ..trace import LayerTable, trace
from ..trace.table import exact_sum
from .band import Band, band_for, no_band_reason
from .estimate import Basis, Estimate
from .estimate import estimate as estimate_for
from .latency import LatencyModel, add_overheads, latency_model
from ..core.taxonomy import family_key
from .predict import family_multiplier
from .reading import resolve_execution, resolve_reading  # resolve_execution: re-exported
from .roofline import evaluate, layer_bytes


@dataclass(frozen=True)
class Analysis:
    """A model on a piece of hardware: per-layer roofline times and their totals."""

    model: str
    hardware: HardwareProfile
    roof: Roof
    convention: Convention
    table: LayerTable
    layers: pd.DataFrame
    on_chip: bool = False
    latency: LatencyModel = field(default_factory=LatencyModel)
    band: Band | None = None  # 80 % band of the total, where this reading is validated (roofline.engine.band)
    # the fitted multiplier of the model's family (already in ``layers["latency_s"]``), if any
    family: tuple[str, float] | None = None
    # the number to lead with: this reading where it has a band, else a calibrated estimate whose band
    # holds it (roofline.engine.estimate); None where there is none (a measured profile not yet validated)
    estimate: Estimate | None = None

    @property
    def dtype(self) -> str:
        return self.roof.dtype

    @property
    def total_latency_s(self) -> float:
        """Predicted seconds: the layers' latency plus the per-inference cost (times the family multiplier)."""
        return float(self.layers["latency_s"].sum()) + self.per_inference_latency_s

    @property
    def per_inference_latency_s(self) -> float:
        """The per-inference cost in :attr:`total_latency_s`: the profile's, times the family multiplier."""
        return (self.family[1] if self.family else 1.0) * self.latency.inference_s(self.layers)

    @property
    def latency_band_s(self) -> tuple[float, float] | None:
        """Low and high ends of the 80 % band around :attr:`total_latency_s` (seconds), if any."""
        return self.band.around(self.total_latency_s) if self.band else None

    @property
    def is_lower_bound(self) -> bool:
        """Whether :attr:`total_latency_s` is Eq. 1 at the spec sheet's peak and bandwidth, without
        overheads: a lower bound on latency, not an estimate of it."""
        return self.roof.mode == Mode.SPEC and self.overhead_s == 0 and self.family is None

    @property
    def reading_label(self) -> str:
        """What :attr:`total_latency_s` is when the reading has no band of its own."""
        return "Eq. 1 lower bound (spec sheet)" if self.is_lower_bound else "this reading (unvalidated)"

    def latency_text(self) -> str:
        """``2.95 ms (80 %: 2.6-3.3 ms, 4-fold CV over 19 models)``; for a reading without its own band,
        the estimate first: ``1.9 ms estimated (80 %: ..., ...); Eq. 1 lower bound (spec sheet) 0.5 ms``."""
        if self.band is not None or self.estimate is None:
            return band_text(self.total_latency_s, self.band)
        e = self.estimate
        return (f"{band_text(e.seconds, e.band)} estimated from {e.basis}; {self.reading_label} "
                f"{units.seconds(self.total_latency_s)}")

    @property
    def roofline_label(self) -> str:
        """``Eq. 1``, ``roofline x class factors`` where the fitted roofline scales op classes (or
        layer rates by their reduction length), or ``roofline at measured ceilings`` (calibrated)."""
        if self.roof.mode == Mode.CALIBRATED:
            return "roofline at measured ceilings"
        return "roofline x class factors" if self.roof.efficiency or self.roof.reduction_half else "Eq. 1"

    def breakdown(self) -> str:
        """``Eq. 1 2.54 ms + overheads 1.24 ms``, and the family multiplier where one applies: how the
        total is made."""
        text = (f"{self.roofline_label} {units.seconds(self.roofline_latency_s)} + overheads "
                f"{units.seconds(self.overhead_s)}")
        return text + (f", all x{self.family[1]:.3g} for the {self.family[0]} family" if self.family else "")

    @property
    def roofline_latency_s(self) -> float:
        """Eq. 1 alone: the sum of per-layer max(MAC time, memory time)."""
        return float(self.layers["roofline_s"].sum())

    @property
    def overhead_s(self) -> float:
        """The fixed costs: per kernel (all layers) plus per inference."""
        return float(self.layers["overhead_s"].sum()) + self.latency.inference_s(self.layers)

    @property
    def totals(self) -> dict[str, float]:
        """The JSON totals: MACs, params, weight and activation bytes, latency (seconds)."""
        return {"macs": exact_sum(self.layers["macs"]), "params": int(self.table.params),
                "weight_bytes": float(self.layers["weight_bytes"].sum()),
                "activation_bytes": float(self.layers["activation_bytes"].sum()),
                "kernels": exact_sum(self.layers["kernels"]),
                "roofline_latency_s": self.roofline_latency_s, "overhead_s": self.overhead_s,
                "latency_s": self.total_latency_s,
                "latency_low_s": self.latency_band_s[0] if self.band else None,
                "latency_high_s": self.latency_band_s[1] if self.band else None,
                "latency_is_lower_bound": self.band is None and self.is_lower_bound,
                "estimate_s": self.estimate.seconds if self.estimate else None,
                "estimate_low_s": self.estimate.low_s if self.estimate else None,
                "estimate_high_s": self.estimate.high_s if self.estimate else None}

    def assumptions(self) -> str:
        r = self.roof
        lines = [
            f"hardware: {self.hardware.name} ({self.hardware.description}); {r.mode} roofline: "
            f"peak {units.count(r.peak_macs_per_s, 'MAC/s')}, bandwidth {units.count(r.mem_bw_bytes_per_s, 'B/s')}, "
            f"ridge point {units.ridge_point(r.ridge_point)} MAC/B, dtype {r.dtype}",
            f"convention: {self.convention.describe(BYTES_PER_ELEMENT[r.dtype])}",
            f"input: {'x'.join(map(str, self.table.input_shape))}; on-chip weight caching "
            f"{'on' if self.on_chip else 'off'}"
            + ("; activations kept on chip (only the model's input and output cross the memory bus)"
               if self.on_chip and self.hardware.activations_on_chip else ""),
            f"latency model: {self.latency.describe()}",
            f"trust: {self.hardware.status}"
            + (f" (median error {self.hardware.validation.headline()[0]:.1%} on models it never saw, "
               f"{self.hardware.validation.headline()[1]})"
               if self.hardware.validation is not None and self.hardware.validation.status != "transferred" else "")
            + (f"; 80 % band: {self.band.label}" if self.band else
               f"; this reading has no band of its own; the estimate: {self.estimate.label}" if self.estimate
               else f"; {no_band_reason(self.hardware)}"),
        ]
        if self.family:
            fam, g = self.family
            lines.insert(1, f"family multiplier: x{g:.3g} on every layer and the per-inference cost: what the "
                            f"fit measured this device doing to {fam} models beyond their layers")
        elif r.mode == Mode.FITTED and self.hardware.fitted and self.hardware.fitted.family:
            fams = ", ".join(self.hardware.fitted.family)
            lines.insert(1, "family multiplier: none (" + (
                "Eq. 1 alone, without the fit's whole-model terms)" if self.latency.is_eq1 else
                f"the fit measured {fams}, not this model's family)"))
        if r.mode == Mode.FITTED and r.reduction_half:
            lines.insert(1, f"short reductions: a compute layer runs at its class's rate / (1 + "
                            f"{r.reduction_half:.3g} / MACs per output element) (fitted reduction half-length)")
        if r.efficiency:
            from .efficiency import describe as describe_efficiency

            lines.insert(1, "per-op-class factors (share of its roofline a layer attains; dense conv 1): "
                            + describe_efficiency(r.efficiency))
        if r.mode == Mode.CALIBRATED:
            lines.insert(1, f"calibrated: per-op-class ceilings measured at batch {r.ceilings_batch}: "
                            + ", ".join(f"{k} {v:.3g} MAC/s" for k, v in (r.ceilings or {}).items())
                            + "".join(f", {k} {v:.3g} B/s" for k, v in (r.ceiling_bytes or {}).items())
                            + ("; compute classes attain these for large layers only: rate = ceiling / ((1 + "
                               "out_half / output elements) x (1 + reduction_half / MACs per output) x (1 + "
                               "reuse_half / MACs per weight) x (1 + channels_half / output channels)), (out_half, "
                               "reduction_half, reuse_half, channels_half): "
                               + ", ".join(f"{k} {t.out_half:.3g}, {t.reduction_half:.3g}, {t.reuse_half:.3g}, "
                                           f"{t.channels_half:.3g}" for k, t in r.ceiling_shape.items())
                               if r.ceiling_shape else "")
                            + ("; parallel kernels' extra cost: " + ", ".join(
                                f"{k} {x * 1e6:.3g} µs from {n:,.0f} output elements"
                                for k, (n, x) in r.ceiling_parallel.items()) if r.ceiling_parallel else ""))
        threads = self.hardware.machine.get("threads_used")
        if isinstance(threads, int) and self.hardware.kind == "cpu":
            lines.insert(1, f"measured with {threads} CPU thread{'' if threads == 1 else 's'}: a run with another "
                            f"thread count needs its own profile (roofline profile --threads N)")
        return "\n".join(lines)

    def summary(self) -> pd.Series:
        """Headline figures, with units in the names."""
        lat = self.layers["roofline_s"]  # the share of Eq. 1's time spent in memory-bound layers
        mem = self.layers["bound"] == "memory"
        t = self.totals
        return pd.Series({
            "model": self.model, "hardware": self.hardware.name, "dtype": self.dtype,
            "roofline": self.roof.mode, "convention": self.convention.name,
            "params": t["params"], "macs": t["macs"], "weight_bytes": t["weight_bytes"],
            "activation_bytes": t["activation_bytes"], "execution": self.latency.execution,
            "kernels": t["kernels"], "roofline_latency_ms": t["roofline_latency_s"] * 1e3,
            "overhead_ms": t["overhead_s"] * 1e3, "latency_ms": t["latency_s"] * 1e3,
            "latency_low_ms": t["latency_low_s"] * 1e3 if self.band else float("nan"),
            "latency_high_ms": t["latency_high_s"] * 1e3 if self.band else float("nan"),
            "estimate_ms": t["estimate_s"] * 1e3 if self.estimate else float("nan"),
            "estimate_low_ms": t["estimate_low_s"] * 1e3 if self.estimate else float("nan"),
            "estimate_high_ms": t["estimate_high_s"] * 1e3 if self.estimate else float("nan"),
            "memory_bound_time_share": float(lat[mem].sum() / lat.sum()) if lat.sum() else 0.0,
            "memory_bound_layers": int(mem.sum()), "layers": len(self.layers),
        })

    def slowest(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` layers with the largest predicted latency (``n`` a positive integer)."""
        return self.layers.nlargest(checks.integer(n, "slowest(n)", lo=1), "latency_s")

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON document of ``roofline analyze --format json``."""
        cols = ["name", "op", "macs", "weight_bytes", "activation_bytes", "mac_time_s", "mem_time_s",
                "kernels", "overhead_s", "family_multiplier", "latency_s", "bound"]
        layers = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                  for row in self.layers[cols].to_dict(orient="records")]
        return {"model": self.model, "hardware": self.hardware.name,
                "convention": self.convention.name, "dtype": self.dtype, "roofline": self.roof.mode,
                "peak_macs_per_s": self.roof.peak_macs_per_s,
                "mem_bw_bytes_per_s": self.roof.mem_bw_bytes_per_s, "execution": self.latency.execution,
                "per_kernel_s": self.latency.per_kernel.value,
                "per_kernel_by_op_s": dict(self.latency.per_kernel.by_op),
                "per_inference_s": self.latency.inference_s(self.layers),
                # the per-inference cost as the total counts it (x the family multiplier): the layers'
                # latency_s plus this is totals.latency_s
                "per_inference_latency_s": self.per_inference_latency_s,
                "family_multiplier": None if self.family is None else {"family": self.family[0],
                                                                      "multiplier": self.family[1]},
                "status": self.hardware.status, "band": None if self.band is None else {
                    "low_ratio": self.band.low_ratio, "high_ratio": self.band.high_ratio,
                    "coverage": 0.8, "label": self.band.label, "validated": self.band.validated},
                "estimate": None if self.estimate is None else {
                    "seconds": self.estimate.seconds, "low_s": self.estimate.low_s, "high_s": self.estimate.high_s,
                    "basis": self.estimate.basis, "label": self.estimate.label},
                "assumptions": self.assumptions(), "totals": self.totals, "layers": layers}

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Analysis: {self.model} on {self.hardware.name}: predicted {self.latency_text()}, "
                f"{s['macs']:,} MACs, {s['memory_bound_layers']}/{s['layers']} layers memory-bound "
                f"({s['memory_bound_time_share']:.0%} of the Eq. 1 time)\n{self.assumptions()}")

    def _repr_html_(self) -> str:
        from ..present.html import analysis_html

        return analysis_html(self)

    def plot(self, path: str | None = None):
        """The classic roofline chart (attainable MAC/s vs operational intensity, log-log)."""
        from ..present.plots import plot_roofline

        return plot_roofline(self, None if path is None else checks.file_path(path, "plot(path)"))

    def plot_layers(self, path: str | None = None):
        """Per-layer predicted latency in layer order, coloured by op type (the paper's Figure 3)."""
        from ..present.plots import plot_layer_latency

        return plot_layer_latency([self], None if path is None else checks.file_path(path, "plot_layers(path)"))


def analyze(model: Any, hw: Any, *, dtype: str | None = None, convention: str | Convention | None = None,
            mode: Mode | str = Mode.AUTO, resolution: int | None = None, width: float | None = None,
            batch: int = 1, input_shape: tuple[int, ...] | None = None, on_chip: bool = False,
            execution: Execution | str | None = None, overhead: bool | None = None,
            estimate: bool = True, family: str | None = None) -> Analysis:
    """Predict ``model``'s latency on ``hw`` (a profile name, YAML path, dict or HardwareProfile).

    ``mode``: ``auto`` (fitted roofline where the profile has one, else its measured ceilings where it
    has them, with eager execution, else spec),
    ``spec``, ``fitted`` or ``calibrated`` (measured per-op-class ceilings).
    ``on_chip``: keep weights that fit in the profile's on-chip memory resident
    (not re-read from DRAM), and activations on chip where the profile says the
    device keeps them there (``activations_on_chip``). ``execution``: ``fused`` (default with the default
    convention), ``eager`` or ``graph`` (default with ``unfused``); see
    :mod:`roofline.engine.latency`. ``overhead``: ``None`` uses the profile's
    overhead terms where it has them, ``False`` gives Eq. 1 alone, ``True``
    requires them. ``estimate``: where the reading has no band of its own, also make the calibrated
    estimate (:mod:`roofline.engine.estimate`; another analysis or two of the same model). ``family``:
    the model's family (``mobilenetv2``, ``resnet``) for a fitted profile's family multipliers; by
    default its architecture's (:mod:`roofline.zoo.families`), none for a user's ``nn.Module``. ``dtype``:
    default the profile's, or ``int8`` for a quantized graph file (int8 or uint8 activations) where the profile
    has an int8 peak.
    """
    profile = load_hardware(hw)
    if family is not None:
        family = family_key(family)
    first = model.input_shape[0] if isinstance(model, LayerTable) and model.input_shape else batch
    reading = resolve_reading(profile, mode, convention, execution, dtype, first)  # see roofline.engine.reading
    on_chip = checks.flag(on_chip, "on_chip")
    if overhead is not None:
        overhead = checks.flag(overhead, "overhead")
    table = model if isinstance(model, LayerTable) else trace(
        model, input_shape, resolution=resolution, batch=batch, width=width, fuse=reading.convention.fused)
    # a quantized graph file (int8 or uint8 activations: TFLite's int8, ONNX Runtime's U8S8) reads at int8
    quantized = getattr(table, "dtype", None) in ("int8", "uint8")
    if dtype is None and quantized and reading.dtype != "int8" and "int8" in profile.peak_macs_per_s:
        reading = resolve_reading(profile, mode, convention, execution, "int8", first)
    reading = reading.at_batch(profile, table.input_shape[0] if table.input_shape else 1)  # the traced batch
    roof, conv, execution = reading.roof, reading.convention, reading.execution
    if on_chip and profile.on_chip_bytes is None:
        raise RooflineError(f"profile {profile.name} gives no on_chip_bytes; on-chip caching needs it")
    layers = layer_bytes(table, conv, roof.dtype,
                         on_chip_bytes=profile.on_chip_bytes.value if on_chip and profile.on_chip_bytes else None,
                         activations_on_chip=on_chip and profile.activations_on_chip)
    lat = latency_model(profile, execution, overhead)
    out = add_overheads(evaluate(layers, roof), lat, roof)
    # a user's Module has no family of its own (its class name is not an architecture's)
    name = table.model if isinstance(model, (str, LayerTable)) else None
    fam = family_multiplier(profile, roof.mode, name, overhead, family)
    # on every layer (and, in the total, on the per-inference cost): latency_s = (roofline_s +
    # overhead_s) x family_multiplier
    out["family_multiplier"] = fam[1] if fam is not None else 1.0
    out["latency_s"] = out["latency_s"] * out["family_multiplier"]
    band = band_for(profile, roof, overhead, conv.name, execution, name, family)
    a = Analysis(table.model, profile, roof, conv, table, out, on_chip, lat, band, fam)
    if band is not None:
        return replace(a, estimate=Estimate(a.total_latency_s, band, Basis.READING, band.label))
    if not estimate:
        return a
    again = table if isinstance(model, LayerTable) else model

    def reanalyze(hw: HardwareProfile, **reading) -> Analysis:
        return analyze(again, hw, resolution=resolution, width=width, batch=batch, input_shape=input_shape,
                       estimate=False, family=family, **reading)

    return replace(a, estimate=estimate_for(profile, roof.dtype, reanalyze))


def band_text(seconds: float, band: Band | None) -> str:
    """A latency with its band: ``2.95 ms (80 %: 2.6-3.3 ms, 4-fold CV over 19 models)``."""
    from ..core.units import seconds as seconds_text
    from ..core.units import seconds_range

    if band is None:
        return seconds_text(seconds)  # the assumptions say why there is none
    lo, hi = band.around(seconds)
    return f"{seconds_text(seconds)} (80 %: {seconds_range(lo, hi)}, {band.label})"
