"""A small segmentation network: an encoder of stride-2 convs, a decoder that upsamples and
adds each skip connection (a U-Net with sums, an FPN's top-down path), a 1x1 head. What
``stridescope summary`` shows of the decoder: each output's receptive field through the
upsamplings (the largest of the phases they repeat in), and DS301 where a skip is added half
a pixel off its upsampled partner. Two ways to go down, three ways to come up:

    stridescope summary examples/unet_decoder.py:build --input 1x3x64x64
    stridescope lint examples/unet_decoder.py:aligned --input 1x3x64x64 --select DS301

``build`` goes down with 3x3 stride-2 pad-1 convs and up with nearest interpolation (each
sum is half a fine pixel off); ``aligned`` goes down with 2x2 average pools (each coarse
position centred between the two fine ones it becomes), and its sums align.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNetDecoder(nn.Module):
    def __init__(self, width: int = 16, depth: int = 3, down: str = "conv", up: str = "nearest"):
        super().__init__()
        self.stem = _block(3, width)
        self.downs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=2, padding=1) if down == "conv" else nn.AvgPool2d(2)
            for _ in range(depth)
        )
        self.encoders = nn.ModuleList(_block(width, width) for _ in range(depth))
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(width, width, 2, stride=2)
            if up == "transposed"
            else nn.Upsample(scale_factor=2, mode=up)
            for _ in range(depth)
        )
        self.decoders = nn.ModuleList(_block(width, width) for _ in range(depth))
        self.head = nn.Conv2d(width, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for down, encode in zip(self.downs, self.encoders, strict=True):
            skips.append(x)
            x = encode(down(x))
        for up, decode, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = decode(up(x) + skip)
        return F.log_softmax(self.head(x), dim=1)


def build() -> nn.Module:
    """Down by 3x3 stride-2 convs, up by nearest interpolation."""
    return UNetDecoder().eval()


def aligned() -> nn.Module:
    """Down by 2x2 average pools, up by bilinear interpolation (half-pixel centres)."""
    return UNetDecoder(down="avg", up="bilinear").eval()


def transposed() -> nn.Module:
    """Down by 3x3 stride-2 convs, up by 2x2 stride-2 transposed convolutions."""
    return UNetDecoder(up="transposed").eval()
