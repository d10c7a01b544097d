"""A small ResNet-18-style network for 28x28 grayscale digits (the bundled ``mnist5k``).

The ResNet-18 layout (He et al. 2016): a stem, then four stages of two basic blocks (two 3x3
convs each); the first block of stages 2-4 halves the map with a 3x3 stride-2 conv on its main
path and a **1x1 stride-2 conv on its shortcut** — the layer that reads one input position in
four. Narrower (8-64 channels instead of 64-512) and with a 3x3 stride-1 stem and no max
pool, so that 28x28 inputs keep 28-14-7-4 maps and it trains on two CPU cores in seconds per
epoch.

    stridescope summary examples/resnet18_mini.py:build --input 1x1x28x28
    stridescope lint examples/resnet18_mini.py:build --input 1x1x28x28
    stridescope fix examples/resnet18_mini.py:build --input 1x1x28x28 --policy resnet-d

``blurpool``, ``resnet_d`` and ``s2d`` build the network fixed with that policy (what
``stridescope fix`` returns), so ``stridescope consistency`` can load the weights of a fixed,
trained model: ``stridescope consistency examples/resnet18_mini.py:blurpool --weights w.pt``.

>>> import torch
>>> build()(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18Mini", "blurpool", "build", "build_fixed", "resnet_d", "s2d"]

WIDTHS = (8, 16, 32, 64)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut: the identity, or a 1x1 conv at the block's stride
    (with a norm) where the block changes the map's size or width."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNet18Mini(nn.Module):
    """Stem, four stages of two blocks (stride 1, 2, 2, 2), global average pool, linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        stages: list[nn.Module] = []
        width = WIDTHS[0]
        for index, out in enumerate(WIDTHS):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(width, out, stride), BasicBlock(out, out, 1)))
            width = out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 8, 28, 28)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 64, 4, 4)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (N, num_classes)


def build(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """The network for ``num_classes`` classes and ``in_channels`` input channels (1: grayscale
    digits; 3: colour images)."""
    return ResNet18Mini(num_classes, in_channels)


def build_fixed(policy: str, num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """The network with its downsampling layers swapped under ``policy`` by
    ``stridescope.fix`` (for 28x28 inputs; ``original``: as built)."""
    model = build(num_classes, in_channels)
    if policy == "original":
        return model
    import stridescope

    return stridescope.fix(model, policy, input_shape=(1, in_channels, 28, 28)).model


def blurpool(num_classes: int = 10) -> nn.Module:
    """:func:`build_fixed` with ``blurpool``."""
    return build_fixed("blurpool", num_classes)


def resnet_d(num_classes: int = 10) -> nn.Module:
    """:func:`build_fixed` with ``resnet-d``."""
    return build_fixed("resnet-d", num_classes)


def s2d(num_classes: int = 10) -> nn.Module:
    """:func:`build_fixed` with ``s2d``."""
    return build_fixed("s2d", num_classes)
