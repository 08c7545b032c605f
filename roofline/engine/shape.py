"""How a compute layer's attainable MAC rate depends on its shape (measured profiles).

One ceiling per op class, measured on a few shapes, does not hold at real layer
shapes: a linear layer over 197 tokens runs several times faster per MAC than
the same layer over one row, and a 3x3 conv with 16 input channels far slower
than one with 256. ``roofline profile`` measures each class over a grid of
shapes and fits::

    rate = ceiling / ((1 + out_half / out_elems) * (1 + reduction_half / reduction)
                      * (1 + reuse_half / reuse) * (1 + channels_half / channels))

- ``out_elems``: elements the layer writes (the parallel work; batch included);
- ``reduction``: MACs per output element (``C_in / groups x k x k`` for a conv,
  ``in_features`` for a linear layer, twice the tokens for attention);
- ``reuse``: MACs per weight (the output positions a conv's weights are applied
  at, the rows of a linear layer; unbounded for layers without weights): a
  512-channel 3x3 conv at 7 x 7 px streams 9.4 MB of weights for 49 uses each,
  and ran at 46 GMAC/s where the same conv with 256 channels at 14 x 14 px ran
  at 71 on one core of a Xeon VM;
- ``channels``: output channels (``out_elems / reuse`` for a layer with weights): on
  two threads a 1x1 conv 576 -> 96 at 14 x 14 px ran at 55 GMAC/s and 96 -> 576
  at 117, the same on one thread;
- ``*_half``: the sizes at which the class reaches half its ceiling on each axis.

The rate never falls as a layer grows along any axis (more parallel work,
longer inner loops, more reuse of each weight), and tends to the class's
ceiling for large layers. The memory roof still applies on top:
``max(MACs / rate, bytes / bandwidth)``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..hardware import ShapeTerms

__all__ = ["ShapeTerms", "elements", "layer_shapes"]


@functools.lru_cache(maxsize=1 << 16)  # a table of 1,443 models repeats a few thousand shapes
def elements(shape: str) -> float:
    """Elements of a ``1x197x192``-style shape string (1 for an empty one)."""
    n = 1.0
    for part in str(shape).split("x"):
        if part.strip().isdigit():
            n *= int(part)
    return n


def layer_shapes(layers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each layer's output elements, MACs per output element and MACs per weight (1 where it has no
    MACs; infinite where it has no weights)."""
    if "out_elems" in layers:
        out = layers["out_elems"].to_numpy(dtype=np.float64)
    else:
        out = np.array([elements(str(s)) for s in layers["out_shape"]], dtype=np.float64)
    macs = layers["macs"].to_numpy(dtype=np.float64)
    params = (layers["params"].to_numpy(dtype=np.float64) if "params" in layers else np.zeros(len(layers)))
    with np.errstate(divide="ignore", invalid="ignore"):
        red = np.where(out > 0, macs / np.maximum(out, 1.0), 1.0)
        reuse = np.where(params > 0, macs / np.maximum(params, 1.0), np.inf)
    return out, np.maximum(red, 1.0), np.maximum(reuse, 1.0)
