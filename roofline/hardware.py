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
    overhead:                      # optional: fixed costs outside Eq. 1 (seconds); zero when absent
      per_inference_s: {value: 5.0e-04, source: "...", confidence: measured}
      per_kernel_s:                # per execution mode: fused | eager | graph
        eager: {value: 3.0e-06, source: "...", confidence: measured,
                by_op: {dwconv2d: 6.0e-05}}    # optional per-op-class costs where they differ
      fresh_memory_s_per_byte:     # optional, eager only: page-faulting fresh memory, per byte, paid
        value: 6.6e-10             # once per inference for the largest layer's activations
        source: "..."
    ceilings:                      # optional: measured per-op-class rates, per batch size
      - batch: 1
        macs_per_s: {conv2d: 8.2e+10, conv1x1: 7.3e+10, dwconv2d: 1.4e+10, fc: 1.0e+10}
        bytes_per_s: {elementwise: 5.0e+10}
        shape: {conv2d: {out_half: 3.2e+4, reduction_half: 40}}  # optional: rate(shape), see
        source: "..."                                               # roofline.engine.shape

``ceilings_macs_per_s: {op: MAC/s}`` (older profiles) reads as the batch-1 ceilings.

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

from .checks import number, show
from .errors import InvalidInputError, ProfileError, UnknownHardwareError, closest

BYTES_PER_ELEMENT: dict[str, int] = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
KINDS = ("cpu", "gpu", "dsp", "npu")
CONFIDENCE = ("high", "medium", "low", "medium/high", "high/medium", "medium/low", "low/medium",
              "low/high", "measured")
TOP_KEYS = {"name", "kind", "description", "default_dtype", "peak_macs_per_s", "mem_bw_bytes_per_s",
            "on_chip_bytes", "fitted", "machine", "ceilings_macs_per_s", "ceilings", "overhead",
            "activations_on_chip", "validation"}
EXECUTIONS = ("fused", "eager", "graph")
OVERHEAD_KEYS = {"per_inference_s", "per_kernel_s", "fresh_memory_s_per_byte"}
CEILING_KEYS = {"batch", "macs_per_s", "bytes_per_s", "source", "shape"}
REQUIRED = ("name", "kind", "default_dtype", "mem_bw_bytes_per_s")
FIGURE_KEYS = {"value", "source", "confidence"}
FITTED_KEYS = {"dtype", "ridge_point_macs_per_byte", "mem_bw_bytes_per_s", "source", "confidence", "efficiency",
               "other_dtypes", "convention", "execution", "family"}
VALIDATION_KEYS = {"status", "data", "rows", "models", "folds", "method", "terms", "insample_median_error",
                   "heldout_median_error", "heldout_worst_error", "heldout_spearman", "macs_spearman",
                   "macs_heldout_median_error", "ratio_p10", "ratio_p90", "new_family_ratio_p10",
                   "new_family_ratio_p90", "source"}
STATUSES = ("fitted", "measured", "transferred")
MAX_RIDGE_POINT = 1e6  # MACs per byte: far above any accelerator (the paper sweeps to 500)
MIN_RIDGE_POINT = 1e-3
EFFICIENCY_RANGE = (1e-4, 1e2)  # a class factor outside this is a fit gone wrong, not hardware
# Below these a number is almost surely in the wrong unit (TOPS, GB/s, MB) rather than per second;
# above these, in the wrong unit the other way (bits, ops per ns) or a typo in the exponent.
_PLAUSIBLE_MIN = {"peak_macs_per_s": 1e6, "mem_bw_bytes_per_s": 1e6, "on_chip_bytes": 1024}
_PLAUSIBLE_MAX = {"peak_macs_per_s": 1e17, "mem_bw_bytes_per_s": 1e17, "on_chip_bytes": 1e12}
_UNITS = {"peak_macs_per_s": "MACs per second (e.g. 2e12, not 4 TOPS)",
          "mem_bw_bytes_per_s": "bytes per second (e.g. 5.12e10, not 51.2 GB/s)",
          "on_chip_bytes": "bytes (e.g. 8388608, not 8 MB)"}
