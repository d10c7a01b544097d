"""Your own downsampling layer beside the zoo: MaxBlurPool + 1x1 (Zhang 2019, "Making
convolutional networks shift-invariant again"): a 2x2 max with stride 1, then a [1, 2, 1]
binomial blur with stride 2, then a 1x1 conv. The max sees the last row and column
replicated, so the output is ceil(H/2) x ceil(W/2) like the zoo's (and fits a study's slot).

stridescope compare --input 3x64x64 --out-channels 16 \\
    --ops maxpool_conv1x1,blurpool_conv1x1,examples/maxblurpool.py:max_blur_pool
stridescope study --ops conv1x1_s2,maxpool_conv1x1,examples/maxblurpool.py:max_blur_pool
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaxBlurPool(nn.Module):
    """Max (2x2, stride 1, last row and column replicated), blur ([1, 2, 1]^2 / 16, stride 2,
    reflect padding), 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16
        self.register_buffer("blur", kernel.expand(in_channels, 1, 3, 3).contiguous())
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)
        x = F.conv2d(
            F.pad(x, (1, 1, 1, 1), mode="reflect"), self.blur, stride=2, groups=self.in_channels
        )
        return self.conv(x)


def max_blur_pool(in_channels: int, out_channels: int) -> nn.Module:
    """MaxBlurPool + 1x1: 2x2 max stride 1, [1,2,1] blur stride 2, 1x1 conv (Zhang 2019)."""
    return MaxBlurPool(in_channels, out_channels)
