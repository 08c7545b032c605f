"""Counting conventions: what WeightBytes and ActivationBytes of Eq. 1 mean.

The MobileNetV4 paper does not fix them, so they are named, documented presets
and every report states the one it used.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import show
from .errors import RooflineError


@dataclass(frozen=True)
class Convention:
    """How a traced layer becomes bytes.

    activations: ``"input"`` (the layer's input tensors only) or
    ``"input+output"`` (inputs read and outputs written).
    memory_only_ops: whether layers without MACs (residual add, SE multiply,
    pooling, softmax) count.
    fused: whether batch norm, bias and activation fold into the preceding
    compute layer (the tracer's ``fuse=True``).
    weight_bytes / activation_bytes: bytes per element, or None for the
    target dtype's (int8 1, fp16/bf16 2, fp32 4).
    """

    name: str
    description: str
    activations: str = "input+output"
    memory_only_ops: bool = True
    fused: bool = True
    weight_bytes: float | None = None
    activation_bytes: float | None = None

    def describe(self, dtype_bytes: int) -> str:
        wb = self.weight_bytes or dtype_bytes
        ab = self.activation_bytes or dtype_bytes
        return (f"{self.name}: weights {wb:g} B/element, activations {ab:g} B/element, "
                f"activation bytes = {self.activations}, memory-only ops "
                f"{'counted' if self.memory_only_ops else 'not counted'}, batch norm and activations "
                f"{'fused into the conv' if self.fused else 'unfused (one row per aten op)'}")


CONVENTIONS: dict[str, Convention] = {
    "default": Convention(
        "default",
        "Physically faithful: every layer reads its inputs and writes its outputs; memory-only "
        "layers (residual add, SE multiply, pooling, softmax) move bytes too; BN and activations "
        "fused into the conv as an inference engine deploys them.",
    ),
    "mnv4-paper": Convention(
        "mnv4-paper",
        "The reading that reproduces the MobileNetV4 paper's Figures 2 and 3 (Qin et al. 2024): "
        "one layer per Conv2D, depthwise Conv2D, FC (and attention matmul); ActivationBytes = the "
        "layer's input only; no memory-only layers; BN and activations fused.",
        activations="input", memory_only_ops=False,
    ),
    "unfused": Convention(
        "unfused",
        "Every aten op is its own layer reading inputs and writing outputs: what an engine "
        "without operator fusion moves (an upper bound).",
        fused=False,
    ),
}


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    if not isinstance(name, str) or name not in CONVENTIONS:
        raise RooflineError(f"unknown convention {show(name)}; use one of {', '.join(CONVENTIONS)}")
    return CONVENTIONS[name]
