"""ResNet-20 for CIFAR-10 (He et al. 2016, section 4.2) with the "option A" shortcut: where a
stage halves the feature map, the shortcut subsamples by slicing, ``x[:, :, ::2, ::2]``, and
zero-pads the new channels. That slice is a 1x1 stride-2 window with no weights: it reads 1
of every 4 positions of its input, like the seed's 1x1 stride-2 conv.

stridescope summary examples/resnet20_option_a.py:resnet20 --input 1x3x32x32 --depth 1
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """3x3 conv, BN, ReLU, 3x3 conv, BN, plus the shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.extra = out_channels - in_channels  # zero channels the shortcut adds
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.extra:
            half = self.extra // 2
            shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra - half))
        return F.relu(out + shortcut)


class ResNet20(nn.Module):
    """Three stages of three blocks (16, 32, 64 channels), global average pool, linear."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks: list[nn.Module] = []
        width = 16
        for stage, out in enumerate((16, 32, 64)):
            for i in range(3):
                blocks.append(BasicBlock(width, out, 2 if stage and not i else 1))
                width = out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean(dim=(2, 3)))


def resnet20(num_classes: int = 10) -> ResNet20:
    """ResNet-20, 269,722 parameters for 10 classes (272,474 with option-B projection
    shortcuts: 2,752 more)."""
    return ResNet20(num_classes)
