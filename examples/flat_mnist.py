"""A small MNIST CNN fed flat rows of 784 pixel values, as a CSV file of digits gives them:
its forward scales them and views them as a 1x28x28 image itself.

stridescope summary examples/flat_mnist.py:build --input 1x784
"""

from __future__ import annotations

import torch
from torch import nn


class FlatMnist(nn.Module):
    """``(N, 784)`` values in 0-255, scaled to 0-1 and viewed as ``(N, 1, 28, 28)``; conv
    5x5 stride 2 (8) + ReLU, conv 3x3 stride 2 (16) + ReLU, flatten, dense (10)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=5, stride=2)  # (N, 8, 12, 12)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=2)  # (N, 16, 5, 5)
        self.fc = nn.Linear(16 * 5 * 5, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x / 255.0).view(-1, 1, 28, 28)
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(x.flatten(1))


def build(num_classes: int = 10) -> FlatMnist:
    return FlatMnist(num_classes)
