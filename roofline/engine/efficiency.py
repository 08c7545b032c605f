"""Per-op-class efficiency: how far each kind of layer runs from the fitted roofline.

One roofline (a peak and a bandwidth) treats a depthwise conv like a dense one.
On real hardware, and most on NPUs, depthwise, grouped, attention and
normalisation layers run at very different fractions of the roof. A fitted
profile may carry one factor per op class: the fraction of its roofline time a
layer of that class attains, ``latency = max(MAC time, memory time) / factor``.

Which op is in which class is the op table's (``roofline.core.taxonomy``):

- compute classes: ``conv`` (dense convolution) is the reference the fitted
  peak and bandwidth describe (factor 1); ``dwconv``, ``grouped``, ``matmul``
  (linear layers and matmuls) and ``attention`` (SDPA) have factors of their own;
- memory-only classes: ``norm`` (layer and group norm, softmax, pooling),
  ``activation`` (GELU, SiLU, sigmoid, tanh: a transcendental per element),
  ``elementwise`` (add, multiply, batch norm, ReLU, hard-swish) and ``movement`` (concat,
  pad, gathers, interpolation).

A factor of 1 is the plain roofline; a profile without factors is Eq. 1. The
factor divides the layer's roofline time, both its MAC and its memory side
(:func:`roofline.engine.predict.layer_times`, which analyze, sweeps and fits share).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..core.taxonomy import (  # noqa: F401  (re-exported: the table is roofline.core.taxonomy)
    CLASS_TEXT, COMPUTE_CLASSES, EFFICIENCY_CLASSES, MEMORY_CLASSES, compute_class, memory_class, op_group)


def layer_classes(layers: pd.DataFrame) -> np.ndarray:
    """The efficiency class of each layer (compute class, or memory class for memory-only rows)."""
    groups = layers["groups"] if "groups" in layers else pd.Series([1] * len(layers))
    mem = layers["memory_only"] if "memory_only" in layers else pd.Series([False] * len(layers))
    return np.array([memory_class(op) if m else compute_class(op, g)
                     for op, g, m in zip(layers["op"], groups, mem)], dtype=object)


def factors(layers: pd.DataFrame, efficiency: Mapping[str, float] | None) -> np.ndarray:
    """Each layer's class factor (1 for the reference class and classes without one)."""
    if not efficiency:
        return np.ones(len(layers))
    return np.array([efficiency.get(c, 1.0) for c in layer_classes(layers)], dtype=np.float64)


def describe(efficiency: Mapping[str, float]) -> str:
    """``depthwise conv 0.31, normalisation 0.5`` (classes with a factor: the share of the roofline
    they attain)."""
    return ", ".join(f"{CLASS_TEXT[c]} {efficiency[c]:.3g}" for c in EFFICIENCY_CLASSES if c in efficiency)
