"""Adaptive polyphase sampling (APS) then a 1x1 conv.

The input is split into its polyphase components ``x[:, :, i::2, j::2]`` (four on an image,
two on a signal: ``x[:, :, i::2]``, eight on a volume); for each sample the component with
the largest l2 norm is kept. A circular shift of the input only permutes the components, so
the kept one is the same up to a circular shift of the output: exactly shift-invariant to
circular shifts (for even sizes).

Odd sizes: one zero row / column (sample) is appended at the end, so ``ceil(H / 2)`` outputs
(exact circular invariance then no longer holds).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.ir import GraphBuilder
from stridescope.ops._checks import CONVS, check_input, check_rank, pointwise_ir
from stridescope.ops.registry import OPS

__all__ = ["AdaptivePolyphase", "PolyphaseConv", "aps_conv1x1", "polyphase_select"]


def polyphase_select(x: torch.Tensor) -> torch.Tensor:
    """Keep, per sample, the polyphase component (by 2 on every spatial axis) of largest l2
    norm.

    >>> x = torch.zeros(1, 1, 4, 4); x[0, 0, 1, 0] = 5.0
    >>> polyphase_select(x)[0, 0].tolist()
    [[5.0, 0.0], [0.0, 0.0]]
    >>> polyphase_select(torch.tensor([[[0.0, 1.0, 0.0, 3.0, 1.0]]])).tolist()
    [[[1.0, 3.0, 0.0]]]
    """
    odd = [n % 2 for n in reversed(x.shape[2:])]  # F.pad: last axis first
    if any(odd):
        x = F.pad(x, [p for o in odd for p in (0, o)])
    n, c, *sizes = x.shape
    rank = len(sizes)
    halves = [s // 2 for s in sizes]
    # (N, C, H/2, 2, W/2, 2) -> (N, 2, 2, C, H/2, W/2) -> (N, 4, C, H/2, W/2)
    split = x.view(n, c, *(d for h in halves for d in (h, 2)))
    order = (0, *(3 + 2 * a for a in range(rank)), 1, *(2 + 2 * a for a in range(rank)))
    phases = split.permute(*order).reshape(n, 2**rank, c, *halves)
    with torch.no_grad():
        best = phases.pow(2).flatten(2).sum(dim=2).argmax(dim=1)  # (N,)
    return phases[torch.arange(n, device=x.device), best]  # (N, C, H/2, W/2)


class AdaptivePolyphase(nn.Module):
    """APS by 2 on its own: ``(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))``, no parameters
    (what the ``aps`` fix policy puts after a layer it sets to stride 1).

    >>> x = torch.zeros(2, 3, 5, 6); x[1, 0, 3, 1] = 1.0
    >>> y = AdaptivePolyphase()(x); tuple(y.shape), y[1, 0, 1, 0].item()
    ((2, 3, 3, 3), 1.0)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return polyphase_select(x)  # (N, C, ceil(H/2), ceil(W/2))

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        return builder.polyphase(parent, name, factor=2, op="AdaptivePolyphase")


class PolyphaseConv(nn.Module):
    """APS (l2 norm) by 2, then a 1x1 conv, on ``rank`` spatial axes."""

    def __init__(self, in_channels: int, out_channels: int, rank: int = 2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.rank = check_rank(rank)
        self.conv = CONVS[self.rank](in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "aps_conv1x1", self.in_channels, rank=self.rank)
        out: torch.Tensor = self.conv(polyphase_select(x))  # (N, C_out, ceil(H/2), ceil(W/2))
        return out

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        x = builder.polyphase(parent, f"{name}.aps", factor=2, op="aps_conv1x1")
        return pointwise_ir(builder, x, name, self.conv.out_channels, "aps_conv1x1")


@OPS.register(
    "aps_conv1x1",
    doc="Adaptive polyphase sampling (keep the phase by 2 of largest l2 norm), then 1x1 conv.",
    reference="Chaman & Dokmanic 2021, Truly Shift-Invariant CNNs (APS)",
)
def aps_conv1x1(in_channels: int, out_channels: int, rank: int = 2) -> nn.Module:
    return PolyphaseConv(in_channels, out_channels, rank)
