"""The op taxonomy: every op kind a trace emits, and how the engine, the fit, the profiler and
the figures read it. One table; everything else reads it.

Also the model family a fit's whole-model multiplier belongs to (:func:`family_of`).
"""

from __future__ import annotations

import re

# efficiency classes (roofline.engine.efficiency): the fraction of its roofline a layer attains
COMPUTE_CLASSES = ("conv", "dwconv", "grouped", "matmul", "attention")
MEMORY_CLASSES = ("norm", "activation", "elementwise", "movement")
EFFICIENCY_CLASSES = COMPUTE_CLASSES[1:] + MEMORY_CLASSES  # the ones a fit may give a factor
CLASS_TEXT = {"dwconv": "depthwise conv", "grouped": "grouped conv", "matmul": "matmul/linear",
              "attention": "attention", "norm": "normalisation", "activation": "activation",
              "elementwise": "elementwise",
              "movement": "data movement", "conv": "dense conv"}


def family_of(model: str) -> str:
    """The architecture family of a model name: its first word, without source prefix, variant or
    width (``timm:fastvit_sa12`` -> ``fastvit``, ``mnv4-conv-m`` -> ``mnv4``, ``mnv2-1.5x`` -> ``mnv2``).
    ``resnet34`` and ``resnet50`` stay apart: a family is only what the name says for sure."""
    name = model.rsplit(":", 1)[-1] if not model.endswith(".py") else model
    return re.split(r"[_\-.]", name.lower(), maxsplit=1)[0] or name
