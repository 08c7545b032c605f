"""Block-spec tables of MobileNet V1-V4: the architectures as data.

One :class:`Block` row per block (``repeat`` > 1 expands to that many blocks,
stride only on the first). Sources:

- MobileNetV1: Howard et al. 2017, Table 1.
- MobileNetV2: Sandler et al. 2018, Table 2 (t, c, n, s).
- MobileNetV3: Howard et al. 2019, Tables 1 and 2.
- MobileNetV4: Qin et al. 2024, following the TF Model Garden definitions
  (``mobilenet_v4.py``) that the trained public weights use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One row of a block-spec table.

    kind: ``conv`` (ConvBN), ``dws`` (V1 depthwise separable), ``ir`` (V2/V3
    inverted residual), ``fused_ib``, ``uib`` or ``mqa``.
    ``expand`` is a ratio, except for V3 rows where ``mid`` gives the absolute
    expanded width (scaled by the width multiplier).
    """

    kind: str
    out: int = 0
    stride: int = 1
    repeat: int = 1
    kernel: int = 3
    expand: float = 1.0
    mid: int = 0
    start_k: int = 0
    mid_k: int = 0
    se: bool = False
    act: str = ""
    heads: int = 0
    key_dim: int = 0
    kv_stride: int = 1


@dataclass(frozen=True)
class HeadSpec:
    """The classifier head: optional 1x1 conv, pool, optional hidden layer, classifier."""

    conv_out: int | None  # 1x1 conv before the pool (None: no conv)
    conv_rule: str  # how conv_out scales: "multiple" (x last block width, V3), "body" (x width,
    #                 MNv4's 960), "head" (x max(1, width): not reduced below 1, V2's 1280)
    hidden: str | None  # "conv" (MNv4), "linear" (V3) or None
    hidden_out: int  # 0 when there is no hidden layer
    dropout: float


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, block rows, head, and how width scales it."""

    family: str
    resolution: int
    act: str
    blocks: tuple[Block, ...]
    head: HeadSpec
    layer_scale: bool = False


def conv(k: int, s: int, c: int, n: int = 1) -> Block:
    return Block("conv", c, s, n, kernel=k)


def dws(s: int, c: int, n: int = 1) -> Block:
    return Block("dws", c, s, n)


def ir(t: float, c: int, n: int, s: int) -> Block:
    """MobileNetV2 row (t, c, n, s) as printed in the paper."""
    return Block("ir", c, s, n, expand=t, act="relu6")


def v3(k: int, mid: int, c: int, se: bool, act: str, s: int) -> Block:
    """MobileNetV3 row (kernel, expanded, out, SE, NL, stride) as printed in the paper."""
    return Block("ir", c, s, 1, kernel=k, mid=mid, se=se, act=act)


def fib(k: int, s: int, c: int, e: float) -> Block:
    return Block("fused_ib", c, s, 1, kernel=k, expand=e)


def uib(a: int, b: int, s: int, c: int, e: float = 4.0, n: int = 1) -> Block:
    """UIB(start DW kernel, middle DW kernel, stride, out, expand); 0 = no such DW."""
    return Block("uib", c, s, n, expand=e, start_k=a, mid_k=b)


def mqa(h: int, d: int, kv: int) -> Block:
    return Block("mqa", heads=h, key_dim=d, kv_stride=kv)


RE, HS = "relu", "hswish"

MNV4_HEAD = HeadSpec(conv_out=960, conv_rule="body", hidden="conv", hidden_out=1280, dropout=0.2)

ARCHS: dict[str, ArchSpec] = {
    "mnv1": ArchSpec(
        family="mobilenet_v1", resolution=224, act="relu",
        blocks=(
            conv(3, 2, 32),
            dws(1, 64), dws(2, 128), dws(1, 128), dws(2, 256), dws(1, 256), dws(2, 512),
            dws(1, 512, n=5), dws(2, 1024), dws(1, 1024),
        ),
        head=HeadSpec(None, "head", None, 0, 0.0),
    ),
    "mnv2": ArchSpec(
        family="mobilenet_v2", resolution=224, act="relu6",
        blocks=(
            conv(3, 2, 32),
            ir(1, 16, 1, 1), ir(6, 24, 2, 2), ir(6, 32, 3, 2), ir(6, 64, 4, 2),
            ir(6, 96, 3, 1), ir(6, 160, 3, 2), ir(6, 320, 1, 1),
        ),
        head=HeadSpec(1280, "head", None, 0, 0.2),
    ),
    "mnv3-l": ArchSpec(
        family="mobilenet_v3", resolution=224, act="hswish",
        blocks=(
            conv(3, 2, 16),
            v3(3, 16, 16, False, RE, 1), v3(3, 64, 24, False, RE, 2), v3(3, 72, 24, False, RE, 1),
            v3(5, 72, 40, True, RE, 2), v3(5, 120, 40, True, RE, 1), v3(5, 120, 40, True, RE, 1),
            v3(3, 240, 80, False, HS, 2), v3(3, 200, 80, False, HS, 1), v3(3, 184, 80, False, HS, 1),
            v3(3, 184, 80, False, HS, 1), v3(3, 480, 112, True, HS, 1), v3(3, 672, 112, True, HS, 1),
            v3(5, 672, 160, True, HS, 2), v3(5, 960, 160, True, HS, 1), v3(5, 960, 160, True, HS, 1),
        ),
        head=HeadSpec(6, "multiple", "linear", 1280, 0.2),
    ),
    "mnv3-s": ArchSpec(
        family="mobilenet_v3", resolution=224, act="hswish",
        blocks=(
            conv(3, 2, 16),
            v3(3, 16, 16, True, RE, 2), v3(3, 72, 24, False, RE, 2), v3(3, 88, 24, False, RE, 1),
            v3(5, 96, 40, True, HS, 2), v3(5, 240, 40, True, HS, 1), v3(5, 240, 40, True, HS, 1),
            v3(5, 120, 48, True, HS, 1), v3(5, 144, 48, True, HS, 1), v3(5, 288, 96, True, HS, 2),
            v3(5, 576, 96, True, HS, 1), v3(5, 576, 96, True, HS, 1),
        ),
        head=HeadSpec(6, "multiple", "linear", 1024, 0.2),
    ),
    "mnv4-conv-s": ArchSpec(
        family="mobilenet_v4", resolution=224, act="relu",
        blocks=(
            conv(3, 2, 32),
            conv(3, 2, 32), conv(1, 1, 32),
            conv(3, 2, 96), conv(1, 1, 64),
            uib(5, 5, 2, 96, 3), uib(0, 3, 1, 96, 2, n=4), uib(3, 0, 1, 96, 4),
            uib(3, 3, 2, 128, 6), uib(5, 5, 1, 128, 4), uib(0, 5, 1, 128, 4), uib(0, 5, 1, 128, 3),
            uib(0, 3, 1, 128, 4, n=2),
        ),
        head=MNV4_HEAD,
    ),
    "mnv4-conv-m": ArchSpec(
        family="mobilenet_v4", resolution=256, act="relu",
        blocks=(
            conv(3, 2, 32), fib(3, 2, 48, 4),
            uib(3, 5, 2, 80, 4), uib(3, 3, 1, 80, 2),
            uib(3, 5, 2, 160, 6), uib(3, 3, 1, 160, 4, n=2), uib(3, 5, 1, 160, 4), uib(3, 3, 1, 160, 4),
            uib(3, 0, 1, 160, 4), uib(0, 0, 1, 160, 2), uib(3, 0, 1, 160, 4),
            uib(5, 5, 2, 256, 6), uib(5, 5, 1, 256, 4), uib(3, 5, 1, 256, 4, n=2), uib(0, 0, 1, 256, 4),
            uib(3, 0, 1, 256, 4), uib(3, 5, 1, 256, 2), uib(5, 5, 1, 256, 4), uib(0, 0, 1, 256, 4, n=2),
            uib(5, 0, 1, 256, 2),
        ),
        head=MNV4_HEAD,
    ),
    "mnv4-conv-l": ArchSpec(
        family="mobilenet_v4", resolution=384, act="relu",
        blocks=(
            conv(3, 2, 24), fib(3, 2, 48, 4),
            uib(3, 5, 2, 96), uib(3, 3, 1, 96),
            uib(3, 5, 2, 192), uib(3, 3, 1, 192, n=3), uib(3, 5, 1, 192), uib(5, 3, 1, 192, n=5),
            uib(3, 0, 1, 192),
            uib(5, 5, 2, 512, n=4), uib(5, 0, 1, 512), uib(5, 3, 1, 512), uib(5, 0, 1, 512, n=2),
            uib(5, 3, 1, 512), uib(5, 5, 1, 512), uib(5, 0, 1, 512, n=3),
        ),
        head=MNV4_HEAD,
    ),
    "mnv4-hybrid-m": ArchSpec(
        family="mobilenet_v4", resolution=256, act="relu", layer_scale=True,
        blocks=(
            conv(3, 2, 32), fib(3, 2, 48, 4),
            uib(3, 5, 2, 80, 4), uib(3, 3, 1, 80, 2),
            uib(3, 5, 2, 160, 6), uib(0, 0, 1, 160, 2), uib(3, 3, 1, 160, 4), uib(3, 5, 1, 160, 4),
            mqa(4, 64, 2), uib(3, 3, 1, 160, 4), mqa(4, 64, 2), uib(3, 0, 1, 160, 4),
            mqa(4, 64, 2), uib(3, 3, 1, 160, 4), mqa(4, 64, 2), uib(3, 0, 1, 160, 4),
            uib(5, 5, 2, 256, 6), uib(5, 5, 1, 256, 4), uib(3, 5, 1, 256, 4, n=2), uib(0, 0, 1, 256, 2),
            uib(3, 5, 1, 256, 2), uib(0, 0, 1, 256, 2), uib(0, 0, 1, 256, 4), mqa(4, 64, 1),
            uib(3, 0, 1, 256, 4), mqa(4, 64, 1), uib(5, 5, 1, 256, 4), mqa(4, 64, 1),
            uib(5, 0, 1, 256, 4), mqa(4, 64, 1), uib(5, 0, 1, 256, 4),
        ),
        head=MNV4_HEAD,
    ),
    "mnv4-hybrid-l": ArchSpec(
        family="mobilenet_v4", resolution=384, act="gelu", layer_scale=True,
        blocks=(
            conv(3, 2, 24), fib(3, 2, 48, 4),
            uib(3, 5, 2, 96), uib(3, 3, 1, 96),
            uib(3, 5, 2, 192), uib(3, 3, 1, 192, n=3), uib(3, 5, 1, 192), uib(5, 3, 1, 192, n=2),
            mqa(8, 48, 2), uib(5, 3, 1, 192), mqa(8, 48, 2), uib(5, 3, 1, 192),
            mqa(8, 48, 2), uib(5, 3, 1, 192), mqa(8, 48, 2), uib(3, 0, 1, 192),
            uib(5, 5, 2, 512, n=4), uib(5, 0, 1, 512), uib(5, 3, 1, 512), uib(5, 0, 1, 512, n=2),
            uib(5, 3, 1, 512), uib(5, 5, 1, 512), mqa(8, 64, 1), uib(5, 0, 1, 512),
            mqa(8, 64, 1), uib(5, 0, 1, 512), mqa(8, 64, 1), uib(5, 0, 1, 512),
            mqa(8, 64, 1), uib(5, 0, 1, 512),
        ),
        head=MNV4_HEAD,
    ),
}
