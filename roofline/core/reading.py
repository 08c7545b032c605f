"""How a profile is read: the roofline ``Mode`` and the ``Execution`` the kernels run in.

Both are ``str``-valued: a member equals, prints, formats and serialises (JSON, CSV) exactly as its
string (``f"{Mode.FITTED}"`` is ``fitted``), so text written before them is written unchanged. YAML
writers take ``str(member)`` (``yaml.safe_dump`` knows plain strings only).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from .checks import show
from .errors import InvalidInputError, RooflineError


class _Text(str, Enum):
    """A string enum that prints as its value on Python 3.10 too (``enum.StrEnum`` is 3.11+)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


TextEnum = _Text  # for enums of the layers above


class Mode(_Text):
    """Which numbers the roofline takes: ``auto`` is resolved once (``roofline.engine.reading``) into
    ``spec`` (vendor peak and bandwidth), ``fitted`` (the fitted roofline) or ``calibrated`` (measured
    per-op-class ceilings)."""

    AUTO = "auto"
    SPEC = "spec"
    FITTED = "fitted"
    CALIBRATED = "calibrated"


class Execution(_Text):
    """How the model runs: ``fused`` (one kernel per fused layer), ``eager`` (one per aten op) or
    ``graph`` (CUDA-graph replay of the eager kernels); see ``roofline.engine.latency``."""

    FUSED = "fused"
    EAGER = "eager"
    GRAPH = "graph"


class Runtime(_Text):
    """What runs the kernels a profile measures and validate times: ``torch`` (PyTorch), ``onnxruntime``
    (ONNX Runtime's CPU provider, on an exported graph) or ``litert`` (LiteRT's interpreter with XNNPACK, on a
    TFLite graph)."""

    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"
    LITERT = "litert"


MODES = tuple(m.value for m in Mode)
EXECUTIONS = tuple(e.value for e in Execution)


def parse_mode(mode: Any) -> Mode:
    """``mode`` (a :class:`Mode` or its string) as a :class:`Mode`; anything else is an error."""
    if isinstance(mode, str) and mode in MODES:
        return Mode(mode)
    raise InvalidInputError(f"roofline mode must be auto, spec, fitted or calibrated, got {show(mode)}")


def parse_execution(execution: Any) -> Execution:
    """``execution`` (an :class:`Execution` or its string) as an :class:`Execution`; else an error."""
    if isinstance(execution, str) and execution in EXECUTIONS:
        return Execution(execution)
    raise RooflineError(f"unknown execution mode {show(execution)}; use one of {', '.join(EXECUTIONS)}")


def parse_runtime(runtime: Any) -> Runtime:
    """``runtime`` (a :class:`Runtime` or its string) as a :class:`Runtime`; else an error."""
    names = tuple(r.value for r in Runtime)
    if isinstance(runtime, str) and runtime in names:
        return Runtime(runtime)
    raise InvalidInputError(f"runtime must be one of {', '.join(names)}, got {show(runtime)}")
