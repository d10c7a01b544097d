"""Strided convolutions: the seed's 1x1 stride-2 conv and the 3x3 stride-2 conv, in any
rank (on a signal: a 1-tap and a 3-tap Conv1d with stride 2).

Odd sizes: a k x k kernel (k odd) with stride 2 and padding (k - 1) / 2 on each side gives
``floor((H - 1) / 2) + 1 = ceil(H / 2)`` outputs; the 1x1 conv needs no padding and reads
rows and columns 0, 2, 4, ... (samples 0, 2, 4, ... of a signal).
"""

from __future__ import annotations

import torch
from torch import nn

from stridescope.ir import GraphBuilder
from stridescope.ops._checks import CONVS, check_input, check_rank, every_other
from stridescope.ops.registry import OPS

__all__ = ["StridedConv", "conv1x1_s2", "conv3x3_s2"]


class StridedConv(nn.Module):
    """A ``kernel x kernel`` convolution with stride 2 and padding ``(kernel - 1) // 2`` on
    ``rank`` spatial axes."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, op: str, rank: int = 2
    ) -> None:
        super().__init__()
        self.op = op
        self.in_channels = in_channels
        self.kernel = kernel
        self.rank = check_rank(rank)
        # the 1x1 runs as slicing then a stride-1 conv: the same numbers, and on CPU
        # 2-3x faster than a stride-2 1x1 conv (bench/ops_speed.py)
        stride = 1 if kernel == 1 else 2
        conv = CONVS[self.rank]
        self.conv = conv(in_channels, out_channels, kernel, stride, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.op, self.in_channels, rank=self.rank)
        if self.kernel == 1:
            x = every_other(x)  # (N, C_in, ceil(H/2), ceil(W/2)), a view
        out: torch.Tensor = self.conv(x)  # (N, C_out, ceil(H/2), ceil(W/2))
        return out

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        return builder.conv(
            parent,
            f"{name}.conv",
            out_channels=self.conv.out_channels,
            kernel=self.kernel,
            stride=2,
            padding=self.kernel // 2,
            op=self.op,
        )


@OPS.register(
    "conv1x1_s2",
    doc="1x1 convolution with stride 2: reads one position of every 2 per axis.",
    reference="He et al. 2016, Deep Residual Learning (ResNet v1 bottleneck shortcut)",
)
def conv1x1_s2(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return StridedConv(in_channels, out_channels, 1, "conv1x1_s2", rank)


@OPS.register(
    "conv3x3_s2",
    doc="3x3 convolution with stride 2, padding 1: every position read, overlapping windows.",
    reference="He et al. 2016 (ResNet v1.5 puts the stride in the 3x3 conv)",
)
def conv3x3_s2(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return StridedConv(in_channels, out_channels, 3, "conv3x3_s2", rank)
