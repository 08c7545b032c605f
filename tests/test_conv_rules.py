"""Convolution MAC rules, each against arithmetic written out here (not against another counter).

A convolution computes, for every output element, a dot product over (C_in / groups) x kernel
elements: MACs = out elements x C_in / groups x prod(kernel). A transposed convolution scatters every
input element over C_out / groups x prod(kernel) outputs: MACs = in elements x C_out / groups x
prod(kernel). Stride, padding and dilation change only the output size.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import roofline


def _macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    t = roofline.trace(module, shape, fuse=False)
    return int(t.layers["macs"].sum())


@pytest.mark.parametrize(("module", "shape", "expected"), [
    # dense 3x3, stride 2, no padding: 9x9 -> 4x4; 4 x 16 outputs x 3 x 9 = 1,728
    (nn.Conv2d(3, 4, 3, stride=2, bias=False), (1, 3, 9, 9), 4 * 16 * 3 * 9),
    # dilation 2, padding 2 keeps 10x10: 8 x 100 outputs x 3 x 9 = 21,600
    (nn.Conv2d(3, 8, 3, dilation=2, padding=2, bias=False), (1, 3, 10, 10), 8 * 100 * 3 * 9),
    # dilation 3 without padding: 10 - 3 x 2 = 4 -> 4x4: 5 x 16 x 2 x 9 = 1,440
    (nn.Conv2d(2, 5, 3, dilation=3, bias=False), (1, 2, 10, 10), 5 * 16 * 2 * 9),
    # groups 4: each output sees 8 / 4 = 2 input channels: 16 x 36 x 2 x 9 = 10,368
    (nn.Conv2d(8, 16, 3, groups=4, padding=1, bias=False), (1, 8, 6, 6), 16 * 36 * 2 * 9),
    # batch 3 multiplies everything: 3 x 4 x 16 x 3 x 9
    (nn.Conv2d(3, 4, 3, stride=2, bias=False), (3, 3, 9, 9), 3 * 4 * 16 * 3 * 9),
    # 1-D: length 20, kernel 5 -> 16: 6 x 16 x 4 x 5 = 1,920
    (nn.Conv1d(4, 6, 5, bias=False), (1, 4, 20), 6 * 16 * 4 * 5),
    # 3-D: 5^3, kernel 3^3 -> 3^3: 3 x 27 x 2 x 27 = 4,374
    (nn.Conv3d(2, 3, 3, bias=False), (1, 2, 5, 5, 5), 3 * 27 * 2 * 27),
    # transposed 2-D, stride 2: every one of 4 x 25 inputs scatters to 6 x 9 outputs = 5,400
    (nn.ConvTranspose2d(4, 6, 3, stride=2, bias=False), (1, 4, 5, 5), 4 * 25 * 6 * 9),
    # transposed with groups 2: 4 x 25 inputs x (6 / 2) x 9 = 2,700
    (nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=False), (1, 4, 5, 5), 4 * 25 * 3 * 9),
    # transposed 1-D: 3 x 7 inputs x 2 x 4 = 168
    (nn.ConvTranspose1d(3, 2, 4, stride=2, bias=False), (1, 3, 7), 3 * 7 * 2 * 4),
    # transposed 3-D: 2 x 8 inputs x 3 x 8 = 384
    (nn.ConvTranspose3d(2, 3, 2, stride=2, bias=False), (1, 2, 2, 2, 2), 2 * 8 * 3 * 8),
])
def test_conv_macs_by_hand(module, shape, expected):
    assert _macs(module, shape) == expected


def test_transposed_conv_output_size_and_weights():
    t = roofline.trace(nn.ConvTranspose2d(4, 6, 3, stride=2, bias=False), (1, 4, 5, 5), fuse=False)
    row = t.layers.iloc[0]
    # output (5 - 1) x 2 + 3 = 11 per side; weights 4 x 6 x 3 x 3 = 216
    assert row["out_elems"] == 6 * 11 * 11 and row["weight_elems"] == 216 and row["in_elems"] == 4 * 25
    assert torch.nn.ConvTranspose2d(4, 6, 3, stride=2)(torch.zeros(1, 4, 5, 5)).shape[-1] == 11
