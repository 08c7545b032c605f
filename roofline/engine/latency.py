"""The latency model: Eq. 1 plus the fixed costs it leaves out.

Per layer::

    latency_s = max(mac_time_s, mem_time_s) + overhead_s
    overhead_s = sum over the layer's kernels of the per-kernel cost of its op class

and per model ``total = sum(latency_s) + per-inference cost``, where eager execution
on a profile that measured it adds the cost of page-faulting fresh memory: eager
PyTorch on CPU hands activations back to the OS during each inference, and the
profile states what share of a network's activation bytes that is (older profiles:
the largest layer's activations). How many kernels a layer is depends on how the model
executes:

- ``fused``: a deployed engine or compiled graph: one kernel per fused layer
  (conv + BN + activation is one kernel).
- ``eager``: PyTorch eager: one kernel per aten op (conv + BN + activation is
  three), with unfused bytes (the ``unfused`` convention).
- ``graph``: CUDA-graph replay of the eager kernels: the same kernels, a
  smaller launch cost.

The costs come from a profile's ``overhead`` block (measured by ``roofline
profile`` or fitted by ``roofline fit``); without one they are zero and the
latency is exactly Eq. 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.errors import RooflineError
from ..core.reading import EXECUTIONS, Execution, Mode, parse_execution  # noqa: F401 (EXECUTIONS: re-exported)
from ..hardware import HardwareProfile, KernelCost, Overhead, Roof
from ..core.units import seconds as seconds_text
from ..core.taxonomy import measured_class, measured_ops


def check_execution(execution: Execution | str) -> Execution:
    """``execution`` as an :class:`Execution` (its string is accepted); anything else is an error."""
    return parse_execution(execution)


def kernel_counts(layers: pd.DataFrame, execution: str) -> np.ndarray:
    """Kernels per layer: 1 when fused, else 1 + the ops fused into the row (one per aten op)."""
    execution = check_execution(execution)
    n = len(layers)
    if execution is Execution.FUSED or "fused" not in layers:
        return np.ones(n, dtype=np.int64)
    return np.array([1 + (len(f.split(",")) if f else 0) for f in layers["fused"]], dtype=np.int64)


def _cost(cost: KernelCost, op: str, kernel: str, groups: object, memory_only: bool) -> float:
    c = measured_class(cost.by_op, op, kernel, groups, memory_only) if cost.by_op else None
    return cost.by_op[c] if c else cost.value


def kernel_overheads(layers: pd.DataFrame, cost: KernelCost, execution: str) -> np.ndarray:
    """Seconds of fixed per-kernel cost per layer (the layer's own op, plus its fused ops when
    they run as separate kernels)."""
    execution = check_execution(execution)
    if cost.value == 0 and not cost.by_op:
        return np.zeros(len(layers))
    kernels = layers["kernel"] if "kernel" in layers else [""] * len(layers)
    groups = layers["groups"] if "groups" in layers else [1] * len(layers)
    mem = layers["memory_only"] if "memory_only" in layers else [False] * len(layers)
    fused = layers["fused"] if "fused" in layers else [""] * len(layers)
    out = np.empty(len(layers))
    for i, (op, k, g, m, f) in enumerate(zip(measured_ops(layers), kernels, groups, mem, fused)):
        t = _cost(cost, op, k, g, bool(m))
        if execution is not Execution.FUSED and f:
            t += sum(_cost(cost, x, "", 1, True) for x in f.split(","))
        out[i] = t
    return out


@dataclass(frozen=True)
class LatencyModel:
    """Which terms a prediction uses beyond Eq. 1, and their values."""

    execution: Execution = Execution.FUSED
    per_kernel: KernelCost = KernelCost(0.0)
    per_inference_s: float = 0.0
    source: str = ""
    fresh_memory_s_per_byte: float = 0.0
    fresh_memory_share: float | None = None  # of all layers' activation bytes; None: the largest layer's

    def __post_init__(self) -> None:
        object.__setattr__(self, "execution", check_execution(self.execution))  # an Execution, also from a string

    @property
    def is_eq1(self) -> bool:
        """No overhead terms: the prediction is exactly Eq. 1."""
        k = self.per_kernel
        return (k.value == 0 and not k.by_op and self.per_inference_s == 0
                and self.fresh_memory_s_per_byte == 0)

    def inference_s(self, layers: pd.DataFrame) -> float:
        """The per-inference cost: fixed, plus page-faulting fresh memory (a share of all the layers'
        activation bytes, or the largest layer's)."""
        return self.per_inference_s + self.fresh_s(layers)

    def fresh_s(self, layers: pd.DataFrame) -> float:
        """Seconds of page-faulting fresh memory per inference."""
        if not self.fresh_memory_s_per_byte or not len(layers):
            return 0.0
        act = layers["activation_bytes"]
        fresh_bytes = (float(act.max()) if self.fresh_memory_share is None
                       else self.fresh_memory_share * float(act.sum()))
        return fresh_bytes * self.fresh_memory_s_per_byte

    def describe(self, sources: bool = True) -> str:
        """The terms in words; ``sources`` appends where each figure came from."""
        if self.is_eq1:
            return (f"execution {self.execution}; overhead terms: none (Eq. 1 only: per-layer "
                    f"max(MAC time, memory time))")
        by_op = ", ".join(f"{k} {seconds_text(v)}" for k, v in self.per_kernel.by_op.items())
        return (f"execution {self.execution}; overhead terms: {seconds_text(self.per_kernel.value)} per kernel"
                f"{f' ({by_op})' if by_op else ''}"
                + f", {seconds_text(self.per_inference_s)} per inference"
                + (f" plus {seconds_text(self.fresh_memory_s_per_byte * 1e6)} per MB of fresh memory: "
                   + (f"{self.fresh_memory_share:.1%} of all the layers' activation bytes" if
                      self.fresh_memory_share is not None else "the largest layer's activations")
                   if self.fresh_memory_s_per_byte else "")
                + (f" [{self.source}]" if self.source and sources else ""))


def latency_model(profile: HardwareProfile, execution: Execution | str = Execution.FUSED,
                  overhead: bool | None = None) -> LatencyModel:
    """The profile's overhead terms for ``execution``; ``overhead=False`` gives Eq. 1 alone."""
    execution = check_execution(execution)
    if overhead is False:
        return LatencyModel(execution)
    o: Overhead = profile.overhead
    cost = o.kernel_cost(execution)
    if overhead is True and not o.per_kernel_s and o.per_inference_s is None and o.fresh_memory_s_per_byte is None:
        raise RooflineError(f"profile {profile.name} has no overhead block; 'roofline profile' measures one "
                            f"and 'roofline fit' fits one")
    fresh = o.fresh_memory_s_per_byte if execution is Execution.EAGER else None
    share = o.fresh_memory_share if fresh else None
    src = "; ".join(dict.fromkeys(s for s in (cost.source, o.per_inference_s.source if o.per_inference_s else "",
                                fresh.source if fresh else "", share.source if share else "")
                                  if s))  # a shared source, once
    return LatencyModel(execution, cost, o.inference_s, src, fresh.value if fresh else 0.0,
                        share.value if share else None)


def parallel_overheads(layers: pd.DataFrame, roof: Roof) -> np.ndarray:
    """Seconds each layer pays for running in parallel (calibrated profiles measured on several
    threads): its class's extra fixed cost where its output has at least the class's threshold of
    elements."""
    extra = np.zeros(len(layers))
    par = roof.ceiling_parallel or {}
    if not par:
        return extra
    from .shape import layer_shapes

    out, _, _ = layer_shapes(layers)
    kernels = layers["kernel"] if "kernel" in layers else [""] * len(layers)
    groups = layers["groups"] if "groups" in layers else [1] * len(layers)
    mem = layers["memory_only"] if "memory_only" in layers else [False] * len(layers)
    for i, (op, k, g, m) in enumerate(zip(measured_ops(layers), kernels, groups, mem)):
        c = measured_class(roof.ceiling_bytes or {}, op, k, g, True) if m else measured_class(roof.ceilings or {}, op, k, g)
        if c in par and out[i] >= par[c][0]:
            extra[i] = par[c][1]
    return extra


def add_overheads(layers: pd.DataFrame, model: LatencyModel, roof: Roof | None = None) -> pd.DataFrame:
    """Add ``kernels``, ``roofline_s`` (Eq. 1) and ``overhead_s``; ``latency_s`` becomes their sum.
    A calibrated ``roof`` adds its parallel kernels' extra cost to the overhead (not with Eq. 1 alone)."""
    out = layers.copy()
    out["kernels"] = kernel_counts(out, model.execution)
    out["roofline_s"] = out["latency_s"]
    out["overhead_s"] = kernel_overheads(out, model.per_kernel, model.execution)
    if not model.is_eq1:
        if roof is not None and roof.mode == Mode.CALIBRATED:
            out["overhead_s"] = out["overhead_s"] + parallel_overheads(out, roof)
        out["latency_s"] = out["roofline_s"] + out["overhead_s"]
    return out
