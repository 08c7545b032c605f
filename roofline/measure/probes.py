"""The op-class microbenchmarks: a small grid of layer shapes that vision networks use, per class.

Compute classes (a MAC rate, shaped: see ``roofline.engine.shape``):

- ``conv2d``: dense convs with k > 1 (3x3 to 7x7, strided stems, patch embeddings 2x2 to 16x16);
- ``conv1x1``: pointwise convs, 16 to 1,024 channels, 7 to 112 px;
- ``grouped``: grouped 3x3 convs of 16 to 64 channels per group (as in RegNet and ResNeXt);
- ``grouped_narrow``: grouped 3x3 convs of 4 and 8 channels per group (ONNX Runtime's blocked kernels take
  none of them: 3-7x slower per MAC);
- ``dwconv2d``: depthwise 3x3 to 9x9, strides 1 and 2;
- ``dwconv_mult``: depthwise with two output channels per input channel (a slower kernel: FastViT's
  7x7 downsampling conv 48 -> 96 took 1.2 ms where a plain depthwise conv predicted 0.17 ms);
- ``fc``: linear layers over 1 row (a classifier head) to 4,096 tokens;
- ``fc_conv``: 1x1 convs on a 1 x 1 map (squeeze-excitation's FC layers run as conv kernels);
- ``matmul``: the batched matmuls of attention (Q.K^T, A.V) and of cross-covariance attention;
- ``attention``: ``scaled_dot_product_attention`` over 49 to 3,136 tokens.

Memory classes (bytes/s): batch norm, ReLU (``activation``), GELU, SiLU, hard-swish, add,
average pooling (``pool``), 3x3 max pooling (``maxpool``), spatial means (``mean``, as timm's
squeeze-excitation pools), layer norm (``norm``) and softmax.

The class names are measured classes of the op table (``roofline.core.taxonomy``: a layer's
candidate classes); the memory ones are its ``BYTE_RATE_CLASSES``.

Each probe is an ``nn.Module`` and its inputs. Its MACs and bytes come from the tracer
(``roofline.trace``), so a probe is counted exactly as a model's layer of that shape is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine.shape import layer_shapes


@dataclass(frozen=True)
class Probe:
    """One microbenchmark: an op class, a module factory and its input shapes (batch included)."""

    op: str
    make: Callable[[], nn.Module]
    inputs: tuple[tuple[int, ...], ...]


class _Add(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x + x


class Scale(nn.Module):
    """Squeeze-excitation's scaling: a map times a 1x1 map (MUL, broadcast)."""

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        return x * s


class Square(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * x


class TwoConcat(nn.Module):
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat([a, b], 1)


class _MatMul(nn.Module):
    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b


class _Attention(nn.Module):
    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v)


