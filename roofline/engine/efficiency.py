"""Per-op-class efficiency: how far each kind of layer runs from the fitted roofline.

One roofline (a peak and a bandwidth) treats a depthwise conv like a dense one.
On real hardware, and most on NPUs, depthwise, grouped, attention and
normalisation layers run at very different fractions of the roof. A fitted
profile may carry one factor per op class: the fraction of its roofline time a
layer of that class attains, ``latency = max(MAC time, memory time) / factor``.

- compute classes: ``conv`` (dense convolution) is the reference the fitted
  peak and bandwidth describe (factor 1); ``dwconv``, ``grouped``, ``matmul``
  (linear layers and matmuls) and ``attention`` (SDPA) have factors of their own;
- memory-only classes: ``norm`` (layer and group norm, softmax, pooling),
  ``activation`` (GELU, SiLU, sigmoid, tanh: a transcendental per element),
  ``elementwise`` (add, multiply, batch norm, ReLU, hard-swish) and ``movement`` (concat,
  pad, gathers, interpolation).

A factor of 1 is the plain roofline; a profile without factors is Eq. 1. The
engine applies a factor to both roofs of the layer (peak and bandwidth), which
is the same as effective MACs ``macs / factor`` and bytes ``bytes / factor``:
sweeps and fits use it that way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

COMPUTE_CLASSES = ("conv", "dwconv", "grouped", "matmul", "attention")
MEMORY_CLASSES = ("norm", "activation", "elementwise", "movement")
EFFICIENCY_CLASSES = COMPUTE_CLASSES[1:] + MEMORY_CLASSES  # the ones a fit may give a factor
CLASS_TEXT = {"dwconv": "depthwise conv", "grouped": "grouped conv", "matmul": "matmul/linear",
              "attention": "attention", "norm": "normalisation", "activation": "activation",
              "elementwise": "elementwise",
              "movement": "data movement", "conv": "dense conv"}

_NORM_OPS = frozenset({"norm", "softmax", "pool", "cumsum"})
# activations that evaluate a transcendental per element (exp, erf, tanh). relu, relu6, clamp and the
# piecewise-linear hard-swish and hard-sigmoid (MobileNetV3's cheap stand-ins for swish and sigmoid:
# a clamp and a multiply, Howard et al. 2019, sec. 5.2) are elementwise
_ACTIVATION_OPS = frozenset({"gelu", "silu", "sigmoid", "tanh", "mish", "elu", "erf",
                             "softplus", "trig", "exp", "log", "activation"})
_MOVEMENT_OPS = frozenset({"concat", "stack", "pad", "gather", "repeat", "roll", "interpolate", "copy",
                           "index", "scatter", "im2col", "col2im", "flip", "pixel_shuffle", "expand",
                           "masked_fill", "embedding", "slice", "permute", "transpose"})


def compute_class(op: str, groups: int | float | None = 1) -> str:
    """The compute class of a layer with MACs: dense, depthwise or grouped conv, matmul, attention."""
    if op == "dwconv2d":
        return "dwconv"
    if op.startswith("conv"):
        g = 1 if groups is None or pd.isna(groups) else int(groups)
        return "grouped" if g > 1 else "conv"
    if op == "attention":
        return "attention"
    return "matmul"


def memory_class(op: str) -> str:
    """The memory class of a memory-only layer."""
    if op in _NORM_OPS:
        return "norm"
    if op in _ACTIVATION_OPS:
        return "activation"
    if op in _MOVEMENT_OPS:
        return "movement"
    return "elementwise"


def layer_classes(layers: pd.DataFrame) -> np.ndarray:
    """The efficiency class of each layer (compute class, or memory class for memory-only rows)."""
    groups = layers["groups"] if "groups" in layers else pd.Series([1] * len(layers))
    mem = layers["memory_only"] if "memory_only" in layers else pd.Series([False] * len(layers))
    return np.array([memory_class(op) if m else compute_class(op, g)
                     for op, g, m in zip(layers["op"], groups, mem)], dtype=object)


def effective_costs(layers: pd.DataFrame, macs: np.ndarray, bytes_: np.ndarray,
                    efficiency: Mapping[str, float] | None, reduction_half: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """MACs and bytes divided by each layer's class factor (its roofline time divided by it), the MACs
    of a fit with a reduction half-length ``h`` also times ``1 + h / (MACs per output element)``."""
    if reduction_half:
        from .shape import layer_shapes

        macs = macs * (1.0 + reduction_half / layer_shapes(layers)[1])
    if not efficiency:
        return macs, bytes_
    f = factors(layers, efficiency)
    return macs / f, bytes_ / f


def factors(layers: pd.DataFrame, efficiency: Mapping[str, float] | None) -> np.ndarray:
    """Each layer's class factor (1 for the reference class and classes without one)."""
    if not efficiency:
        return np.ones(len(layers))
    return np.array([efficiency.get(c, 1.0) for c in layer_classes(layers)], dtype=np.float64)


def describe(efficiency: Mapping[str, float]) -> str:
    """``depthwise conv 0.31, normalisation 0.5`` (classes with a factor: the share of the roofline
    they attain)."""
    return ", ".join(f"{CLASS_TEXT[c]} {efficiency[c]:.3g}" for c in EFFICIENCY_CLASSES if c in efficiency)


def op_group(op: str) -> str:
    """The op type views and figures group layers by: conv, dwconv, fc, attention or memory."""
    if op == "dwconv2d":
        return "dwconv"
    if op == "fc":
        return "fc"
    if op in ("attention", "matmul"):
        return "attention"
    if op.startswith("conv"):
        return "conv"
    return "memory"
