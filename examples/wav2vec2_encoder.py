"""A wav2vec2-style feature encoder (Baevski et al. 2020): seven Conv1d layers of 512
channels, kernels (10, 3, 3, 3, 3, 2, 2) and strides (5, 2, 2, 2, 2, 2, 2), no bias, GELU
after each and a GroupNorm after the first, on raw 16 kHz audio (N, 1, L).

Total stride 5 * 2**6 = 320 samples (20 ms at 16 kHz), receptive field 400 samples (25 ms).

stridescope summary examples/wav2vec2_encoder.py:build --input 1x1x16000 --sample-rate 16000

As speech models call it, on a (batch, samples) waveform (``build_waveform``):

stridescope summary examples/wav2vec2_encoder.py:build_waveform --input 1x16000 --sample-rate 16000
"""

from __future__ import annotations

import torch
from torch import nn

KERNELS = (10, 3, 3, 3, 3, 2, 2)
STRIDES = (5, 2, 2, 2, 2, 2, 2)


def build(channels: int = 512) -> nn.Sequential:
    """The feature encoder: 4,200,448 parameters at 512 channels; 1 second of 16 kHz audio
    (16,000 samples) becomes 49 frames of 512 features."""
    layers: list[nn.Module] = []
    in_channels = 1
    for index, (kernel, stride) in enumerate(zip(KERNELS, STRIDES, strict=True)):
        layers.append(nn.Conv1d(in_channels, channels, kernel, stride=stride, bias=False))
        if index == 0:
            layers.append(nn.GroupNorm(channels, channels))  # per-channel norm over time
        layers.append(nn.GELU())
        in_channels = channels
    return nn.Sequential(*layers)  # (N, 512, frames)


class Waveform(nn.Module):
    """The encoder on a ``(batch, samples)`` waveform, given its channel axis first
    (``x[:, None]``), as speech models (wav2vec2, HuBERT, WavLM) take raw audio."""

    def __init__(self, channels: int = 512) -> None:
        super().__init__()
        self.encoder = build(channels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.encoder(waveform[:, None])


def build_waveform(channels: int = 512) -> Waveform:
    """:func:`build`'s encoder taking ``(N, samples)``: the same layers, fields and coverage."""
    return Waveform(channels)
