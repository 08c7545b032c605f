"""Ridge-point sweeps: each model's roofline latency at many ridge points at once.

How RP is varied (``vary``):
- ``"peak"`` (the MobileNetV4 paper's Figures 2 and 3): bandwidth held fixed and
  PeakMACs = RP x bandwidth. RP 0 means MACs only: memory is free and the MACs
  run at the peak of RP 5, i.e. 5 x bandwidth, which is how the paper's RP 0
  panel reads: total MACs at 0.2 TMAC/s.
- ``"bandwidth"``: PeakMACs held fixed and bandwidth = PeakMACs / RP; RP 0 is
  infinite bandwidth (MACs / PeakMACs).
Each model is traced once; all ridge points are evaluated in one numpy step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from ..engine.band import band_for
from ..engine import LatencyModel, costs_of, kernel_overheads, latency_model, layer_bytes, resolve_execution
from ..core.reading import Mode
from ..engine.reading import resolve_reading
from ..engine.predict import family_multiplier, layer_times, model_total
from ..engine.roofline import fitted_terms
from ..core import checks, units
from ..core.errors import InvalidInputError, RooflineError
from ..hardware import load_hardware
from ..trace import LayerTable, trace
from ..trace.user_model import USER_MODEL_RESOLUTION
from ..zoo import ARCHS, list_models, model_card, model_name, resolve

CHUNK_CELLS = 2_000_000  # ridge points x layers per numpy step (16 MB per float array)
PAPER_BANDWIDTH = 40e9  # bytes/s: the reading of the paper's Figure 2 (see reports/mnv4-paper)

MODEL_GROUPS: dict[str, tuple[str, ...]] = {
    # the models of the MobileNetV4 paper's Figure 2
    "paper-fig2": ("mnv1-0.5x", "mnv1", "mnv1-1.5x", "mnv2-0.5x", "mnv2", "mnv2-1.5x", "mnv2-2.0x",
                   "mnv3-l-0.5x", "mnv3-l", "mnv3-l-1.5x", "mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l"),
    # Figure 3's models
    "paper-fig3": ("mnv1-1.5x", "mnv2-1.5x", "mnv3-l-1.5x", "mnv4-conv-m"),
    "zoo": tuple(ARCHS),
}
FAMILIES = {"mnv1": "mobilenet_v1", "mnv2": "mobilenet_v2", "mnv3": "mobilenet_v3", "mnv4": "mobilenet_v4"}


def expand_models(models: Iterable[str] = (), groups: Iterable[str] = (), families: Iterable[str] = ()
                  ) -> list[str]:
    """Canonical model names from explicit names, groups (``paper-fig2``) and families (``mnv4``); ONNX files
    (``PATH.onnx``, ``onnx:PATH``) and TFLite files (``PATH.tflite``, ``tflite:PATH``) as given."""
    out: list[str] = []
    for g in groups:
        if g not in MODEL_GROUPS:
            try:
                resolve(g)
                hint = f"; {g!r} is a model: name models as arguments or with --model"
            except RooflineError:
                hint = ""
            raise RooflineError(f"unknown model group {g!r}; use one of {', '.join(MODEL_GROUPS)}{hint}")
        out.extend(MODEL_GROUPS[g])
    for f in families:
        key = f.lower().replace("_", "-").replace("mobilenet-v", "mnv").replace("mobilenetv", "mnv")
        if key not in FAMILIES:
            raise RooflineError(f"unknown family {f!r}; use one of {', '.join(FAMILIES)}")
        out.extend(n for n in list_models() if model_card(n).family == FAMILIES[key])
    out.extend(models)
    from ..trace.graph_file import is_graph_file

    names: list[str] = []
    for n in out:
        canon = n if is_graph_file(n) else model_name(*resolve(n))  # a graph file is named as it was given
        if canon not in names:
            names.append(canon)
    if not names:
        raise RooflineError("no models given: name some, or use --models GROUP / --family FAMILY")
    return names


def parse_rps(text: str | Sequence[float]) -> np.ndarray:
    """``"0:500:5"`` (start:stop:step, stop included), ``"0,5,50,500"`` or a sequence."""
    if isinstance(text, str):
        checks.ascii_number(text, "ridge points")
        try:
            if ":" in text:
                parts = [float(p) for p in text.split(":")]
                if len(parts) != 3:
                    raise ValueError
                start, stop, step = parts
                if not all(np.isfinite(parts)):
                    raise RooflineError(f"ridge-point range {text!r}: start, stop and step must be finite")
                if step <= 0:
                    raise RooflineError(f"ridge-point range {text!r}: the step must be positive")
                count = math.floor((stop - start) / step + 0.5) + 1
                if count > checks.MAX_RIDGE_POINTS:
                    raise InvalidInputError(f"ridge-point range {text!r} has {count:,} points; at most "
                                            f"{checks.MAX_RIDGE_POINTS:,}")
                values = np.arange(start, stop + step / 2, step)
            else:
                values = np.array([float(p) for p in text.split(",") if p.strip()])
        except RooflineError:
            raise
        except ValueError:
            raise RooflineError(f"ridge points must look like 0:500:5 or 0,5,50,500, got {text!r}") from None
    else:
        items = checks.names(text, "ridge points")
        bad = [v for v in items if not isinstance(v, numbers.Real) or isinstance(v, bool)]
        if bad:
            raise InvalidInputError(f"ridge points must be numbers, got {checks.show(bad[0])}")
        values = np.asarray([float(v) for v in items], dtype=np.float64)
    if values.size > checks.MAX_RIDGE_POINTS:
        raise InvalidInputError(f"{values.size:,} ridge points is too many (at most {checks.MAX_RIDGE_POINTS:,})")
    if values.size == 0:
        raise RooflineError(f"the ridge-point range {text!r} is empty")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise RooflineError(f"ridge points must be finite and >= 0, got {text!r}")
    if np.any(values > checks.MAX_RIDGE_POINT):
        raise InvalidInputError(f"ridge point {values.max():g} MACs/byte is implausible: ridge points go from 0 "
                                f"to {checks.MAX_RIDGE_POINT:g}")
    nonzero = values[values > 0]
    if nonzero.size and nonzero.min() < 1e-3:
        raise InvalidInputError(f"ridge point {nonzero.min():g} MACs/byte is implausibly small (0, or at least "
                                f"0.001)")
    return values


def rooflines(rps: np.ndarray, vary: str, bw: float | None, peak: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Peak MAC/s and bandwidth (B/s) for each ridge point, by the chosen reading."""
    rps = np.asarray(rps, dtype=np.float64)
    if vary == "peak":
        if bw is None or bw <= 0:
            raise RooflineError("a sweep that varies the peak needs a positive bandwidth")
        peaks = rps * bw
        peaks = np.where(rps == 0, 5.0 * bw, peaks)
        bws = np.where(rps == 0, np.inf, bw)
        return peaks, bws
    if vary == "bandwidth":
        if peak is None or peak <= 0:
            raise RooflineError("a sweep that varies the bandwidth needs a positive peak")
        with np.errstate(divide="ignore"):
            bws = np.where(rps == 0, np.inf, peak / np.where(rps == 0, 1.0, rps))
        return np.full_like(rps, peak), bws
    raise RooflineError(f"vary must be 'peak' or 'bandwidth', got {vary!r}")


