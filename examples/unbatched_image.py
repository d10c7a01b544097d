"""A model that takes one image without its batch axis, ``(C, H, W)``, as torchvision's
detectors take each image of their list: it normalizes it, gives it the batch axis itself
(``image[None]``), resizes it and writes it into a canvas padded to a multiple of 32, then
runs two strided convs. stridescope reads the input as a batch of one.

stridescope summary examples/unbatched_image.py:build --input 3x50x50
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UnbatchedImage(nn.Module):
    """``(3, H, W)`` in 0-1: normalized, ``[None]``, resized by 1.25, written into a zero
    canvas whose sides are multiples of 32, conv 3x3 stride 2 (16) + ReLU twice."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]))
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = (image - self.mean[:, None, None]) / self.std[:, None, None]
        image = F.interpolate(image[None], scale_factor=1.25, mode="bilinear")[0]
        h, w = image.shape[-2:]
        canvas = image.new_zeros(1, 3, -(-h // 32) * 32, -(-w // 32) * 32)
        canvas[0, :, :h, :w].copy_(image)
        return self.body(canvas)


def build() -> UnbatchedImage:
    return UnbatchedImage()