class _Softmax(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(-1)


class _Mean(nn.Module):
    """Squeeze-excitation's pooling as timm writes it (``aten.mean``, not adaptive average pooling)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean((2, 3), keepdim=True)


# (in channels, out channels, input size, kernel, stride): 3x3 to 7x7, strided stems, patch embeddings
_DENSE = ((3, 32, 224, 3, 2), (16, 16, 112, 3, 1), (24, 48, 56, 3, 1), (64, 64, 56, 3, 1), (64, 128, 28, 3, 1),
          (128, 128, 28, 3, 1), (256, 256, 14, 3, 1), (512, 512, 7, 3, 1), (32, 32, 28, 5, 1),
          (96, 96, 14, 7, 1), (3, 192, 224, 16, 16), (3, 64, 224, 4, 4), (48, 96, 32, 2, 2), (32, 64, 112, 3, 2),
          (64, 128, 14, 3, 2), (16, 16, 28, 3, 1))
# (in channels, out channels, size); the smallest pin down the fixed cost per kernel. Public, as LINEAR_GRID:
# benchmarks/check_parallel_step.py draws synthetic probe sets on these shapes
POINTWISE_GRID = ((16, 64, 112), (32, 16, 112), (24, 144, 56), (144, 24, 56), (64, 256, 28), (256, 64, 28),
                  (96, 576, 14), (576, 96, 14), (384, 384, 14), (160, 960, 7), (960, 160, 7), (1024, 1024, 7),
                  (128, 64, 14), (32, 16, 28), (256, 128, 7), (16, 8, 14))
# (channels, group width, size): 16 channels per group or more (``grouped``), fewer (``grouped_narrow``, RegNet's
# and ResNeXt's narrowest)
_GROUPED = ((128, 16, 28), (256, 32, 14), (512, 64, 7), (224, 16, 14), (192, 32, 28))
_GROUPED_NARROW = ((48, 8, 56), (104, 8, 28), (208, 8, 14), (440, 8, 7), (64, 4, 56), (128, 4, 28))
# (channels, size, kernel, stride)
_DEPTHWISE = ((32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (144, 56, 5, 2), (240, 28, 5, 1),
              (480, 14, 3, 1), (672, 14, 5, 1), (960, 7, 3, 1), (64, 56, 7, 1), (384, 14, 7, 1), (168, 16, 9, 1),
              (1024, 7, 7, 1), (16, 112, 3, 1), (128, 28, 3, 2), (32, 14, 3, 1))
# (channels, size, kernel, stride) of depthwise convs with two outputs per channel (FastViT's
# downsampling, MobileOne's final conv)
_DEPTHWISE_X2 = ((48, 64, 7, 2), (96, 32, 7, 2), (192, 16, 7, 2), (384, 8, 3, 1), (32, 56, 3, 1), (64, 28, 5, 2))
# (in, out) channels of 1x1 convs on a 1 x 1 map: squeeze-excitation's two FC layers
_SQUEEZE = ((48, 8), (8, 48), (104, 26), (26, 104), (208, 52), (440, 110), (960, 240), (240, 960))
# (rows, in features, out features): classifier heads (1 row) to token MLPs
LINEAR_GRID = ((1, 1280, 1000), (1, 960, 1280), (1, 576, 1024), (1, 256, 64), (1, 64, 256), (49, 768, 768),
               (196, 192, 576), (197, 768, 192), (197, 192, 768), (784, 96, 384), (3136, 64, 256), (4096, 96, 24),
               (4096, 24, 96), (256, 384, 1536), (49, 1536, 384))
# (heads, tokens, head dim)
_HEADS = ((3, 197, 64), (6, 197, 64), (12, 197, 64), (4, 49, 32), (2, 784, 32), (1, 3136, 32), (8, 196, 32))
# (channels, size) of feature maps for the memory classes
_MAPS = ((16, 112), (32, 56), (24, 56), (64, 28), (144, 28), (96, 14), (384, 14), (160, 7), (960, 7), (512, 14))
# (tokens, channels) for layer norm
_TOKENS = ((3136, 64), (784, 128), (196, 192), (197, 768), (49, 512), (4096, 24), (1024, 96), (256, 384))


def probes(batch: int, quick: bool = False) -> Iterator[Probe]:
    """Every probe at ``batch``; ``quick`` takes every other shape of each class."""
    def pick(grid: tuple) -> tuple:
        return grid[::2] if quick else grid

    b = batch
    for cin, cout, hw, k, s in pick(_DENSE):
        pad = k // 2 if s == 1 else (k // 2 if k % 2 else 0)
        yield Probe("conv2d", lambda cin=cin, cout=cout, k=k, s=s, pad=pad: nn.Conv2d(cin, cout, k, s, pad, bias=False),
                    ((b, cin, hw, hw),))
    for cin, cout, hw in pick(POINTWISE_GRID):
        yield Probe("conv1x1", lambda cin=cin, cout=cout: nn.Conv2d(cin, cout, 1, bias=False), ((b, cin, hw, hw),))
    for op, grid in (("grouped", _GROUPED), ("grouped_narrow", _GROUPED_NARROW)):
        for c, width, hw in pick(grid):
            yield Probe(op, lambda c=c, g=c // width: nn.Conv2d(c, c, 3, 1, 1, groups=g, bias=False),
                        ((b, c, hw, hw),))
    for c, hw, k, s in pick(_DEPTHWISE):
        yield Probe("dwconv2d", lambda c=c, k=k, s=s: nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=False),
                    ((b, c, hw, hw),))
    for c, hw, k, s in pick(_DEPTHWISE_X2):
        yield Probe("dwconv_mult", lambda c=c, k=k, s=s: nn.Conv2d(c, 2 * c, k, s, k // 2, groups=c, bias=False),
                    ((b, c, hw, hw),))
    for cin, cout in pick(_SQUEEZE):
        yield Probe("fc_conv", lambda cin=cin, cout=cout: nn.Conv2d(cin, cout, 1), ((b, cin, 1, 1),))
    for rows, fin, fout in pick(LINEAR_GRID):
        shape = (b, fin) if rows == 1 else (b, rows, fin)
        yield Probe("fc", lambda fin=fin, fout=fout: nn.Linear(fin, fout), (shape,))
    for h, n, d in pick(_HEADS):
        yield Probe("matmul", _MatMul, ((b, h, n, d), (b, h, d, n)))        # Q.K^T
        yield Probe("matmul", _MatMul, ((b, h, n, n), (b, h, n, d)))        # A.V
        yield Probe("attention", _Attention, ((b, h, n, d),) * 3)
    for h, n, d in pick(((4, 1024, 32), (8, 196, 64))):
        yield Probe("matmul", _MatMul, ((b, h, d, n), (b, h, n, d)))        # cross-covariance: d x d
    for c, hw in pick(_MAPS):
        m = (b, c, hw, hw)
        yield Probe("bn", lambda c=c: nn.BatchNorm2d(c), (m,))
        yield Probe("activation", nn.ReLU, (m,))
        yield Probe("gelu", nn.GELU, (m,))
        yield Probe("silu", nn.SiLU, (m,))
        yield Probe("hswish", nn.Hardswish, (m,))
        yield Probe("add", _Add, (m,))
        yield Probe("pool", lambda: nn.AdaptiveAvgPool2d(1), (m,))
        yield Probe("maxpool", lambda: nn.MaxPool2d(3, 2, 1), (m,))
        yield Probe("mean", _Mean, (m,))
    for n, c in pick(_TOKENS):
        yield Probe("norm", lambda c=c: nn.LayerNorm(c), ((b, n, c),))
    for h, n, _ in pick(_HEADS):
        yield Probe("softmax", _Softmax, ((b, h, n, n),))


@dataclass(frozen=True)
class Counted:
    """A probe as the tracer counts it: MACs, bytes (weights + input + output), output elements."""

    macs: float
    bytes: float
    out_elems: float
    reduction: float
    reuse: float


def count(p: Probe, elem: int) -> Counted:
    """The probe's layer counted by ``roofline.trace`` (unfused: one row per aten op)."""
    from ..trace import trace

    return count_table(trace(p.make(), input_shape=list(p.inputs) if len(p.inputs) > 1 else p.inputs[0], fuse=False),
                       elem)


def count_table(table, elem: int) -> Counted:
    """A probe's traced layers (a PyTorch module's, or a graph file's) as one :class:`Counted`."""
    rows = table.layers
    out, red, reuse = layer_shapes(rows.iloc[:1])
    return Counted(float(rows["macs"].sum()),
                   float((rows["weight_elems"] + rows["in_elems"] + rows["out_elems"]).sum() * elem),
                   float(out[0]), float(red[0]), float(reuse[0]))
