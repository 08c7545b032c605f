"""Hardware profiles: peak MAC throughput and memory bandwidth, with sources, from YAML.

A profile file (``hardware_profiles/<name>.yaml``)::

    name: pixel6-cpu
    kind: cpu                      # cpu | gpu | dsp | npu
    description: Pixel 6 CPU (one Cortex-X1 core)
    default_dtype: int8            # int8 | fp16 | bf16 | fp32
    peak_macs_per_s:               # per dtype; one MAC = two vendor "ops"
      int8: {value: 1.79e+11, source: "...", confidence: medium}
    mem_bw_bytes_per_s: {value: 5.12e+10, source: "...", confidence: medium}
    on_chip_bytes: {value: 4194304, source: "...", confidence: medium}      # optional
    fitted:                        # optional: a roofline fitted to measured latency
      dtype: int8
      ridge_point_macs_per_byte: 31.2
      mem_bw_bytes_per_s: 1.1e+10  # optional effective bandwidth calibrated with the fit
      source: "..."
      confidence: medium

Files are read with ``yaml.safe_load`` only. Validation names the file and the
field of every problem.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ProfileError, UnknownHardwareError, closest

BYTES_PER_ELEMENT: dict[str, int] = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
KINDS = ("cpu", "gpu", "dsp", "npu")
CONFIDENCE = ("high", "medium", "low", "medium/high", "high/medium", "medium/low", "low/medium",
              "low/high", "measured")
TOP_KEYS = {"name", "kind", "description", "default_dtype", "peak_macs_per_s", "mem_bw_bytes_per_s",
            "on_chip_bytes", "fitted", "machine", "ceilings_macs_per_s"}
REQUIRED = ("name", "kind", "default_dtype", "mem_bw_bytes_per_s")
FIGURE_KEYS = {"value", "source", "confidence"}
FITTED_KEYS = {"dtype", "ridge_point_macs_per_byte", "mem_bw_bytes_per_s", "source", "confidence"}
# Below these a number is almost surely in the wrong unit (TOPS, GB/s, MB) rather than per second.
_PLAUSIBLE_MIN = {"peak_macs_per_s": 1e6, "mem_bw_bytes_per_s": 1e6, "on_chip_bytes": 1024}
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Figure:
    """A number with where it came from and how far to trust it."""

    value: float
    source: str = ""
    confidence: str = ""


@dataclass(frozen=True)
class Fitted:
    """A roofline fitted to measured latencies (the MobileNetV4 paper's Table 16, or ``roofline fit``)."""

    dtype: str
    ridge_point_macs_per_byte: float
    mem_bw_bytes_per_s: float | None
    source: str
    confidence: str


@dataclass(frozen=True)
class Roof:
    """The two numbers a roofline needs, and which reading of the profile gave them."""

    peak_macs_per_s: float
    mem_bw_bytes_per_s: float
    dtype: str
    mode: str  # "spec", "fitted" or "calibrated"
    ceilings: dict[str, float] | None = None  # calibrated: attainable MAC/s per op class

    @property
    def ridge_point(self) -> float:
        """MACs per byte at which the layer time turns from memory- to compute-bound."""
        return self.peak_macs_per_s / self.mem_bw_bytes_per_s


@dataclass(frozen=True)
class HardwareProfile:
    """One device: spec-sheet peaks per dtype, DRAM bandwidth, optional fit and on-chip memory."""

    name: str
    kind: str
    description: str
    default_dtype: str
    peak_macs_per_s: dict[str, Figure]
    mem_bw_bytes_per_s: Figure
    on_chip_bytes: Figure | None = None
    fitted: Fitted | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    ceilings_macs_per_s: dict[str, float] = field(default_factory=dict)
    path: str = ""

    @property
    def dtypes(self) -> list[str]:
        return list(self.peak_macs_per_s) or ([self.fitted.dtype] if self.fitted else [])

    def roof(self, dtype: str | None = None, mode: str = "auto") -> Roof:
        """The roofline for ``dtype`` (default: the profile's).

        ``mode``: ``"spec"`` (vendor peak and bandwidth), ``"fitted"`` (the fitted
        ridge point; peak = RP x bandwidth, with the calibrated bandwidth when
        the fit has one), ``"calibrated"`` (spec numbers plus the measured
        per-op-class ceilings of ``roofline profile``: each layer's MACs run at
        what its op class attains, not at the GEMM peak), or ``"auto"``: fitted
        where a fit exists for that dtype, else spec. Fitted is the default
        because it was fitted to measured latency; spec sheets overstate what
        layers reach.
        """
        dtype = dtype or self.default_dtype
        if dtype not in BYTES_PER_ELEMENT:
            raise ProfileError(f"unknown dtype {dtype!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
        if mode not in ("auto", "spec", "fitted", "calibrated"):
            raise ProfileError(f"roofline mode must be auto, spec, fitted or calibrated, got {mode!r}")
        if mode == "calibrated":
            if not self.ceilings_macs_per_s:
                raise ProfileError(f"profile {self.name} has no measured op ceilings (ceilings_macs_per_s); "
                                   f"'roofline profile' measures them")
            spec = self.roof(dtype, "spec")
            return Roof(spec.peak_macs_per_s, spec.mem_bw_bytes_per_s, dtype, "calibrated",
                        dict(self.ceilings_macs_per_s))
        fit = self.fitted if self.fitted and self.fitted.dtype == dtype else None
        if mode == "fitted" and fit is None:
            have = f"for {self.fitted.dtype} only" if self.fitted else "none"
            raise ProfileError(f"profile {self.name} has no fitted roofline for {dtype} ({have})")
        if fit is not None and mode in ("auto", "fitted"):
            bw = fit.mem_bw_bytes_per_s or self.mem_bw_bytes_per_s.value
            return Roof(fit.ridge_point_macs_per_byte * bw, bw, dtype, "fitted")
        if dtype not in self.peak_macs_per_s:
            have = ", ".join(self.peak_macs_per_s) or "none"
            raise ProfileError(f"profile {self.name} has no peak for dtype {dtype} (it has: {have})")
        return Roof(self.peak_macs_per_s[dtype].value, self.mem_bw_bytes_per_s.value, dtype, "spec")


# --- loading and validation ----------------------------------------------------------------------

def _profile_dirs() -> list[Path]:
    """Built-in profiles: inside the installed wheel, or the source tree's hardware_profiles/."""
    dirs = []
    packaged = resources.files("roofline") / "hardware_profiles"
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    source_tree = Path(__file__).resolve().parent.parent / "hardware_profiles"
    if source_tree.is_dir():
        dirs.append(source_tree)
    return dirs


@functools.cache
def builtin_profiles() -> dict[str, Path]:
    """Name -> file of every built-in profile."""
    found: dict[str, Path] = {}
    for d in _profile_dirs():
        for f in sorted(d.glob("*.yaml")):
            found.setdefault(f.stem, f)
    return found


def list_hardware() -> list[str]:
    return sorted(builtin_profiles())


def load_hardware(spec: str | Path | dict | HardwareProfile) -> HardwareProfile:
    """Load a profile from a built-in name, a YAML path, or a dict of the same schema."""
    if isinstance(spec, HardwareProfile):
        return spec
    if isinstance(spec, dict):
        return _parse(spec, "<dict>")
    text = str(spec)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        files = builtin_profiles()
        if text not in files:
            raise UnknownHardwareError(f"unknown hardware {text!r}{closest(text, files)}; "
                                       f"'roofline hw' lists the profiles, or give a YAML file")
        path = files[text]
    if not path.is_file():
        raise UnknownHardwareError(f"hardware profile file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ProfileError(f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: cannot read: {e}") from None
    return _parse(data, str(path))


def _number(value: Any, where: str, field_name: str, unit_key: str | None = None) -> float:
    if isinstance(value, bool) or value is None:
        raise ProfileError(f"{where}: {field_name} must be a number, got {value!r}")
    if isinstance(value, str):
        if not _NUMBER.match(value.strip()):
            raise ProfileError(f"{where}: {field_name} must be a number, got the string {value!r}"
                               + (" (units go in the key name, not the value)" if re.search(
                                   r"[A-Za-z]", value) and re.search(r"\d", value) else ""))
        value = float(value)
    if not isinstance(value, (int, float)):
        raise ProfileError(f"{where}: {field_name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ProfileError(f"{where}: {field_name} must be positive, got {value:g}")
    if unit_key and value < _PLAUSIBLE_MIN[unit_key]:
        unit = {"peak_macs_per_s": "MACs per second (e.g. 2e12, not 4 TOPS)",
                "mem_bw_bytes_per_s": "bytes per second (e.g. 5.12e10, not 51.2 GB/s)",
                "on_chip_bytes": "bytes (e.g. 8388608, not 8 MB)"}[unit_key]
        raise ProfileError(f"{where}: {field_name} = {value:g} is implausibly small: units are {unit}")
    return value


def _check_keys(d: dict, allowed: set[str], where: str, context: str) -> None:
    for k in d:
        if k not in allowed:
            raise ProfileError(f"{where}: unknown key {context}{k!r}{closest(str(k), allowed, n=1)}")


def _figure(value: Any, where: str, field_name: str, unit_key: str) -> Figure:
    if isinstance(value, dict):
        _check_keys(value, FIGURE_KEYS, where, f"{field_name}.")
        if "value" not in value:
            raise ProfileError(f"{where}: {field_name} is missing 'value'")
        conf = str(value.get("confidence", ""))
        if conf and conf not in CONFIDENCE:
            raise ProfileError(f"{where}: {field_name}.confidence must be one of {', '.join(CONFIDENCE)}, "
                               f"got {conf!r}")
        return Figure(_number(value["value"], where, f"{field_name}.value", unit_key),
                      str(value.get("source", "")), conf)
    return Figure(_number(value, where, field_name, unit_key))


def _parse(data: Any, where: str) -> HardwareProfile:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a hardware profile must be a YAML mapping, got "
                           f"{type(data).__name__ if data is not None else 'an empty file'}")
    _check_keys(data, TOP_KEYS, where, "")
    for k in REQUIRED:
        if k not in data:
            raise ProfileError(f"{where}: missing field {k!r}")
    kind = str(data["kind"])
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    default_dtype = str(data["default_dtype"])
    if default_dtype not in BYTES_PER_ELEMENT:
        raise ProfileError(f"{where}: default_dtype must be one of {', '.join(BYTES_PER_ELEMENT)}, "
                           f"got {default_dtype!r}")
    peaks_raw = data.get("peak_macs_per_s") or {}
    if not isinstance(peaks_raw, dict):
        raise ProfileError(f"{where}: peak_macs_per_s must map a dtype to a number, got {peaks_raw!r}")
    peaks = {}
    for dt, v in peaks_raw.items():
        if dt not in BYTES_PER_ELEMENT:
            raise ProfileError(f"{where}: peak_macs_per_s has unknown dtype {dt!r}"
                               f"{closest(str(dt), BYTES_PER_ELEMENT)}")
        peaks[dt] = _figure(v, where, f"peak_macs_per_s.{dt}", "peak_macs_per_s")
    bw = _figure(data["mem_bw_bytes_per_s"], where, "mem_bw_bytes_per_s", "mem_bw_bytes_per_s")
    on_chip = (_figure(data["on_chip_bytes"], where, "on_chip_bytes", "on_chip_bytes")
               if data.get("on_chip_bytes") is not None else None)
    fitted = None
    if data.get("fitted") is not None:
        f = data["fitted"]
        if not isinstance(f, dict):
            raise ProfileError(f"{where}: fitted must be a mapping")
        _check_keys(f, FITTED_KEYS, where, "fitted.")
        if "ridge_point_macs_per_byte" not in f:
            raise ProfileError(f"{where}: fitted is missing 'ridge_point_macs_per_byte'")
        fdt = str(f.get("dtype", default_dtype))
        if fdt not in BYTES_PER_ELEMENT:
            raise ProfileError(f"{where}: fitted.dtype must be one of {', '.join(BYTES_PER_ELEMENT)}")
        fbw = f.get("mem_bw_bytes_per_s")
        fitted = Fitted(fdt, _number(f["ridge_point_macs_per_byte"], where, "fitted.ridge_point_macs_per_byte"),
                        _number(fbw, where, "fitted.mem_bw_bytes_per_s", "mem_bw_bytes_per_s")
                        if fbw is not None else None,
                        str(f.get("source", "")), str(f.get("confidence", "")))
    if default_dtype not in peaks and not (fitted and fitted.dtype == default_dtype):
        raise ProfileError(f"{where}: no peak_macs_per_s for the default dtype {default_dtype} "
                           f"and no fitted roofline for it")
    ceilings = data.get("ceilings_macs_per_s") or {}
    if not isinstance(ceilings, dict):
        raise ProfileError(f"{where}: ceilings_macs_per_s must be a mapping of op to number")
    ceilings = {str(k): _number(v, where, f"ceilings_macs_per_s.{k}") for k, v in ceilings.items()}
    machine = data.get("machine") or {}
    if not isinstance(machine, dict):
        raise ProfileError(f"{where}: machine must be a mapping")
    return HardwareProfile(str(data["name"]), kind, str(data.get("description", "")), default_dtype,
                           peaks, bw, on_chip, fitted, machine, ceilings, where)


def profile_to_yaml(p: HardwareProfile) -> str:
    """Serialise a profile to the YAML schema above (round-trips through :func:`load_hardware`)."""
    def fig(f: Figure) -> dict:
        d: dict[str, Any] = {"value": float(f.value)}
        if f.source:
            d["source"] = f.source
        if f.confidence:
            d["confidence"] = f.confidence
        return d

    doc: dict[str, Any] = {"name": p.name, "kind": p.kind, "description": p.description,
                           "default_dtype": p.default_dtype,
                           "peak_macs_per_s": {k: fig(v) for k, v in p.peak_macs_per_s.items()},
                           "mem_bw_bytes_per_s": fig(p.mem_bw_bytes_per_s)}
    if p.on_chip_bytes:
        doc["on_chip_bytes"] = fig(p.on_chip_bytes)
    if p.fitted:
        f = p.fitted
        doc["fitted"] = {"dtype": f.dtype, "ridge_point_macs_per_byte": float(f.ridge_point_macs_per_byte)}
        if f.mem_bw_bytes_per_s:
            doc["fitted"]["mem_bw_bytes_per_s"] = float(f.mem_bw_bytes_per_s)
        doc["fitted"].update({"source": f.source, "confidence": f.confidence})
    if p.ceilings_macs_per_s:
        doc["ceilings_macs_per_s"] = dict(p.ceilings_macs_per_s)
    if p.machine:
        doc["machine"] = dict(p.machine)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100)


class _Dumper(yaml.SafeDumper):
    """Safe dumper writing large and small floats in scientific notation (2.55e+12)."""


def _float(dumper: yaml.SafeDumper, v: float) -> yaml.Node:
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3) and math.isfinite(v):
        m, e = f"{v:.6e}".split("e")
        m = m.rstrip("0")
        text = f"{m}0e{int(e):+03d}" if m.endswith(".") else f"{m}e{int(e):+03d}"
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)
    return dumper.represent_float(v)


_Dumper.add_representer(float, _float)