def _check_accuracy(accuracy: object) -> dict[str, float] | None:
    """``accuracy``: a mapping of model name to top-1 in percent (finite, 0 to 100), or None."""
    if accuracy is None:
        return None
    if not isinstance(accuracy, Mapping):
        raise InvalidInputError(f"accuracy must map model names to top-1 (%), got {checks.show(accuracy)}")
    out = {}
    for k, v in accuracy.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) \
                or not 0 <= float(v) <= 100:
            raise InvalidInputError(f"accuracy of {k!r} must be a percentage from 0 to 100, got {checks.show(v)}")
        out[str(k)] = float(v)
    return out


class SweepResult(pd.DataFrame):
    """A sweep's rows (a DataFrame); in a notebook it shows human units and what was held fixed."""

    @property
    def _constructor(self):
        return SweepResult

    def plot(self, path=None, relative_to: str | None = None, marks: dict[str, float] | None = None):
        """Latency against ridge point, one line per model, log-log (see roofline.present.plots.plot_sweep)."""
        from ..present.plots import plot_sweep

        return plot_sweep(self, path, relative_to, marks)

    def _repr_html_(self) -> str:
        from ..present.html import sweep_html

        return sweep_html(self)


@dataclass(frozen=True)
class SweepSetup:
    """What a sweep held fixed, for reports."""

    vary: str
    mem_bw_bytes_per_s: float | None
    peak_macs_per_s: float | None
    convention: str
    dtype: str
    hardware: str | None = None
    roofline: str | None = None   # which reading of the profile gave bandwidth and peak
    latency_model: str = "Eq. 1 only"

    def describe(self) -> str:
        held = (f"bandwidth {units.count(self.mem_bw_bytes_per_s, 'B/s')}" if self.vary == "peak"
                else f"peak {units.count(self.peak_macs_per_s, 'MAC/s')}")
        hw = f"; {self.roofline} roofline of {self.hardware}" if self.hardware else ""
        return (f"{self.vary} varied, {held}{hw}; convention {self.convention}; {self.dtype}; "
                f"latency model: {self.latency_model}")


