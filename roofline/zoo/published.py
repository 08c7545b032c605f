"""Published facts about the zoo's models: parameter counts, MACs and top-1 accuracy.

Sources:
- ``params_exact``: parameter count of the reference implementations
  (torchvision / timm / TF Model Garden; BN running statistics excluded,
  1000-class classifier included).
- ``paper_params_m`` / ``paper_macs_m``: as printed in the model's own paper or in
  the MobileNetV4 paper (rounded).
- ``top1_original``: the model's own paper (Howard et al. 2017; Sandler et al. 2018;
  Howard et al. 2019; Qin et al. 2024).
- ``top1_mnv4``: the accuracy of the MobileNetV4 paper's retraining (Qin et al.
  2024, Table 6); ``top1_mnv4_approx`` marks values read off its Figure 2 (about
  +/- 0.2 points).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """What papers and reference implementations say about one (model, width)."""

    base: str
    width: float
    params_exact: int | None
    paper_params_m: float | None
    paper_macs_m: float | None
    top1_original: float | None
    top1_mnv4: float | None
    top1_mnv4_approx: bool = False
    note: str = ""


_V1 = "MobileNetV1 (Howard et al. 2017)"
_V2 = "MobileNetV2 (Sandler et al. 2018)"
_V3 = "MobileNetV3 (Howard et al. 2019)"
_V4 = "MobileNetV4 (Qin et al. 2024)"

SOURCES: dict[str, str] = {"mnv1": _V1, "mnv2": _V2, "mnv3-l": _V3, "mnv3-s": _V3}

PUBLISHED: tuple[Published, ...] = (
    Published("mnv1", 1.0, 4231976, 4.2, 569, 70.6, 74.0),
    Published("mnv1", 0.75, None, 2.6, 325, 68.4, None, note="V1 paper Table 6"),
    Published("mnv1", 0.5, None, 1.3, 149, 63.7, 65.8, top1_mnv4_approx=True),
    Published("mnv1", 0.25, None, 0.5, 41, 50.6, None),
    Published("mnv1", 1.5, None, None, None, None, 76.8, top1_mnv4_approx=True),
    Published("mnv2", 1.0, 3504872, 3.4, 300, 72.0, 73.4),
    Published("mnv2", 0.5, 1968680, 2.0, 100, None, 66.0,
              note="final 1280 conv is not reduced for width < 1"),
    Published("mnv2", 1.5, 6858152, 6.8, 700, None, 76.8),
    Published("mnv2", 2.0, 11258088, 11.2, 1100, None, 78.4),
    Published("mnv3-l", 1.0, 5483032, 5.4, 219, 75.2, 75.5),
    Published("mnv3-l", 0.75, None, 4.0, 155, 73.3, None,
              note="final 1280 layer is not reduced for width < 1 (TF/Keras rule)"),
    Published("mnv3-l", 0.5, None, 2.7, 100, None, 69.2, note="about 2.68M params"),
    Published("mnv3-l", 1.5, 11317208, None, None, None, 77.5, top1_mnv4_approx=True,
              note="final layer 1920"),
    Published("mnv3-s", 1.0, 2542856, 2.5, 56, 67.4, None),
    Published("mnv4-conv-s", 1.0, 3774024, 3.8, 200, 73.8, 73.8),
    Published("mnv4-conv-m", 1.0, 9715512, 9.2, 1000, 79.9, 79.9),
    Published("mnv4-conv-l", 1.0, 32590864, 31, 5900, 82.9, 82.9),
    Published("mnv4-hybrid-m", 1.0, 11074648, 10.5, 1200, 80.7, 80.7,
              note="follows the TF Model Garden block order"),
    Published("mnv4-hybrid-l", 1.0, 37764624, 35.9, 7200, 83.4, 83.4, note="GELU activations"),
)


def published(base: str, width: float) -> Published | None:
    """The published facts for ``base`` at ``width``, or None if nothing is published."""
    for p in PUBLISHED:
        if p.base == base and abs(p.width - width) < 1e-9:
            return p
    return None


def source(base: str) -> str:
    return SOURCES.get(base, _V4)
