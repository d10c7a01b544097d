"""Space-to-depth (pixel unshuffle by 2) then a 1x1 conv: every position read exactly once.
On a signal it is a fold: each pair of samples becomes 2 channels, ``(C, L) -> (2C, L/2)``.

Odd sizes: one zero row / column (sample) is appended at the end before the unshuffle, so
``ceil(H / 2)`` outputs. Unshuffle then 1x1 equals one 2x2 stride-2 conv whose weight is the
1x1 weight viewed as ``(C_out, C_in, 2, 2)`` (pixel unshuffle orders channels
``c * 4 + 2 * i + j``; a fold ``c * 2 + i``), which is how it runs: same numbers, one kernel
call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.ir import GraphBuilder
from stridescope.ops._checks import (
    CONV_FUNCTIONS,
    CONVS,
    check_input,
    check_rank,
    ir_spatial,
    pointwise_ir,
)
from stridescope.ops.registry import OPS

__all__ = ["SpaceToDepthConv", "s2d_conv1x1"]


class SpaceToDepthConv(nn.Module):
    """``pixel_unshuffle(x, 2)`` (a fold by 2 on every spatial axis) then a 1x1 conv from
    ``2**rank * C_in`` to ``C_out`` channels (with a bias unless ``bias=False``)."""

    def __init__(
        self, in_channels: int, out_channels: int, bias: bool = True, rank: int = 2
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.rank = check_rank(rank)
        self.conv = CONVS[self.rank](2**self.rank * in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "s2d_conv1x1", self.in_channels, rank=self.rank)
        odd = [n % 2 for n in reversed(x.shape[2:])]  # F.pad: last axis first
        if any(odd):
            x = F.pad(x, [p for o in odd for p in (0, o)])  # (N, C, 2*ceil(H/2), 2*ceil(W/2))
        weight = self.conv.weight.view(-1, self.in_channels, *(2,) * self.rank)
        conv = CONV_FUNCTIONS[self.rank]
        return conv(x, weight, self.conv.bias, stride=2)  # (N, C_out, H/2, W/2)

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        spatial = ir_spatial(builder, parent, "s2d_conv1x1", self.rank)
        padded = tuple(None if n is None else n + n % 2 for n in spatial)
        x = parent
        if padded != spatial:
            pads = [(0, (n or 0) % 2) for n in spatial]  # odd sizes: one zero at the end
            x = builder.pad(parent, f"{name}.pad", padding=pads, op="s2d_conv1x1")
        x = builder.pixel_unshuffle(x, f"{name}.unshuffle", factor=2, op="s2d_conv1x1")
        bias = self.conv.bias is not None
        return pointwise_ir(builder, x, name, self.conv.out_channels, "s2d_conv1x1", bias=bias)


@OPS.register(
    "s2d_conv1x1",
    doc="Space-to-depth (unshuffle, a fold by 2 per axis), then a 1x1 conv on the channels.",
    reference=(
        "Sajjadi et al. 2018 (FRVSR); Ridnik et al. 2021, TResNet (SpaceToDepth stem); the "
        "same map as ConvNeXt's 2x2 stride-2 conv (Liu et al. 2022)"
    ),
)
def s2d_conv1x1(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return SpaceToDepthConv(in_channels, out_channels, rank=rank)
