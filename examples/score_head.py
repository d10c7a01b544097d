"""A one-stage detector in miniature: two strided convs, a score and a box per position, the
positions whose score passes a threshold, the best 20 of them, and a small head over their
boxes. How many positions pass is data: stridescope takes every one (an upper bound, noted).

stridescope summary examples/score_head.py:build --input 1x3x64x64
"""

from __future__ import annotations

import torch
from torch import nn


class ScoreHead(nn.Module):
    """conv 3x3 stride 2 (16) + ReLU twice, a 1x1 score and a 1x1 box per position, positions
    scoring over 0.5, the top 20, a dense layer (4 to 8) over their boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.score, self.box = nn.Conv2d(16, 1, 1), nn.Conv2d(16, 4, 1)
        self.refine = nn.Linear(4, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        scores = self.score(f).sigmoid().flatten()  # (H * W,) for a batch of one
        boxes = self.box(f).flatten(2)[0].t()  # (H * W, 4)
        keep = scores > 0.5
        scores, boxes = scores[keep], boxes[keep]
        best = scores.topk(min(20, scores.numel())).indices
        return self.refine(boxes[best])


def build() -> ScoreHead:
    return ScoreHead()
