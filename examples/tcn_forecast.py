"""A temporal convolutional network (after Bai et al. 2018) that forecasts the next value of a
sensor signal from its last step: causal dilated convs (each padded on the left only, so an
output never sees the future), residual blocks of two convs with dilations 1, 2, 4, 8, then a
linear head on the last time step. Input: 10 s of 3 channels at 100 Hz, (N, 3, 1000).

Reading only the last step, the forecast depends on the last 61 samples (0.61 s), however long
the window fed in: the summary's coverage and lint's DS202 say how much of it is never read.

stridescope summary examples/tcn_forecast.py:build --input 1x3x1000 --sample-rate 100
stridescope lint examples/tcn_forecast.py:build --input 1x3x1000
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """A conv padded ``dilation * (kernel - 1)`` samples on the left only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.dilation[0] * (self.kernel_size[0] - 1)
        return super().forward(F.pad(x, (left, 0)))


class TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv1 = CausalConv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv2 = CausalConv1d(c_out, c_out, kernel, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(y) + self.skip(x))


class TCN(nn.Module):
    def __init__(
        self, channels: int = 3, width: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8)
    ):
        super().__init__()
        widths = [channels, *[width] * len(dilations)]
        self.blocks = nn.Sequential(
            *[TemporalBlock(widths[i], widths[i + 1], d) for i, d in enumerate(dilations)]
        )
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x)[:, :, -1])  # the forecast, from the last step


def build() -> nn.Module:
    return TCN().eval()
