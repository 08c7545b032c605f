"""Measured latencies published in the MobileNetV4 paper, for the models the zoo and timm can build.

Source: Qin et al., "MobileNetV4 - Universal Models for the Mobile Ecosystem",
arXiv 2404.10518 (ECCV 2024), Table 6 (ImageNet-1k results), latency in ms.
Precision per its Appendix B: INT8 TFLite on the mobile CPUs, Hexagon DSP and
EdgeTPU; FP16 on the mobile GPUs; CoreML FP16 on the iPhone 13 (Neural Engine).
``None``: not reported, or "Failed" to run.
"""

from __future__ import annotations

import pandas as pd

# Table 6 column -> the hardware profile that models that device.
DEVICES: dict[str, str] = {
    "pixel6_cpu": "pixel6-cpu", "pixel8_edgetpu": "pixel8-edgetpu", "iphone13_coreml": "iphone13-ane",
    "pixel4_hexagon": "pixel4-dsp", "pixel7_gpu": "pixel7-gpu", "s23_cpu": "s23-cpu", "s23_gpu": "s23-gpu",
}
_COLUMNS = ("paper_name", "model", "top1", *DEVICES)
_ROWS = (
    ("MobileNet-V2-0.5x", "mnv2-0.5x", 66.0, 2.4, 0.7, 0.5, 2.9, 8.3, 1.8, 1.9),
    ("MobileNet-V3L-0.5x", "mnv3-l-0.5x", 69.2, 2.4, 0.8, 0.45, 3.5, 9.9, 2.0, 2.1),
    ("MobileNet-V2", "mnv2", 73.4, 5.0, 0.7, 0.7, 3.9, 13.6, 4.1, 2.5),
    ("MNv4-Conv-S", "mnv4-conv-s", 73.8, 2.4, 0.7, 0.6, 2.4, 8.4, 1.8, 2.0),
    ("MobileNet-V1", "mnv1", 74.0, 6.1, 0.8, 0.7, 3.2, 13.0, 4.6, 2.1),
    ("MobileNet-V2-1.5x", "mnv2-1.5x", 76.8, 9.3, 0.9, 1.0, 5.6, 16.4, 7.3, 3.3),
    ("MobileNet-V2-2.0x", "mnv2-2.0x", 78.4, 13.9, 1.1, 1.5, 6.9, 19.1, 10.6, 4.2),
    ("MNv4-Conv-M", "mnv4-conv-m", 79.9, 11.4, 1.1, 1.1, 7.3, 18.1, 8.6, 4.1),
    ("MNv4-Hybrid-M", "mnv4-hybrid-m", 80.7, 14.3, 1.5, None, None, 17.9, 10.8, 5.9),
    ("MNv4-Conv-L", "mnv4-conv-l", 82.9, 59.9, 2.4, 3.0, 20.8, 37.6, 43.0, 13.2),
    ("MNv4-Hybrid-L", "mnv4-hybrid-l", 83.4, 87.6, 3.8, None, None, 61.3, 61.8, 18.1),
)

# The other rows of Table 6 that timm builds (needs the timm extra; "Failed" and "-" are None).
# MultiHardware-MAX/AVG-1.5x are not published as code and are left out.
_LIBRARY_ROWS = (
    ("MobileOne-S0", "timm:mobileone_s0", 71.4, 4.2, 0.7, 0.5, 2.9, 10.7, 3.3, 1.7),
    ("FastViT-T8", "timm:fastvit_t8", 75.6, 49.3, 1.3, 0.7, None, 40.7, 43.6, 24.7),
    ("MobileOne-S4", "timm:mobileone_s4", 79.4, 26.7, 1.7, 1.5, 9.0, 28.6, 19.4, 5.9),
    ("FastViT-S12", "timm:fastvit_s12", 79.8, 83.0, 1.8, 1.6, None, 75.0, 69.2, 47.0),
    ("MIT-EfficientViT-B1-r224", "timm:efficientvit_b1.r224_in1k", 79.4, None, None, 2.4, None, None, 18.1, 5.0),
    ("FastViT-SA12", "timm:fastvit_sa12", 80.6, 86.5, 2.0, 1.6, None, 79.6, 69.5, 52.1),
    ("FastViT-SA24", "timm:fastvit_sa24", 82.6, 171.6, 3.2, 2.4, None, 131.9, 136.3, 107.5),
    ("MIT-EfficientViT-B2-r256", "timm:efficientvit_b2.r256_in1k", 82.7, None, None, 5.4, None, None, 64.9, 9.5),
    ("ConvNext-S", "timm:convnext_small", 83.1, 314.9, 3.7, None, None, 45.2, 243.9, 18.5),
    ("NextViT-B", "timm:nextvit_base", 83.2, None, None, None, None, None, None, None),
    ("MIT-EfficientViT-B3-r224", "timm:efficientvit_b3.r224_in1k", 83.5, None, None, 12.2, None, None, 125.9, 18.4),
    ("FastViT-SA36", "timm:fastvit_sa36", 83.6, 241.6, 4.3, None, None, 186.5, 206.3, 138.1),
)

SOURCE = "MobileNetV4 paper (Qin et al. 2024), Table 6, measured latency in ms"


def table6(full: bool = False) -> pd.DataFrame:
    """Table 6: one row per model, one column of ms per device; the zoo's rows, or with ``full`` also
    the rows timm builds (named ``timm:NAME``)."""
    return pd.DataFrame(list(_ROWS) + (list(_LIBRARY_ROWS) if full else []), columns=list(_COLUMNS))


def measured_for(hardware: str, full: bool = False) -> pd.DataFrame:
    """``model``, ``latency_ms`` measured on ``hardware`` (a profile name), where reported."""
    column = next((c for c, h in DEVICES.items() if h == hardware), None)
    if column is None:
        return pd.DataFrame(columns=["model", "latency_ms"])
    df = table6(full)[["model", column]].rename(columns={column: "latency_ms"})
    return df.dropna().reset_index(drop=True)