MAX_PER_KERNEL_S = 1.0      # a fixed cost per kernel above a second is a unit error (ms, µs)
MAX_PER_INFERENCE_S = 60.0
MAX_PER_BYTE_S = 1e-6       # a microsecond per byte is 1 MB/s: slower than any memory
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
    # per-op-class factors (see roofline.engine.efficiency): compute classes scale the peak,
    # memory classes the bandwidth of memory-only layers
    efficiency: dict[str, float] = field(default_factory=dict)
    other_dtypes: dict[str, float] = field(default_factory=dict)  # dtype -> ridge point, same bandwidth
    # how the fit counted layers and kernels; analyze reads the profile this way unless told otherwise
    convention: str = ""
    execution: str = ""
    # model family -> latency multiplier (roofline.measure.terms: what the device does to a whole
    # architecture beyond its layers); a model of a family not listed gets none
    family: dict[str, float] = field(default_factory=dict)

    def family_factor(self, model: str) -> tuple[str, float] | None:
        """The family of ``model`` and its fitted multiplier, where the fit has one."""
        from .measure.terms import family_of

        fam = family_of(model)
        return (fam, self.family[fam]) if fam in self.family else None

    def ridge_point(self, dtype: str) -> float | None:
        if dtype == self.dtype:
            return self.ridge_point_macs_per_byte
        return self.other_dtypes.get(dtype)


@dataclass(frozen=True)
class Validation:
    """How well a profile predicts measurements it was not fitted to (cross-validated)."""

    status: str                     # fitted | measured | transferred
    data: str                       # what it was fitted to or checked against
    rows: int
    models: int
    folds: int                      # folds of the grouped cross-validation (== models: leave-one-out)
    method: str
    heldout_median_error: float     # median |predicted / measured - 1| on held-out rows
    ratio_p10: float                # 10th and 90th percentile of held-out measured / predicted: the
    ratio_p90: float                # 80 % band around a prediction
    terms: tuple[str, ...] = ()
    insample_median_error: float | None = None
    heldout_worst_error: float | None = None
    heldout_spearman: float | None = None
    macs_spearman: float | None = None
    macs_heldout_median_error: float | None = None
    source: str = ""
    # the 80 % band of a model whose family the fit gave no multiplier: held-out measured / predicted
    # without the family multipliers (None: the fit had no family term, ratio_p10/p90 hold for all)
    new_family_ratio_p10: float | None = None
    new_family_ratio_p90: float | None = None

    def describe(self) -> str:
        how = "leave-one-out" if self.folds >= self.models else f"{self.folds}-fold CV"
        return f"{self.status}, {how} over {self.models} models"


@dataclass(frozen=True)
class ShapeTerms:
    """How an op class's MAC rate falls for small layers: the output elements and the MACs per
    output element at which it attains half its ceiling on either axis (roofline.engine.shape)."""

    out_half: float
    reduction_half: float

    def factor(self, out_elems: Any, reduction: Any) -> Any:
        """The share of the class's ceiling a layer of this shape attains, in (0, 1]."""
        import numpy as np

        o = np.maximum(np.asarray(out_elems, dtype=np.float64), 1.0)
        r = np.maximum(np.asarray(reduction, dtype=np.float64), 1.0)
        return 1.0 / ((1.0 + self.out_half / o) * (1.0 + self.reduction_half / r))


@dataclass(frozen=True)
class Ceilings:
    """Attainable rates per op class, measured at one batch size (``roofline profile``); compute
    classes with ``shape`` terms attain ``macs_per_s`` only for large layers."""

    batch: int
    macs_per_s: dict[str, float]
    bytes_per_s: dict[str, float] = field(default_factory=dict)
    source: str = ""
    shape: dict[str, ShapeTerms] = field(default_factory=dict)


