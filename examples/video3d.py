"""A small 3-D video network in the C3D / R3D style (Tran et al. 2015, 2018): a stem that
strides in space only, then residual stages that halve time and space with a strided 3x3x3
conv on the main path and a 1x1x1 stride-2 conv on the shortcut, a global average pool and a
linear classifier, on clips (N, 3, frames, H, W).

stridescope summary examples/video3d.py:build --input 1x3x16x112x112 --sample-rate 25
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """Two 3x3x3 convs with a residual; the first has the stride, the shortcut a 1x1x1 conv of
    the same stride when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(c_out)
        self.conv2 = nn.Conv3d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))  # (N, C_out, T/s, H/s, W/s)
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class Video3D(nn.Module):
    """Stem conv 3x7x7 with stride (1, 2, 2), max pool (1, 3, 3) with stride (1, 2, 2), four
    stages of one block (64, 128, 256, 512 channels; stride 2 from the second), global
    average pool, linear."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        widths = (64, 128, 256, 512)
        stages = [
            Block(64 if i == 0 else widths[i - 1], w, 1 if i == 0 else 2)
            for i, w in enumerate(widths)
        ]
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, 512, T/8, H/32, W/32)
        return self.fc(torch.flatten(self.pool(x), 1))


def build(num_classes: int = 10) -> Video3D:
    """The network for ``num_classes`` classes."""
    return Video3D(num_classes)
