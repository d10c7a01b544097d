"""A keypoint network in miniature whose decoding reads values: a strided backbone, a heatmap
per keypoint, then, per keypoint, the peak's position read with ``.item()`` and a window of
the features cut around it. A trace reads shapes only, so it stops at the first ``.item()``;
``--partial`` summarises the network up to there (every parameter used by then).

stridescope summary examples/keypoint_decoder.py:build --input 1x3x64x64 --partial
"""

from __future__ import annotations

import torch
from torch import nn


class KeypointNet(nn.Module):
    """conv 3x3 stride 2 (16) + ReLU twice, a 1x1 heatmap for each of 4 keypoints; per
    keypoint, the 5x5 window of features around its peak."""

    def __init__(self, keypoints: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.heat = nn.Conv2d(16, keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        heat = self.heat(f)[0].flatten(1)  # (keypoints, H * W)
        width = f.shape[-1]
        windows = []
        for peak in heat.argmax(1):
            row, col = divmod(int(peak.item()), width)  # the value read: where a trace stops
            windows.append(f[0, :, max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3])
        return torch.stack([w.mean((1, 2)) for w in windows])


def build() -> KeypointNet:
    return KeypointNet()