@dataclass(frozen=True)
class KernelCost:
    """Fixed seconds per kernel launch in one execution mode; ``by_op`` where an op class differs."""

    value: float
    source: str = ""
    confidence: str = ""
    by_op: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Overhead:
    """Costs Eq. 1 leaves out: per kernel (by execution mode) and per inference, in seconds."""

    per_kernel_s: dict[str, KernelCost] = field(default_factory=dict)
    per_inference_s: Figure | None = None
    # eager PyTorch on CPU: the allocator hands the largest activations back to the OS after each
    # inference, and page-faults them in again (zeroed) in the next one
    fresh_memory_s_per_byte: Figure | None = None

    def kernel_cost(self, execution: str) -> KernelCost:
        return self.per_kernel_s.get(execution, KernelCost(0.0))

    @property
    def inference_s(self) -> float:
        return self.per_inference_s.value if self.per_inference_s else 0.0


@dataclass(frozen=True)
class Roof:
    """The two numbers a roofline needs, and which reading of the profile gave them."""

    peak_macs_per_s: float
    mem_bw_bytes_per_s: float
    dtype: str
    mode: str  # "spec", "fitted" or "calibrated"
    ceilings: dict[str, float] | None = None  # calibrated: attainable MAC/s per op class
    ceiling_bytes: dict[str, float] | None = None  # calibrated: attainable bytes/s of memory-only ops
    ceilings_batch: int | None = None  # the batch size the ceilings were measured at
    ceiling_shape: dict[str, ShapeTerms] | None = None  # calibrated: how compute ceilings fall for small layers
    efficiency: dict[str, float] | None = None  # fitted: per-op-class factors (roofline.engine.efficiency)

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
    ceilings: tuple[Ceilings, ...] = ()
    overhead: Overhead = field(default_factory=Overhead)
    activations_on_chip: bool = False  # with on-chip caching, activations stay on chip too
    activations_on_chip_source: str = ""
    validation: Validation | None = None
    path: str = ""

    @property
    def ceilings_macs_per_s(self) -> dict[str, float]:
        """The batch-1 (or smallest-batch) MAC/s ceilings."""
        return dict(self.ceilings[0].macs_per_s) if self.ceilings else {}

    def ceilings_for(self, batch: int) -> Ceilings | None:
        """The ceilings measured at the batch size nearest ``batch`` (in log scale)."""
        if not self.ceilings:
            return None
        return min(self.ceilings, key=lambda c: (abs(math.log(c.batch) - math.log(batch)), c.batch))

    @property
    def dtypes(self) -> list[str]:
        fitted = [self.fitted.dtype, *self.fitted.other_dtypes] if self.fitted else []
        return list(dict.fromkeys([*self.peak_macs_per_s, *fitted]))

    @property
    def status(self) -> str:
        """Where the profile's prediction comes from: ``fitted``, ``measured`` or ``transferred`` (with
        a validation block), ``measured, unvalidated`` (microbenchmarks only), ``fitted, in-sample only``
        or ``spec-only, unvalidated``."""
        if self.validation is not None:
            return self.validation.status
        if self.machine:
            return "measured, unvalidated"
        if self.fitted is not None:
            return "fitted, in-sample only"
        return "spec-only, unvalidated"

    def roof(self, dtype: str | None = None, mode: str = "auto", batch: int = 1) -> Roof:
        """The roofline for ``dtype`` (default: the profile's).

        ``mode``: ``"spec"`` (vendor peak and bandwidth), ``"fitted"`` (the fitted
        ridge point; peak = RP x bandwidth, with the calibrated bandwidth when
        the fit has one), ``"calibrated"`` (spec numbers plus the measured
        per-op-class ceilings of ``roofline profile``, those measured at the batch
        size nearest ``batch``: each layer's MACs run at what its op class
        attains, not at the GEMM peak), or ``"auto"``: fitted
        where a fit exists for that dtype, else spec. Fitted is the default
        because it was fitted to measured latency; spec sheets overstate what
        layers reach.
        """
        dtype = self.default_dtype if dtype is None else dtype
        if not isinstance(dtype, str) or dtype not in BYTES_PER_ELEMENT:
            raise InvalidInputError(f"unknown dtype {show(dtype)}; use one of {', '.join(BYTES_PER_ELEMENT)}")
        if not isinstance(mode, str) or mode not in ("auto", "spec", "fitted", "calibrated"):
            raise InvalidInputError(f"roofline mode must be auto, spec, fitted or calibrated, got {show(mode)}")
        if mode == "calibrated":
            c = self.ceilings_for(batch)
            if c is None:
                raise ProfileError(f"profile {self.name} has no measured op ceilings (ceilings); "
                                   f"'roofline profile' measures them")
            spec = self.roof(dtype, "spec")
            return Roof(spec.peak_macs_per_s, spec.mem_bw_bytes_per_s, dtype, "calibrated",
                        dict(c.macs_per_s), dict(c.bytes_per_s), c.batch, ceiling_shape=dict(c.shape) or None)
        fit = self.fitted if self.fitted and self.fitted.ridge_point(dtype) is not None else None
        if mode == "fitted" and fit is None:
            have = f"for {', '.join([self.fitted.dtype, *self.fitted.other_dtypes])} only" if self.fitted else "none"
            raise ProfileError(f"profile {self.name} has no fitted roofline for {dtype} ({have})")
        if fit is not None and mode in ("auto", "fitted"):
            bw = fit.mem_bw_bytes_per_s or self.mem_bw_bytes_per_s.value
            return Roof(fit.ridge_point(dtype) * bw, bw, dtype, "fitted", efficiency=dict(fit.efficiency) or None)
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
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: {size:,} bytes is too large for a hardware profile (at most "
                               f"{MAX_PROFILE_BYTES:,})")
        text = path.read_text(encoding="utf-8")
        _refuse_aliases(text, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ProfileError(f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: cannot read: {e}") from None
    return _parse(data, str(path))


MAX_PROFILE_BYTES = 1 << 20
MAX_TEXT = 4096  # characters in a free-text field (name, description, source)


MAX_DEPTH = 16  # nesting levels; a profile needs 5


def _refuse_aliases(text: str, path: Path) -> None:
    """Profiles never need YAML anchors or aliases, nor deep nesting; refusing them, token by token
    and without recursion, bounds what a file can expand to before the parser's recursive walk."""
    opens = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
             yaml.FlowSequenceStartToken)
    closes = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            line = token.start_mark.line + 1
            raise ProfileError(f"{path}: line {line}: YAML anchors and aliases (&, *) are not allowed in "
                               f"hardware profiles")
        if isinstance(token, opens):
            depth += 1
            if depth > MAX_DEPTH:
                raise ProfileError(f"{path}: line {token.start_mark.line + 1}: nested more than {MAX_DEPTH} levels "
                                   f"deep; a hardware profile needs 5")
        elif isinstance(token, closes):
            depth -= 1


def _text(value: Any, where: str, field_name: str) -> str:
    """A free-text field: a string (numbers are written as text) of bounded length."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProfileError(f"{where}: {field_name} must be text, got {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ProfileError(f"{where}: {field_name} has {len(text):,} characters (at most {MAX_TEXT:,})")
    return text


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
    lo, hi = (_PLAUSIBLE_MIN[unit_key], _PLAUSIBLE_MAX[unit_key]) if unit_key else (None, None)
    return number(value, f"{where}: {field_name}", lo, hi, units_hint=_UNITS.get(unit_key or "", ""),
                  error=ProfileError)


def _seconds(value: Any, where: str, field_name: str, upper: float) -> float:
    """A fixed cost in seconds: zero or positive, below ``upper``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return 0.0
    v = _number(value, where, field_name)
    if v > upper:
        raise ProfileError(f"{where}: {field_name} = {v:g} s is implausibly large (above {upper:g} s): "
                           f"units are seconds (e.g. 3e-06, not 3 µs)")
    return v


def _check_keys(d: dict, allowed: set[str], where: str, context: str) -> None:
    for k in d:
        if k not in allowed:
            raise ProfileError(f"{where}: unknown key {context}{k!r}{closest(str(k), allowed, n=1)}")


def _figure(value: Any, where: str, field_name: str, unit_key: str) -> Figure:
    if isinstance(value, dict):
        _check_keys(value, FIGURE_KEYS, where, f"{field_name}.")
        if "value" not in value:
            raise ProfileError(f"{where}: {field_name} is missing 'value'")
        conf = _confidence(value, where, field_name)
        return Figure(_number(value["value"], where, f"{field_name}.value", unit_key),
                      _text(value.get("source"), where, f"{field_name}.source"), conf)
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
        others = f.get("other_dtypes") or {}
        if not isinstance(others, dict) or any(d not in BYTES_PER_ELEMENT for d in others):
            raise ProfileError(f"{where}: fitted.other_dtypes must map a dtype ({', '.join(BYTES_PER_ELEMENT)}) "
                               f"to its ridge point")
        fitted = Fitted(fdt, _ridge_point(f["ridge_point_macs_per_byte"], where, "fitted.ridge_point_macs_per_byte"),
                        _number(fbw, where, "fitted.mem_bw_bytes_per_s", "mem_bw_bytes_per_s")
                        if fbw is not None else None,
                        _text(f.get("source"), where, "fitted.source"),
                        _text(f.get("confidence"), where, "fitted.confidence"),
                        _efficiency(f.get("efficiency"), where),
                        {str(d): _ridge_point(v, where, f"fitted.other_dtypes.{d}") for d, v in others.items()},
                        _choice(f.get("convention", ""), where, "fitted.convention", ("", "default", "mnv4-paper",
                                                                                      "unfused")),
                        _choice(f.get("execution", ""), where, "fitted.execution", ("",) + EXECUTIONS),
                        _family(f.get("family"), where))
    if fitted is not None:
        fbw = fitted.mem_bw_bytes_per_s or bw.value
        for dt_, rp_ in [(fitted.dtype, fitted.ridge_point_macs_per_byte), *fitted.other_dtypes.items()]:
            peak_ = rp_ * fbw
            lo_, hi_ = _PLAUSIBLE_MIN["peak_macs_per_s"], _PLAUSIBLE_MAX["peak_macs_per_s"]
            if not lo_ <= peak_ <= hi_:
                raise ProfileError(f"{where}: fitted ridge point x bandwidth gives a {dt_} peak of {peak_:g} MAC/s, "
                                   f"outside the plausible {lo_:g} to {hi_:g}")
    if default_dtype not in peaks and not (fitted and fitted.dtype == default_dtype):
        raise ProfileError(f"{where}: no peak_macs_per_s for the default dtype {default_dtype} "
                           f"and no fitted roofline for it")
    ceilings = _ceilings(data, where)
    overhead = _overhead(data.get("overhead"), where)
    act = data.get("activations_on_chip") or {}
    if not isinstance(act, dict) or not isinstance(act.get("value", False), bool):
        raise ProfileError(f"{where}: activations_on_chip must be a mapping {{value: true or false, source: ...}}")
    _check_keys(act, FIGURE_KEYS, where, "activations_on_chip.")
    if act.get("value") and on_chip is None:
        raise ProfileError(f"{where}: activations_on_chip needs on_chip_bytes")
    validation = _validation(data.get("validation"), where)
    machine = data.get("machine") or {}
    if not isinstance(machine, dict):
        raise ProfileError(f"{where}: machine must be a mapping")
    for k, v in machine.items():
        if not isinstance(v, (str, int, float, bool)) or (isinstance(v, str) and len(v) > MAX_TEXT):
            raise ProfileError(f"{where}: machine.{k} must be a number or a text of at most {MAX_TEXT:,} "
                               f"characters")
    return HardwareProfile(_text(data["name"], where, "name"), kind,
                           _text(data.get("description"), where, "description"), default_dtype,
                           peaks, bw, on_chip, fitted, machine, ceilings, overhead, bool(act.get("value", False)),
                           _text(act.get("source"), where, "activations_on_chip.source"), validation, where)


def _choice(value: Any, where: str, field_name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ProfileError(f"{where}: {field_name} must be one of {', '.join(o for o in options if o)}, got "
                           f"{value!r}")
    return value


def _ridge_point(value: Any, where: str, field_name: str) -> float:
    v = _number(value, where, field_name)
    if not MIN_RIDGE_POINT <= v <= MAX_RIDGE_POINT:
        raise ProfileError(f"{where}: {field_name} = {v:g} MACs/byte is implausible (ridge points go from "
                           f"{MIN_RIDGE_POINT:g} to {MAX_RIDGE_POINT:g})")
    return v


def _factors(raw: Any, where: str, key: str, what: str, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """A ``fitted.<key>`` mapping of names (from ``names`` where given) to factors within EFFICIENCY_RANGE."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: fitted.{key} must map {what}")
    out = {}
    lo, hi = EFFICIENCY_RANGE
    for k, v in raw.items():
        if names is not None and k not in names:
            raise ProfileError(f"{where}: fitted.{key} has unknown op class {k!r}"
                               f"{closest(str(k), names, n=1)}; use {', '.join(names)}")
        x = _number(v, where, f"fitted.{key}.{k}")
        if not lo <= x <= hi:
            raise ProfileError(f"{where}: fitted.{key}.{k} = {x:g} is outside {lo:g} to {hi:g}")
        out[str(k)] = x
    return out


def _efficiency(raw: Any, where: str) -> dict[str, float]:
    from .engine.efficiency import EFFICIENCY_CLASSES

    return _factors(raw, where, "efficiency", "an op class to a factor", EFFICIENCY_CLASSES)


def _family(raw: Any, where: str) -> dict[str, float]:
    return _factors(raw, where, "family", "a model family to a latency multiplier")


def _validation(raw: Any, where: str) -> Validation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: validation must be a mapping")
    _check_keys(raw, VALIDATION_KEYS, where, "validation.")
    for k in ("status", "rows", "models", "folds", "heldout_median_error", "ratio_p10", "ratio_p90"):
        if k not in raw:
            raise ProfileError(f"{where}: validation is missing {k!r}")
    status = str(raw["status"])
    if status not in STATUSES:
        raise ProfileError(f"{where}: validation.status must be one of {', '.join(STATUSES)}, got {status!r}")
    counts = {}
    for k in ("rows", "models", "folds"):
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10_000_000:
            raise ProfileError(f"{where}: validation.{k} must be a positive integer, got {v!r}")
        counts[k] = v

    def frac(k: str, hi: float = 1e3) -> float | None:
        if raw.get(k) is None:
            return None
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= hi:
            raise ProfileError(f"{where}: validation.{k} must be a number from 0 to {hi:g}, got {v!r}")
        return float(v)

    def corr(k: str) -> float | None:
        if raw.get(k) is None:
            return None
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1 <= v <= 1:
            raise ProfileError(f"{where}: validation.{k} must be a correlation from -1 to 1, got {v!r}")
        return float(v)

    p10, p90 = frac("ratio_p10"), frac("ratio_p90")
    if not 0 < p10 <= p90:
        raise ProfileError(f"{where}: validation needs 0 < ratio_p10 <= ratio_p90, got {p10:g} and {p90:g}")
    n10, n90 = frac("new_family_ratio_p10"), frac("new_family_ratio_p90")
    if (n10 is None) != (n90 is None) or (n10 is not None and not 0 < n10 <= n90):
        raise ProfileError(f"{where}: validation needs both new_family_ratio_p10 and new_family_ratio_p90, "
                           f"0 < p10 <= p90, got {n10} and {n90}")
    terms = raw.get("terms") or []
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ProfileError(f"{where}: validation.terms must be a list of term names")
    return Validation(status, _text(raw.get("data"), where, "validation.data"), counts["rows"], counts["models"],
                      counts["folds"], _text(raw.get("method"), where, "validation.method"),
                      frac("heldout_median_error"), p10, p90, tuple(terms), frac("insample_median_error"),
                      frac("heldout_worst_error"), corr("heldout_spearman"), corr("macs_spearman"),
                      frac("macs_heldout_median_error"), _text(raw.get("source"), where, "validation.source"),
                      n10, n90)


def _rates(d: Any, where: str, field_name: str, unit_key: str) -> dict[str, float]:
    if not isinstance(d, dict):
        raise ProfileError(f"{where}: {field_name} must be a mapping of op class to number")
    return {str(k): _number(v, where, f"{field_name}.{k}", unit_key) for k, v in d.items()}


def _ceilings(data: dict, where: str) -> tuple[Ceilings, ...]:
    out = []
    if data.get("ceilings_macs_per_s") is not None:
        out.append(Ceilings(1, _rates(data["ceilings_macs_per_s"], where, "ceilings_macs_per_s",
                                      "peak_macs_per_s")))
    raw = data.get("ceilings")
    if raw is not None:
        if not isinstance(raw, list):
            raise ProfileError(f"{where}: ceilings must be a list of {{batch, macs_per_s, bytes_per_s}}")
        for i, c in enumerate(raw):
            at = f"ceilings[{i}]"
            if not isinstance(c, dict):
                raise ProfileError(f"{where}: {at} must be a mapping")
            _check_keys(c, CEILING_KEYS, where, f"{at}.")
            batch = c.get("batch", 1)
            if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
                raise ProfileError(f"{where}: {at}.batch must be a positive integer, got {batch!r}")
            out.append(Ceilings(batch, _rates(c.get("macs_per_s") or {}, where, f"{at}.macs_per_s",
                                              "peak_macs_per_s"),
                                _rates(c.get("bytes_per_s") or {}, where, f"{at}.bytes_per_s",
                                       "mem_bw_bytes_per_s"), _text(c.get("source"), where, f"{at}.source"),
                                _shape_terms(c.get("shape"), where, f"{at}.shape")))
    batches = [c.batch for c in out]
    if len(set(batches)) != len(batches):
        raise ProfileError(f"{where}: ceilings are given twice for batch {max(batches, key=batches.count)}")
    return tuple(sorted(out, key=lambda c: c.batch))


def _shape_terms(raw: Any, where: str, at: str) -> dict[str, ShapeTerms]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: {at} must be a mapping of op class to {{out_half, reduction_half}}")
    out = {}
    for op, terms in raw.items():
        if not isinstance(terms, dict) or set(terms) != {"out_half", "reduction_half"}:
            raise ProfileError(f"{where}: {at}.{op} must be a mapping with out_half and reduction_half")
        vals = []
        for k in ("out_half", "reduction_half"):
            v = terms[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ProfileError(f"{where}: {at}.{op}.{k} must be a number >= 0, got {v!r}")
            vals.append(float(v))
        out[str(op)] = ShapeTerms(*vals)
    return out


def _overhead(raw: Any, where: str) -> Overhead:
    if raw is None:
        return Overhead()
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: overhead must be a mapping with per_kernel_s and/or per_inference_s")
    _check_keys(raw, OVERHEAD_KEYS, where, "overhead.")
    per_inf = _seconds_figure(raw, "per_inference_s", where, MAX_PER_INFERENCE_S)
    kernels = {}
    pk = raw.get("per_kernel_s") or {}
    if not isinstance(pk, dict):
        raise ProfileError(f"{where}: overhead.per_kernel_s must map an execution mode "
                           f"({', '.join(EXECUTIONS)}) to seconds")
    for ex, v in pk.items():
        if ex not in EXECUTIONS:
            raise ProfileError(f"{where}: overhead.per_kernel_s has unknown execution mode {ex!r}; use "
                               f"{', '.join(EXECUTIONS)}")
        d = v if isinstance(v, dict) else {"value": v}
        at = f"overhead.per_kernel_s.{ex}"
        _check_keys(d, FIGURE_KEYS | {"by_op"}, where, f"{at}.")
        by_op = d.get("by_op") or {}
        if not isinstance(by_op, dict):
            raise ProfileError(f"{where}: {at}.by_op must map an op class to seconds")
        kernels[ex] = KernelCost(_seconds(d.get("value"), where, f"{at}.value", MAX_PER_KERNEL_S),
                                 _text(d.get("source"), where, f"{at}.source"), _confidence(d, where, at),
                                 {str(k): _seconds(x, where, f"{at}.by_op.{k}", MAX_PER_KERNEL_S)
                                  for k, x in by_op.items()})
    fresh = _seconds_figure(raw, "fresh_memory_s_per_byte", where, MAX_PER_BYTE_S)
    return Overhead(kernels, per_inf, fresh)


def _seconds_figure(raw: dict, key: str, where: str, upper: float) -> Figure | None:
    """``overhead.<key>``: seconds (a number, or a figure with source and confidence), or None."""
    if raw.get(key) is None:
        return None
    v = raw[key]
    d = v if isinstance(v, dict) else {"value": v}
    _check_keys(d, FIGURE_KEYS, where, f"overhead.{key}.")
    return Figure(_seconds(d.get("value"), where, f"overhead.{key}.value", upper),
                  _text(d.get("source"), where, f"overhead.{key}.source"),
                  _confidence(d, where, f"overhead.{key}"))


def _confidence(d: dict, where: str, field_name: str) -> str:
    conf = str(d.get("confidence", ""))
    if conf and conf not in CONFIDENCE:
        raise ProfileError(f"{where}: {field_name}.confidence must be one of {', '.join(CONFIDENCE)}, "
                           f"got {conf!r}")
    return conf


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
    if p.activations_on_chip:
        doc["activations_on_chip"] = {"value": True, "source": p.activations_on_chip_source}
    if p.fitted:
        f = p.fitted
        doc["fitted"] = {"dtype": f.dtype, "ridge_point_macs_per_byte": float(f.ridge_point_macs_per_byte)}
        if f.mem_bw_bytes_per_s:
            doc["fitted"]["mem_bw_bytes_per_s"] = float(f.mem_bw_bytes_per_s)
        if f.other_dtypes:
            doc["fitted"]["other_dtypes"] = {k: float(v) for k, v in f.other_dtypes.items()}
        if f.efficiency:
            doc["fitted"]["efficiency"] = {k: float(v) for k, v in f.efficiency.items()}
        if f.convention:
            doc["fitted"]["convention"] = f.convention
        if f.execution:
            doc["fitted"]["execution"] = f.execution
        if f.family:
            doc["fitted"]["family"] = {k: round(float(v), 4) for k, v in f.family.items()}
        doc["fitted"].update({"source": f.source, "confidence": f.confidence})
    if p.overhead.per_kernel_s or p.overhead.per_inference_s or p.overhead.fresh_memory_s_per_byte:
        o: dict[str, Any] = {}
        if p.overhead.per_inference_s:
            o["per_inference_s"] = fig(p.overhead.per_inference_s)
        if p.overhead.fresh_memory_s_per_byte:
            o["fresh_memory_s_per_byte"] = fig(p.overhead.fresh_memory_s_per_byte)
        if p.overhead.per_kernel_s:
            o["per_kernel_s"] = {}
            for ex, k in p.overhead.per_kernel_s.items():
                d = fig(Figure(k.value, k.source, k.confidence))
                if k.by_op:
                    d["by_op"] = {op: float(v) for op, v in k.by_op.items()}
                o["per_kernel_s"][ex] = d
        doc["overhead"] = o
    if p.ceilings:
        doc["ceilings"] = []
        for c in p.ceilings:
            d = {"batch": c.batch, "macs_per_s": {k: float(v) for k, v in c.macs_per_s.items()}}
            if c.bytes_per_s:
                d["bytes_per_s"] = {k: float(v) for k, v in c.bytes_per_s.items()}
            if c.shape:
                d["shape"] = {k: {"out_half": float(t.out_half), "reduction_half": float(t.reduction_half)}
                              for k, t in c.shape.items()}
            if c.source:
                d["source"] = c.source
            doc["ceilings"].append(d)
    if p.validation:
        doc["validation"] = validation_to_dict(p.validation)
    if p.machine:
        doc["machine"] = dict(p.machine)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100)


def validation_to_dict(v: Validation) -> dict[str, Any]:
    """A validation block as written to YAML (None fields left out)."""
    d: dict[str, Any] = {"status": v.status, "data": v.data, "rows": v.rows, "models": v.models,
                         "folds": v.folds, "method": v.method, "terms": list(v.terms)}
    for k in ("insample_median_error", "heldout_median_error", "heldout_worst_error", "heldout_spearman",
              "macs_spearman", "macs_heldout_median_error", "ratio_p10", "ratio_p90", "new_family_ratio_p10",
              "new_family_ratio_p90"):
        x = getattr(v, k)
        if x is not None:
            d[k] = round(float(x), 4)
    if v.source:
        d["source"] = v.source
    return d


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
