"""Turn a block-spec table (:mod:`roofline.zoo.specs`) into an ``nn.Module``."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .blocks import (
    ConvNormAct,
    DepthwiseSeparable,
    FusedIB,
    Head,
    InvertedResidual,
    MobileMQA,
    UniversalInvertedBottleneck,
    make_divisible,
)
from .specs import ArchSpec, Block


class MobileNet(nn.Module):
    """A MobileNet: ``stem``, ``stage1`` ... ``stageN`` (one per stride-2 step), ``head``, ``classifier``."""

    def __init__(self, stem: nn.Module, stages: list[nn.Sequential], head: Head,
                 dropout: float, num_classes: int) -> None:
        super().__init__()
        self.stem = stem
        self.stage_names: list[str] = []
        for i, stage in enumerate(stages, start=1):
            self.add_module(f"stage{i}", stage)
            self.stage_names.append(f"stage{i}")
        self.head = head
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.classifier = nn.Linear(head.out_channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.forward_features(x))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.classifier(x)


def _make_block(row: Block, cin: int, cout: int, stride: int, spec: ArchSpec, width: float) -> nn.Module:
    act = row.act or spec.act
    if row.kind == "conv":
        return ConvNormAct(cin, cout, row.kernel, stride, act=act)
    if row.kind == "dws":
        return DepthwiseSeparable(cin, cout, stride)
    if row.kind == "ir":
        # V2 rows give an expansion ratio (torchvision rounds in*t); V3 rows an absolute width.
        mid = make_divisible(row.mid * width) if row.mid else int(round(cin * row.expand))
        return InvertedResidual(cin, mid, cout, row.kernel, stride, act, se=row.se)
    if row.kind == "fused_ib":
        return FusedIB(cin, cout, row.kernel, stride, row.expand, act)
    if row.kind == "uib":
        return UniversalInvertedBottleneck(cin, cout, row.start_k, row.mid_k, stride, row.expand,
                                           act, spec.layer_scale)
    if row.kind == "mqa":
        return MobileMQA(cin, row.heads, row.key_dim, row.kv_stride, spec.layer_scale)
    raise ValueError(f"unknown block kind {row.kind!r}")  # a bug in a spec table, not user input


def build_arch(spec: ArchSpec, width: float = 1.0, num_classes: int = 1000) -> MobileNet:
    """Build the network described by ``spec`` at width multiplier ``width``.

    Widths: every block's channels become ``make_divisible(c * width)``; head
    layers marked as such keep their size for width < 1 (``max(1, width)``),
    the rule of the TF reference code.
    """
    head_width = max(1.0, width)
    stem_row, *rows = spec.blocks
    cin = make_divisible(stem_row.out * width)
    stem = _make_block(stem_row, 3, cin, stem_row.stride, spec, width)
    stages: list[OrderedDict[str, nn.Module]] = []
    for row in rows:
        for i in range(row.repeat):
            stride = row.stride if i == 0 else 1
            cout = cin if row.kind == "mqa" else make_divisible(row.out * width)
            if stride > 1 or not stages:
                stages.append(OrderedDict())
            stage = stages[-1]
            stage[f"{row.kind}_{len(stage)}"] = _make_block(row, cin, cout, stride, spec, width)
            cin = cout
    h = spec.head
    conv_out = None
    if h.conv_out:
        conv_out = {
            "multiple": h.conv_out * cin,
            "body": make_divisible(h.conv_out * width),
            "head": make_divisible(h.conv_out * head_width),
        }[h.conv_rule]
    hidden_out = make_divisible(h.hidden_out * head_width) if h.hidden else 0
    head = Head(cin, conv_out, h.hidden, hidden_out, spec.act)
    return MobileNet(stem, [nn.Sequential(s) for s in stages], head, h.dropout, num_classes)