def sweep(models: Sequence[str | LayerTable | nn.Module | tuple[str, nn.Module]], rps: str | Sequence[float] = "0:500:5", *, hw=None,
          bw: float | None = None, peak: float | None = None, vary: str = "peak",
          convention: str | None = None, dtype: str | None = None, accuracy: dict[str, float] | None = None,
          mode: str = "auto", resolution: int | None = None, width: float | None = None, batch: int = 1,
          overhead: bool | None = None, execution: str | None = None,
          progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per model x ridge point: latency, overheads, MAC/memory shares of the Eq. 1 time.

    Bandwidth (``vary="peak"``) comes from ``bw``, else ``hw``'s roofline (the
    fitted one where the profile has it, as in :func:`~roofline.analyze`; ``mode``
    chooses), else 40 GB/s (the paper's figures); the peak (``vary="bandwidth"``)
    from ``peak`` or ``hw``. With ``hw``, the profile's overhead terms are added as
    ``analyze`` adds them (``overhead=False``: Eq. 1 only), so a sweep at the
    profile's own ridge point equals ``analyze``. ``accuracy`` maps model -> top-1
    (default: model cards). A model is a name, a traced table, an ``nn.Module`` (traced at
    ``resolution``, else 224 px) or a pair (name, Module): the Module's rows carry that name.
    """
    models = checks.names(models)
    rp = parse_rps(rps)
    accuracy = _check_accuracy(accuracy)
    if progress is not None and not callable(progress):
        raise InvalidInputError(f"progress must be a function of the model name, got {checks.show(progress)}")

    profile = load_hardware(hw) if hw is not None else None
    reading = None
    if profile is not None:  # a sweep's reading: no measured ceilings (see roofline.engine.reading)
        reading = resolve_reading(profile, mode, convention, execution, dtype, batch, sweep=True)
        conv, execution = reading.convention, reading.execution
    else:
        conv, execution = resolve_execution(convention, execution)
    checks.choice(vary, "vary", ("peak", "bandwidth"))
    if bw is not None:
        bw = checks.number(bw, "bandwidth", *checks.BYTE_RATE, unit="B/s")
    if peak is not None:
        peak = checks.number(peak, "peak", *checks.MAC_RATE, unit="MAC/s")
    latency = LatencyModel(execution)
    roof_mode = hw_name = roof = band = own_rp = None
    if hw is None and mode != Mode.AUTO:
        raise InvalidInputError(f"mode={checks.show(mode)} reads a hardware profile: give hw=, or leave mode "
                                f"at 'auto'")
    if profile is not None and reading is not None:
        roof = reading.roof
        dtype, roof_mode, hw_name = roof.dtype, roof.mode, profile.name
        bw = bw if bw is not None else roof.mem_bw_bytes_per_s
        if peak is None and vary == "bandwidth":
            peak = roof.peak_macs_per_s
        latency = latency_model(profile, execution, overhead)
        band = band_for(profile, roof, overhead, conv.name, execution)
        own_rp = roof.ridge_point
    dtype = "int8" if dtype is None else dtype
    if vary == "peak" and bw is None:
        bw = PAPER_BANDWIDTH
    peaks, bws = rooflines(rp, vary, bw, peak)
    frames = []
    for m in models:
        given = None
        if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and isinstance(m[1], nn.Module):
            given, m = m  # a model file's Module, under the name it was given by (mynet.py:factory)
        if progress:
            progress(given or (m if isinstance(m, str) else m.model if isinstance(m, LayerTable)
                               else type(m).__name__))
        if isinstance(m, LayerTable):
            table = m
        elif isinstance(m, str):
            table = trace(m, fuse=conv.fused, resolution=resolution, width=width, batch=batch)
        else:  # a user's nn.Module: at the resolution given, else one 224-pixel image (as analyze)
            table = trace(m, fuse=conv.fused, resolution=resolution or USER_MODEL_RESOLUTION, batch=batch)
        layers = layer_bytes(table, conv, dtype)
        macs, byts = costs_of(layers)
        factor, slow = fitted_terms(layers, roof) if roof is not None else (None, None)
        factor = None if factor is None else factor[None, :]
        slow = None if slow is None else slow[None, :]
        fixed = 0.0 if latency.is_eq1 else float(
            kernel_overheads(layers, latency.per_kernel, execution).sum()) + latency.inference_s(layers)
        eq1, mem_lat, n_mem = (np.empty(len(rp)), np.empty(len(rp)), np.empty(len(rp), dtype=np.int64))
        step = max(1, CHUNK_CELLS // max(len(macs), 1))  # ridge points per step: bounded memory
        for s in range(0, len(rp), step):
            t = layer_times(macs[None, :], byts[None, :], peaks[s:s + step, None], bws[s:s + step, None],
                            factor, slow)
            lat = t.latency_s
            mem_bound_s = t.mem_time_s > t.mac_time_s
            eq1[s:s + step] = lat.sum(axis=1)
            mem_lat[s:s + step] = np.where(mem_bound_s, lat, 0.0).sum(axis=1)
            n_mem[s:s + step] = mem_bound_s.sum(axis=1)
        name = given or table.model
        fam = family_multiplier(profile, roof_mode, name, overhead)
        total = model_total(eq1, fixed, family=fam[1] if fam else 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mem_share = np.where(eq1 > 0, mem_lat / eq1, 0.0)
        top1 = (accuracy or {}).get(name)
        if top1 is None and accuracy is None:
            try:
                top1 = model_card(name).top1
            except RooflineError:
                top1 = None
        # the band holds where the sweep reads the profile as its validation did: its own ridge point
        at_own = (np.isclose(rp, own_rp, rtol=1e-9) if own_rp is not None and vary == "peak" and bws is not None
                  else np.zeros(len(rp), dtype=bool))
        band_m = band_for(profile, roof, overhead, conv.name, execution, name) if band is not None else None
        lo_r, hi_r = (band_m.low_ratio, band_m.high_ratio) if band_m is not None else (np.nan, np.nan)
        band_cols = ({"latency_low_s": np.where(at_own, total * lo_r, np.nan),
                      "latency_high_s": np.where(at_own, total * hi_r, np.nan)} if hw is not None else {})
        frames.append(pd.DataFrame({
            "model": name, "rp_macs_per_byte": rp, "peak_macs_per_s": peaks, "mem_bw_bytes_per_s": bws,
            "latency_s": total, **band_cols, "overhead_s": fixed, "mac_time_share": 1.0 - mem_share,
            "mem_time_share": mem_share,
            "memory_bound_layers": n_mem, "layers": len(macs), "macs": table.macs,
            "top1": np.nan if top1 is None else top1,
        }))
    out = SweepResult(pd.concat(frames, ignore_index=True))
    out.attrs["setup"] = SweepSetup(vary, bw, peak, conv.name, dtype, hw_name, roof_mode,
                                    latency.describe(sources=False))
    return out
