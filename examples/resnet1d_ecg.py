"""A ResNet1D-style ECG classifier (after Hannun et al. 2019 and the many ResNet1D repositories
for 12-lead ECG): a strided stem, a max pool, four stages of basic blocks with kernel 7 whose
first block halves time with a stride-2 conv on the main path and a 1-tap stride-2 conv on the
shortcut (the ResNet v1 choice), then a global average pool and a linear head. Input: 10 s of
12-lead ECG at 500 Hz, (N, 12, 5000).

stridescope summary examples/resnet1d_ecg.py:build --input 1x12x5000 --sample-rate 500
stridescope lint examples/resnet1d_ecg.py:build --input 1x12x5000
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock1d(nn.Module):
    """Two kernel-7 convs with batch norm and a residual; with ``stride`` 2 the shortcut is a
    1-tap conv of stride 2 (it reads every other sample)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 7, stride=stride, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 7, padding=3, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))  # (N, C_out, L / stride)
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.downsample(x))


class ResNet1d(nn.Module):
    """Stem conv 15 taps stride 2, max pool 3 stride 2, stages of 64, 128, 256, 512 channels
    (two blocks each, stride 2 from the second stage), global average pool, linear."""

    def __init__(self, leads: int = 12, num_classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(leads, 64, 15, stride=2, padding=7, bias=False),
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        c_in = 64
        for index, width in enumerate((64, 128, 256, 512)):
            stride = 1 if index == 0 else 2
            blocks += [BasicBlock1d(c_in, width, stride), BasicBlock1d(width, width, 1)]
            c_in = width
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, 512, L / 32)
        return self.fc(torch.flatten(self.pool(x), 1))


def build(leads: int = 12, num_classes: int = 5) -> ResNet1d:
    """The network for ``leads`` input leads and ``num_classes`` rhythm classes."""
    return ResNet1d(leads, num_classes)
