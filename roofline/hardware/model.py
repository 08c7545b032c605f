"""The profile data model: figures with sources, fits, validation blocks, ceilings, overheads,
the roofline a profile gives, and the limits YAML values are checked against."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..core.checks import show
from ..core.errors import InvalidInputError, ProfileError
from ..core.reading import EXECUTIONS, Mode, parse_mode
from ..core.taxonomy import canonical_family

BYTES_PER_ELEMENT: dict[str, int] = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
KINDS = ("cpu", "gpu", "dsp", "npu")
CONFIDENCE = ("high", "medium", "low", "medium/high", "high/medium", "medium/low", "low/medium",
              "low/high", "measured")
TOP_KEYS = {"name", "kind", "description", "default_dtype", "peak_macs_per_s", "mem_bw_bytes_per_s",
            "on_chip_bytes", "fitted", "machine", "ceilings_macs_per_s", "ceilings", "overhead",
            "activations_on_chip", "validation"}
OVERHEAD_KEYS = {"per_inference_s", "per_kernel_s", "fresh_memory_s_per_byte", "fresh_memory_share"}
CEILING_KEYS = {"batch", "macs_per_s", "bytes_per_s", "source", "shape", "parallel"}
REQUIRED = ("name", "kind", "default_dtype", "mem_bw_bytes_per_s")
FIGURE_KEYS = {"value", "source", "confidence"}
FITTED_KEYS = {"dtype", "ridge_point_macs_per_byte", "mem_bw_bytes_per_s", "source", "confidence", "efficiency",
               "other_dtypes", "convention", "execution", "family", "reduction_half"}
VALIDATION_KEYS = {"status", "data", "rows", "models", "folds", "method", "terms", "insample_median_error",
                   "heldout_median_error", "heldout_worst_error", "heldout_spearman", "macs_spearman",
                   "macs_heldout_median_error", "ratio_p10", "ratio_p90", "new_family_ratio_p10",
                   "new_family_ratio_p90", "source", "reading", "nested_heldout_median_error",
                   "nested_heldout_worst_error", "nested_spearman", "nested_band_coverage", "nested_folds"}
STATUSES = ("fitted", "measured", "transferred")
MAX_RIDGE_POINT = 1e6  # MACs per byte: far above any accelerator (the paper sweeps to 500)
MIN_RIDGE_POINT = 1e-3
EFFICIENCY_RANGE = (1e-4, 1e2)  # a class factor outside this is a fit gone wrong, not hardware
MAX_REDUCTION_HALF = 1e5  # MACs per output element: the fit's own bound (roofline.fit.terms)
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
    # model family -> latency multiplier (roofline.fit.terms: what the device does to a whole
    # architecture beyond its layers); a model of a family not listed gets none
    family: dict[str, float] = field(default_factory=dict)
    # MACs per output element at which a compute layer runs at half its class's rate
    # (roofline.fit.terms: short inner loops); None: no such term
    reduction_half: float | None = None

    def family_factor(self, family: str | None) -> tuple[str, float] | None:
        """The fitted multiplier of ``family`` (roofline.zoo.families resolves a model's; hardware cannot),
        as ``(the profile's key, multiplier)``, where the fit has one. Both are read through
        roofline.core.taxonomy.canonical_family: a profile fitted before families were resolved (key
        ``mnv4``) still serves ``mobilenetv4``."""
        if not family:
            return None
        family = canonical_family(family)
        if family in self.family:
            return family, self.family[family]
        return next(((k, g) for k, g in self.family.items() if canonical_family(k) == family), None)

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
    # the reading the validating runs used (``validate --save-band``: its ``reading`` key, or in older
    # files the method text); None: the profile's default reading
    reading: Mode | None = None
    # the nested check (``roofline fit --outer-folds K``): an outer grouped K-fold split whose training parts
    # each run the whole selection (terms, convention, band): the honest held-out figures (None: not run)
    nested_heldout_median_error: float | None = None
    nested_heldout_worst_error: float | None = None
    nested_spearman: float | None = None
    nested_band_coverage: float | None = None  # share of outer held-out rows inside their training part's band
    nested_folds: int | None = None

    def describe(self) -> str:
        how = "leave-one-out" if self.folds >= self.models else f"{self.folds}-fold CV"
        return f"{self.status}, {how} over {self.models} models"

    def headline(self) -> tuple[float, str]:
        """The median error a user should see first, and what it is: the nested check's where it ran, else
        the selection's own held-out error (optimistic: the terms were chosen on the same folds)."""
        if self.nested_heldout_median_error is not None:
            return self.nested_heldout_median_error, "nested"
        return self.heldout_median_error, "held out"


@dataclass(frozen=True)
class ShapeTerms:
    """How an op class's MAC rate falls for small layers: the output elements, the MACs per output
    element, the MACs per weight and the output channels at which it attains half its ceiling on
    each axis (roofline.engine.shape)."""

    out_half: float
    reduction_half: float
    reuse_half: float = 0.0
    channels_half: float = 0.0

    def factor(self, out_elems: Any, reduction: Any, reuse: Any = None) -> Any:
        """The share of the class's ceiling a layer of this shape attains, in (0, 1]."""
        import numpy as np

        o = np.maximum(np.asarray(out_elems, dtype=np.float64), 1.0)
        r = np.maximum(np.asarray(reduction, dtype=np.float64), 1.0)
        f = 1.0 / ((1.0 + self.out_half / o) * (1.0 + self.reduction_half / r))
        if reuse is not None and (self.reuse_half or self.channels_half):
            u = np.maximum(np.asarray(reuse, dtype=np.float64), 1.0)
            # channels = o / u; a layer without weights (u infinite: attention's matmuls, a conv whose weights
            # another layer already holds) has no channel or reuse term
            with np.errstate(invalid="ignore"):
                ch = np.where(np.isinf(u), 0.0, self.channels_half * u / o)
            f = f / ((1.0 + self.reuse_half / u) * (1.0 + ch))
        return f


@dataclass(frozen=True)
class Ceilings:
    """Attainable rates per op class, measured at one batch size (``roofline profile``); compute
    classes with ``shape`` terms attain ``macs_per_s`` only for large layers."""

    batch: int
    macs_per_s: dict[str, float]
    bytes_per_s: dict[str, float] = field(default_factory=dict)
    source: str = ""
    shape: dict[str, ShapeTerms] = field(default_factory=dict)
    # op class -> (output elements from which a kernel runs in parallel, its extra seconds then)
    parallel: dict[str, tuple[float, float]] = field(default_factory=dict)


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
    # eager PyTorch on CPU: the allocator hands activations back to the OS during each inference and
    # page-faults them in again (zeroed): per byte, and which bytes. With a share, that share of all the
    # layers' activation bytes (roofline profile writes a stated average, measure/overheads.py); without
    # one (profiles made before the share), the largest layer's activations
    fresh_memory_s_per_byte: Figure | None = None
    fresh_memory_share: Figure | None = None

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
    mode: Mode  # SPEC, FITTED or CALIBRATED (never AUTO)
    ceilings: dict[str, float] | None = None  # calibrated: attainable MAC/s per op class
    ceiling_bytes: dict[str, float] | None = None  # calibrated: attainable bytes/s of memory-only ops
    ceilings_batch: int | None = None  # the batch size the ceilings were measured at
    ceiling_shape: dict[str, ShapeTerms] | None = None  # calibrated: how compute ceilings fall for small layers
    ceiling_parallel: dict[str, tuple[float, float]] | None = None  # calibrated: parallel kernels' extra cost
    efficiency: dict[str, float] | None = None  # fitted: per-op-class factors (roofline.engine.efficiency)
    reduction_half: float | None = None  # fitted: compute layers run at 1 / (1 + this / MACs per output)

    def __post_init__(self) -> None:
        mode = parse_mode(self.mode)  # a Mode, also where a caller wrote the string
        if mode is Mode.AUTO:
            raise InvalidInputError("a Roof is one reading of a profile: spec, fitted or calibrated, not auto")
        object.__setattr__(self, "mode", mode)

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

    def reads_calibrated(self, dtype: str | None = None) -> bool:
        """Whether ``auto`` reads the profile through its measured ceilings: a measured profile (ceilings,
        no fit for ``dtype``) at the dtype it measured them at."""
        dtype = self.default_dtype if dtype is None else dtype
        fitted = self.fitted is not None and self.fitted.ridge_point(dtype) is not None
        return bool(self.ceilings) and not fitted and dtype == self.default_dtype

    def roof(self, dtype: str | None = None, mode: Mode | str = Mode.AUTO, batch: int = 1) -> Roof:
        """The roofline for ``dtype`` (default: the profile's).

        ``mode``: ``"spec"`` (vendor peak and bandwidth), ``"fitted"`` (the fitted
        ridge point; peak = RP x bandwidth, with the calibrated bandwidth when
        the fit has one), ``"calibrated"`` (spec numbers plus the measured
        per-op-class ceilings of ``roofline profile``, those measured at the batch
        size nearest ``batch``: each layer's MACs run at what its op class
        attains, not at the GEMM peak), or ``"auto"``: fitted
        where a fit exists for that dtype, else calibrated where the profile
        measured ceilings at that dtype, else spec. Fitted and calibrated are
        the defaults because they were checked against measured latency; spec
        sheets overstate what layers reach.
        """
        dtype = self.default_dtype if dtype is None else dtype
        if not isinstance(dtype, str) or dtype not in BYTES_PER_ELEMENT:
            raise InvalidInputError(f"unknown dtype {show(dtype)}; use one of {', '.join(BYTES_PER_ELEMENT)}")
        mode = parse_mode(mode)
        if mode is Mode.AUTO and self.reads_calibrated(dtype):
            mode = Mode.CALIBRATED
        if mode is Mode.CALIBRATED:
            c = self.ceilings_for(batch)
            if c is None:
                raise ProfileError(f"profile {self.name} has no measured op ceilings (ceilings); "
                                   f"'roofline profile' measures them")
            spec = self.roof(dtype, Mode.SPEC)
            return Roof(spec.peak_macs_per_s, spec.mem_bw_bytes_per_s, dtype, Mode.CALIBRATED,
                        dict(c.macs_per_s), dict(c.bytes_per_s), c.batch, ceiling_shape=dict(c.shape) or None,
                        ceiling_parallel=dict(c.parallel) or None)
        fit = self.fitted if self.fitted and self.fitted.ridge_point(dtype) is not None else None
        if mode is Mode.FITTED and fit is None:
            have = f"for {', '.join([self.fitted.dtype, *self.fitted.other_dtypes])} only" if self.fitted else "none"
            raise ProfileError(f"profile {self.name} has no fitted roofline for {dtype} ({have})")
        if fit is not None and mode in (Mode.AUTO, Mode.FITTED):
            bw = fit.mem_bw_bytes_per_s or self.mem_bw_bytes_per_s.value
            return Roof(fit.ridge_point(dtype) * bw, bw, dtype, Mode.FITTED, efficiency=dict(fit.efficiency) or None,
                        reduction_half=fit.reduction_half)
        if dtype not in self.peak_macs_per_s:
            have = ", ".join(self.peak_macs_per_s) or "none"
            raise ProfileError(f"profile {self.name} has no peak for dtype {dtype} (it has: {have})")
        return Roof(self.peak_macs_per_s[dtype].value, self.mem_bw_bytes_per_s.value, dtype, Mode.SPEC)
