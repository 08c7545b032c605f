"""The building blocks of MobileNet V1-V4, as plain ``torch.nn`` modules.

Each block is the reference definition (torchvision for V1-V3, TF Model Garden /
timm for V4) so that parameter counts match the published ones to the unit.
Attribute names are chosen to read well as layer names in a trace
(``stage3.uib_2.expand``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

ActFactory = Callable[[], nn.Module] | None

ACTIVATIONS: dict[str, ActFactory] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hswish": nn.Hardswish,
    "gelu": nn.GELU,
    "none": None,
}


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never dropping below 90 %.

    The rule of the MobileNet reference code (TF ``_make_divisible``).
    """
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvNormAct(nn.Conv2d):
    """k x k convolution (no bias) -> BatchNorm -> optional activation.

    A subclass of ``nn.Conv2d`` so that the convolution and its folded epilogue
    trace as one layer named after this module.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1,
                 groups: int = 1, act: str = "relu") -> None:
        super().__init__(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        factory = ACTIVATIONS[act]
        self.act = factory() if factory is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self._conv_forward(x, self.weight, self.bias))
        return self.act(x) if self.act is not None else x


class LayerScale(nn.Module):
    """Per-channel scale gamma (initialised to 1e-5) of the hybrid MobileNetV4 blocks."""

    def __init__(self, channels: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DepthwiseSeparable(nn.Module):
    """MobileNetV1 block: 3x3 depthwise conv + BN + ReLU, 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw = ConvNormAct(cin, cin, 3, stride, groups=cin, act="relu")
        self.pw = ConvNormAct(cin, cout, 1, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class SqueezeExcite(nn.Module):
    """MobileNetV3 squeeze-and-excite: pool, 1x1 conv, ReLU, 1x1 conv, hard-sigmoid, scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
        return x * s


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 block: 1x1 expand, k x k depthwise, optional SE, 1x1 linear projection."""

    def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int,
                 act: str, se: bool = False) -> None:
        super().__init__()
        self.expand = ConvNormAct(cin, mid, 1, act=act) if mid != cin else None
        self.dw = ConvNormAct(mid, mid, kernel, stride, groups=mid, act=act)
        self.se = SqueezeExcite(mid, make_divisible(mid // 4)) if se else None
        self.project = ConvNormAct(mid, cout, 1, act="none")
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class FusedIB(nn.Module):
    """MobileNetV4 fused inverted bottleneck: k x k conv expand + BN + act, 1x1 projection + BN."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: float, act: str) -> None:
        super().__init__()
        mid = make_divisible(cin * expand)
        self.expand = ConvNormAct(cin, mid, kernel, stride, act=act)
        self.project = ConvNormAct(mid, cout, 1, act="none")
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.expand(x))
        return x + y if self.residual else y


class UniversalInvertedBottleneck(nn.Module):
    """MobileNetV4 UIB: optional start DW, 1x1 expand, optional middle DW, 1x1 projection.

    ``start_k`` / ``mid_k`` of 0 drop that depthwise conv, giving the ExtraDW
    (both), IB (no start), ConvNext (no middle) and FFN (neither) forms.
    """

    def __init__(self, cin: int, cout: int, start_k: int, mid_k: int, stride: int,
                 expand: float, act: str, layer_scale: bool) -> None:
        super().__init__()
        mid = make_divisible(cin * expand)
        self.dw_start = (ConvNormAct(cin, cin, start_k, 1 if mid_k else stride, groups=cin, act="none")
                         if start_k else None)
        self.expand = ConvNormAct(cin, mid, 1, act=act)
        self.dw_mid = ConvNormAct(mid, mid, mid_k, stride, groups=mid, act=act) if mid_k else None
        self.project = ConvNormAct(mid, cout, 1, act="none")
        self.layer_scale = LayerScale(cout) if layer_scale else None
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw_start(x) if self.dw_start is not None else x
        y = self.expand(y)
        if self.dw_mid is not None:
            y = self.dw_mid(y)
        y = self.project(y)
        if self.layer_scale is not None:
            y = self.layer_scale(y)
        return x + y if self.residual else y


class MultiQueryAttention(nn.Module):
    """Mobile MQA: ``heads`` query heads sharing one key and one value head.

    With ``kv_stride`` 2, keys and values are spatially down-sampled by a
    stride-2 3x3 depthwise conv + BN before their 1x1 projection.
    """

    def __init__(self, dim: int, heads: int, key_dim: int, kv_stride: int) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.query = nn.Conv2d(dim, heads * key_dim, 1, bias=False)
        self.key = self._kv_path(dim, key_dim, kv_stride)
        self.value = self._kv_path(dim, key_dim, kv_stride)
        self.output = nn.Conv2d(heads * key_dim, dim, 1, bias=False)

    @staticmethod
    def _kv_path(dim: int, out: int, stride: int) -> nn.Sequential:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if stride > 1:
            layers["down"] = ConvNormAct(dim, dim, 3, stride, groups=dim, act="none")
        layers["proj"] = nn.Conv2d(dim, out, 1, bias=False)
        return nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).reshape(b, self.heads, self.key_dim, h * w).transpose(2, 3)
        k = self.key(x).reshape(b, 1, self.key_dim, -1).transpose(2, 3)
        v = self.value(x).reshape(b, 1, self.key_dim, -1).transpose(2, 3)
        kv_shape = (b, self.heads, k.shape[2], self.key_dim)
        o = F.scaled_dot_product_attention(q, k.expand(kv_shape), v.expand(kv_shape))
        o = o.transpose(2, 3).reshape(b, self.heads * self.key_dim, h, w)
        return self.output(o)


class MobileMQA(nn.Module):
    """MobileNetV4 attention block: BN, Mobile MQA, layer scale, residual."""

    def __init__(self, dim: int, heads: int, key_dim: int, kv_stride: int, layer_scale: bool) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(dim)
        self.attn = MultiQueryAttention(dim, heads, key_dim, kv_stride)
        self.layer_scale = LayerScale(dim) if layer_scale else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attn(self.norm(x))
        if self.layer_scale is not None:
            y = self.layer_scale(y)
        return x + y


class Head(nn.Module):
    """Classifier head: optional 1x1 conv, global average pool, optional hidden layer, flatten.

    ``hidden`` is ``"conv"`` (MobileNetV4: 1x1 conv + BN + act), ``"linear"``
    (MobileNetV3: Linear with bias + hard-swish) or ``None``.
    """

    def __init__(self, cin: int, conv_out: int | None, hidden: str | None,
                 hidden_out: int, act: str) -> None:
        super().__init__()
        self.conv = ConvNormAct(cin, conv_out, 1, act=act) if conv_out else None
        c = conv_out or cin
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden: nn.Module | None = None
        self.hidden_act: nn.Module | None = None
        if hidden == "conv":
            self.hidden = ConvNormAct(c, hidden_out, 1, act=act)
        elif hidden == "linear":
            self.hidden = nn.Linear(c, hidden_out)
            factory = ACTIVATIONS[act]
            self.hidden_act = factory() if factory is not None else None
        self.hidden_kind = hidden
        self.out_channels = hidden_out if hidden else c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        x = self.pool(x)
        if self.hidden_kind == "conv":
            x = self.hidden(x)  # type: ignore[misc]
        x = torch.flatten(x, 1)
        if self.hidden_kind == "linear":
            x = self.hidden(x)  # type: ignore[misc]
            if self.hidden_act is not None:
                x = self.hidden_act(x)
        return x
