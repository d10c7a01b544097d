"""Depthwise-separable downsampling: strided depthwise 3x3 then a pointwise 1x1.

Odd sizes: the depthwise 3x3 has stride 2 and padding 1, so ``ceil(H / 2)`` outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from stridescope.ir import GraphBuilder
from stridescope.ops._checks import CONVS, check_input, check_rank, pointwise_ir
from stridescope.ops.registry import OPS

__all__ = ["DepthwiseSeparable", "dwsep_s2"]


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 stride-2 conv (no bias) followed by a 1x1 conv (with bias), on ``rank``
    spatial axes."""

    def __init__(self, in_channels: int, out_channels: int, rank: int = 2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.rank = check_rank(rank)
        conv = CONVS[self.rank]
        self.depthwise = conv(
            in_channels, in_channels, 3, stride=2, padding=1, groups=in_channels, bias=False
        )
        self.pointwise = conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "dwsep_s2", self.in_channels, rank=self.rank)
        out: torch.Tensor = self.pointwise(self.depthwise(x))  # (N, C_out, ceil(H/2), ceil(W/2))
        return out

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        x = builder.conv(
            parent,
            f"{name}.depthwise",
            out_channels=self.in_channels,
            kernel=3,
            stride=2,
            padding=1,
            groups=self.in_channels,
            bias=False,
            op="dwsep_s2",
        )
        return pointwise_ir(builder, x, name, self.pointwise.out_channels, "dwsep_s2", "pointwise")


@OPS.register(
    "dwsep_s2",
    doc="Depthwise 3x3 stride-2 conv, then a pointwise 1x1 conv (MobileNet style).",
    reference="Howard et al. 2017, MobileNets",
)
def dwsep_s2(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return DepthwiseSeparable(in_channels, out_channels, rank)
