"""Space-to-depth (pixel unshuffle by 2) then a 1x1 conv: every pixel read exactly once.

Odd sizes: one zero row / column is appended at the bottom / right before the unshuffle,
so ``ceil(H / 2)`` outputs. Unshuffle then 1x1 equals one 2x2 stride-2 conv whose weight is
the 1x1 weight viewed as ``(C_out, C_in, 2, 2)`` (pixel unshuffle orders channels
``c * 4 + 2 * i + j``), which is how it runs: same numbers, one kernel call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.ir import GraphBuilder
from stridescope.ops._checks import check_input, ir_spatial, pointwise_ir
from stridescope.ops.registry import OPS

__all__ = ["SpaceToDepthConv", "s2d_conv1x1"]


class SpaceToDepthConv(nn.Module):
    """``pixel_unshuffle(x, 2)`` then a 1x1 conv from ``4 * C_in`` to ``C_out`` channels
    (with a bias unless ``bias=False``)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.Conv2d(4 * in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "s2d_conv1x1", self.in_channels)
        h, w = x.shape[2] % 2, x.shape[3] % 2
        if h or w:
            x = F.pad(x, (0, w, 0, h))  # (N, C, 2*ceil(H/2), 2*ceil(W/2))
        weight = self.conv.weight.view(-1, self.in_channels, 2, 2)
        return F.conv2d(x, weight, self.conv.bias, stride=2)  # (N, C_out, H/2, W/2)

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        spatial = ir_spatial(builder, parent, "s2d_conv1x1")
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
    doc="Space-to-depth (pixel unshuffle by 2), then a 1x1 conv on 4x the channels.",
    reference=(
        "Sajjadi et al. 2018 (FRVSR); Ridnik et al. 2021, TResNet (SpaceToDepth stem); the "
        "same map as ConvNeXt's 2x2 stride-2 conv (Liu et al. 2022)"
    ),
)
def s2d_conv1x1(in_channels: int, out_channels: int) -> nn.Module:
    return SpaceToDepthConv(in_channels, out_channels)
