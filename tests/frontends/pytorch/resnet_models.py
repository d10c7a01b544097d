"""Hand-written test models for the PyTorch frontend (torchvision is not a dependency).

``resnet50()`` follows torchvision's layout (Bottleneck, stride in the 3x3: ResNet v1.5);
``resnet50(stride_in_1x1=True)`` is the original v1 placement.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, stride_in_1x1: bool = False
    ) -> None:
        super().__init__()
        width = planes
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, width, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * self.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))  # (N, width, H/s1, W/s1)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, width, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (N, 4*planes, H/s, W/s)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(
        self, layers: tuple[int, ...], num_classes: int = 1000, stride_in_1x1: bool = False
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            stage = [Bottleneck(self.inplanes, planes, stride, stride_in_1x1)]
            self.inplanes = planes * 4
            stage += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 2048, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 2048)
        return self.fc(x)


def resnet50(stride_in_1x1: bool = False, device: str | None = None) -> ResNet:
    """ResNet-50; ``device='meta'`` builds it without allocating weights."""
    with torch.device(device or "cpu"):
        return ResNet((3, 4, 6, 3), stride_in_1x1=stride_in_1x1)


def seed_cnn() -> nn.Sequential:
    """The seed CNN of the project (54,922 parameters at 3x32x32)."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.Conv2d(64, 64, 1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3136, 10),
    )


class FunctionalNet(nn.Module):
    """Functional ops inside a forward: F.conv2d, pools, pixel_unshuffle, interpolate, cat."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3) * 0.1)
        self.bias = nn.Parameter(torch.zeros(8))
        self.register_buffer("blur", torch.ones(8, 1, 3, 3) / 9.0)
        self.features = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8))
        self.proj = nn.Conv2d(8 + 32, 16, 1)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.weight, self.bias, padding=1))  # (N, 8, H, W)
        y = F.conv2d(x, self.blur, stride=2, padding=1, groups=8)  # (N, 8, H/2, W/2) fixed blur
        y = self.features(y) + y  # (N, 8, H/2, W/2)
        z = F.pixel_unshuffle(F.max_pool2d(x, 3, 1, 1), 2)  # (N, 32, H/2, W/2)
        z = F.avg_pool2d(z, 3, 1, 1, ceil_mode=True)
        w = torch.cat([y, z], dim=1)  # (N, 40, H/2, W/2)
        w = torch.relu(self.proj(w))  # (N, 16, H/2, W/2)
        w = F.interpolate(w, scale_factor=2, mode="nearest")  # (N, 16, H, W)
        w = F.pad(w, (1, 1, 2, 0)).sigmoid()  # (N, 16, H+2, W+2)
        w = F.adaptive_avg_pool2d(w, 1).flatten(1)  # (N, 16)
        return self.head(w)
