"""The seed's CNN in PyTorch, the same network as examples/seed_cnn.toml (NCHW).

stridescope summary examples/seed_cnn_torch.py:build --input 1x3x32x32
"""

from __future__ import annotations

from torch import nn


def build(num_classes: int = 10) -> nn.Sequential:
    """Conv 3x3 (32) + ReLU, max-pool 2, conv 3x3 (64) + ReLU, conv 1x1 stride 2 (64) + ReLU,
    flatten, dense (10) + softmax: 54,922 parameters on a 3x32x32 input."""
    return nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=3),  # (N, 32, 30, 30)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 32, 15, 15)
        nn.Conv2d(32, 64, kernel_size=3),  # (N, 64, 13, 13)
        nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=1, stride=2),  # (N, 64, 7, 7)
        nn.ReLU(),
        nn.Flatten(),  # (N, 3136)
        nn.Linear(64 * 7 * 7, num_classes),
        nn.Softmax(dim=1),
    )
