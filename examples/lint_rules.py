"""One small PyTorch model per `stridescope lint` rule, the examples of docs/lint.md.

    stridescope lint examples/lint_rules.py:skipped_input --input 1x3x32x32

Each factory builds an untrained ``nn.Module``; lint reads it without running a kernel.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


def _net(*layers: tuple[str, nn.Module], head: int | None = None) -> nn.Sequential:
    """Named layers, then (``head`` channels) a global average pool and a linear classifier:
    the output then sees the whole input."""
    named = list(layers)
    if head is not None:
        named += [("pool", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten())]
        named += [("fc", nn.Linear(head, 10))]
    return nn.Sequential(OrderedDict(named))


def skipped_input() -> nn.Module:
    """DS101: a 1x1 conv with stride 2 reads one position in four of its input."""
    return _net(
        ("stem", nn.Conv2d(3, 16, 3, padding=1)),
        ("act", nn.ReLU()),
        ("down", nn.Conv2d(16, 32, 1, stride=2)),  # (N, 32, H/2, W/2), reads 25%
        head=32,
    )


def dropped_border() -> nn.Module:
    """DS201 (and DS202): a 3x3 stride-2 conv without padding on an even size never reads the
    last row and column."""
    return _net(
        ("stem", nn.Conv2d(3, 16, 3, stride=2)),  # (N, 16, 15, 15) from 32x32: 31 unread
        ("act", nn.ReLU()),
        ("conv", nn.Conv2d(16, 32, 3, padding=1)),
        head=32,
    )


def unread_input() -> nn.Module:
    """DS202: a 1x1 stride-2 conv first; nothing after it reads what it skipped."""
    return _net(
        ("down", nn.Conv2d(3, 16, 1, stride=2)),  # (N, 16, H/2, W/2): 3 pixels in 4 lost
        ("act", nn.ReLU()),
        ("conv", nn.Conv2d(16, 32, 3, padding=1)),
        head=32,
    )


class ResNetDBlock(nn.Module):
    """A downsampling residual block with a ResNet-D shortcut: 2x2 average pool (stride 2),
    then a 1x1 conv, added to a 3x3 stride-2 pad-1 main path."""

    def __init__(self, cin: int = 16, cout: int = 32) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, cin, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.proj = nn.Conv2d(cin, cout, 1)
        self.fc = nn.Linear(cout, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))  # (N, 16, H, W)
        main = self.conv2(F.relu(self.conv1(x)))  # (N, 32, H/2, W/2), centred on even pixels
        short = self.proj(self.pool(x))  # (N, 32, H/2, W/2), centred between two pixels
        y = F.relu(main + short)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def misaligned_merge() -> nn.Module:
    """DS301: the ResNet-D block's two branches sample grids half a pixel apart."""
    return ResNetDBlock()


def aliasing() -> nn.Module:
    """DS401: a 2x2 max pool with stride 2, no low-pass before it."""
    return _net(
        ("stem", nn.Conv2d(3, 16, 3, padding=1)),
        ("act", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        head=16,
    )


class Blur(nn.Module):
    """A fixed 3x3 binomial blur, depthwise, at ``stride`` (reflect padding)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous())
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel: torch.Tensor = self.kernel  # type: ignore[assignment]
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, kernel, stride=self.stride, groups=x.shape[1])


def antialiased() -> nn.Module:
    """No DS401: the max pool at stride 1, then a blur that samples (MaxBlurPool)."""
    return _net(
        ("stem", nn.Conv2d(3, 16, 3, padding=1)),
        ("act", nn.ReLU()),
        ("max", nn.MaxPool2d(2, stride=1)),
        ("blur", Blur(16, stride=2)),
        head=16,
    )


def short_field() -> nn.Module:
    """DS501: a fully convolutional network whose outputs each see 5x5 pixels."""
    return _net(
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
        ("act", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 2, 3, padding=1)),  # (N, 2, H, W): a per-pixel map
    )


class MatrixExp(nn.Module):
    """DS001: ``torch.linalg.matrix_exp`` is not an op stridescope models (its cost depends
    on the values: how many squarings the matrix needs)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.linalg.matrix_exp(self.conv(x))  # (N, 3, H, H): per channel, H x H
        return self.fc(y.mean(dim=(2, 3)))


def not_understood() -> nn.Module:
    """DS001: an op the tracer does not understand."""
    return MatrixExp()
