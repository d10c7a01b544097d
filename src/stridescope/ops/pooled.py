"""Pooling then a 1x1 conv: max pooling, and average pooling as in ResNet-D; in any rank (on
a signal: a 2-sample pool, then a 1-tap Conv1d).

Odd sizes: 2x2 pooling with stride 2 and ``ceil_mode=True`` keeps a last, partial window
(one row or column), so ``ceil(H / 2)`` outputs; the average of a partial window divides by
the pixels it covers (``count_include_pad=False``), as in ResNet-D. In the IR the partial
window is written as padding ``(0, H mod 2)`` that is never read, which is the same geometry
and also holds for H = 1.
"""

from __future__ import annotations

from collections.abc import Callable

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

_POOLS: dict[str, dict[int, Callable[..., torch.Tensor]]] = {
    "max": {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d},
    "avg": {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d},
}

__all__ = ["PoolConv", "avgpool_conv1x1", "maxpool_conv1x1"]


class PoolConv(nn.Module):
    """2x2 stride-2 pooling (``mode`` 'max' or 'avg', ceil mode), then a 1x1 conv, on
    ``rank`` spatial axes."""

    def __init__(
        self, in_channels: int, out_channels: int, mode: str, op: str, rank: int = 2
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.mode = mode
        self.op = op
        self.rank = check_rank(rank)
        self.conv = CONVS[self.rank](in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.op, self.in_channels, rank=self.rank)
        ceil = any(n % 2 for n in x.shape[2:])  # only odd sizes need the partial window
        if self.mode == "avg" and not ceil:
            # even sizes: the equal 2x2 stride-2 conv with tied weights w/4, one kernel call
            # (faster than pooling then 1x1 on CPU, bench/ops_speed.py)
            tied = self.conv.weight.expand(-1, -1, *(2,) * self.rank) / 2**self.rank
            conv = CONV_FUNCTIONS[self.rank]
            return conv(x, tied, self.conv.bias, stride=2)  # (N, C_out, H/2, W/2)
        pool = _POOLS[self.mode][self.rank]
        if self.mode == "max":
            pooled = pool(x, 2, 2, ceil_mode=ceil)
        else:
            pooled = pool(x, 2, 2, ceil_mode=ceil, count_include_pad=False)
        out: torch.Tensor = self.conv(pooled)  # (N, C_out, ceil(H/2), ceil(W/2))
        return out

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        spatial = ir_spatial(builder, parent, self.op, self.rank)
        pads = [(0, 0 if n is None else n % 2) for n in spatial]
        x = builder.pool(
            parent, f"{name}.pool", mode=self.mode, kernel=2, stride=2, padding=pads, op=self.op
        )
        return pointwise_ir(builder, x, name, self.conv.out_channels, self.op)


@OPS.register(
    "maxpool_conv1x1",
    doc="2x2 max pooling (stride 2, ceil mode), then a 1x1 conv.",
    reference="Springenberg et al. 2015 compare pooling with strided convs",
)
def maxpool_conv1x1(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return PoolConv(in_channels, out_channels, "max", "maxpool_conv1x1", rank)


@OPS.register(
    "avgpool_conv1x1",
    doc="2x2 average pooling (stride 2, ceil mode), then a 1x1 conv (ResNet-D shortcut).",
    reference="He et al. 2019, Bag of Tricks for Image Classification (ResNet-D)",
)
def avgpool_conv1x1(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return PoolConv(in_channels, out_channels, "avg", "avgpool_conv1x1", rank)
