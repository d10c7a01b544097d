"""A model that builds its image from a flat input (``x.view(-1, 1, 28, 28)`` on ``(N, 784)``
samples) holds the image's columns inside the reshape's blocks (:mod:`stridescope.ir.splits`),
not on a spatial axis: a convolution that slides along them reads part of each block, and the
coverage, reading every position of a block, is an upper bound. Until the forty-second
session (2026-12-07) the summary said 89% with no note where 80% of the samples are read; it
now notes it, where the model cannot be read on its image instead
(:mod:`stridescope.frontends.input_view`). Windows along a map's rows made of the input's
channels (a spectrogram unsqueezed) and patches merged into the channels stay exact and
unnoted."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import stridescope

torch.set_num_threads(1)


class FlatImage(nn.Module):
    """Flat samples viewed as a one-channel image, then two convolutions (``kernel`` and
    ``stride`` of the first as given, the second 3x3 stride 1). The image's side is read
    from the input's size, so the model cannot be read on the image instead (see
    :mod:`stridescope.frontends.input_view`, which reads ``x.view(-1, 1, 12, 12)`` so)."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, kernel, stride=stride)
        self.c2 = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = math.isqrt(x.shape[-1])
        return self.c2(torch.relu(self.c1(x.view(-1, 1, side, side))))


class Spectrogram(nn.Module):
    """``(N, T, F)`` unsqueezed to one channel, a 3x3 stride-2 conv: its rows are the
    input's channels (``T``), its columns the input's positions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1))


class Patches(nn.Module):
    """A patch embedding by hand: ``(N, C, H, W)`` into 4x4 patches merged into the channels,
    a linear layer per patch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * 16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 1, 3, 5)
        return self.fc(p.reshape(n, h // 4, w // 4, c * 16))


def _autograd(model: nn.Module, shape: tuple[int, ...]) -> float:
    """The share of input positions the output's gradient reaches (positive weights and
    inputs: nothing cancels); the positions are the axes after the first two (after the
    first one for a flat ``(N, L)`` input)."""
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    reached = grad[0].abs() > 0
    reached = reached if len(shape) == 2 else reached.any(0)
    return int(reached.sum()) / reached.numel()


def _notes(s: stridescope.Summary) -> list[str]:
    return [n for n in s.notes if n.startswith("input coverage")]


@pytest.mark.parametrize(
    ("kernel", "stride"), [((5, 5), (2, 2)), ((1, 1), (1, 2)), ((1, 3), (1, 1))]
)
def test_a_conv_sliding_along_a_flat_inputs_columns_is_a_noted_upper_bound(
    kernel: tuple[int, int], stride: tuple[int, int]
) -> None:
    model = FlatImage(kernel, stride)
    s = stridescope.summary(model, input_shape=(1, 144))
    assert s.input_coverage >= _autograd(model, (1, 144))
    assert len(_notes(s)) == 1
    assert "slides along the positions inside view's blocks (axis 3)" in _notes(s)[0]


def test_windows_along_the_blocks_alone_stay_exact_and_unnoted() -> None:
    """A window on the rows only (kernel ``(3, 1)``, stride ``(2, 1)``): the rows are the
    blocks themselves, every column of a block read (the second conv slides along the
    columns, without a stride, and reads every one: noted, as the walk cannot know that)."""
    model = FlatImage((3, 1), (2, 1))
    s = stridescope.summary(model, input_shape=(1, 144))
    assert s.input_coverage == _autograd(model, (1, 144)) == 11 / 12
    assert len(_notes(s)) == 1


def test_rows_made_of_the_inputs_channels_and_patches_in_the_channels_are_not_noted() -> None:
    s = stridescope.summary(Spectrogram(), input_shape=(1, 9, 16))
    assert _notes(s) == []
    assert s.input_coverage == _autograd(Spectrogram(), (1, 9, 16)) == 15 / 16
    s = stridescope.summary(Patches(), input_shape=(1, 2, 16, 16))
    assert _notes(s) == []
    assert s.input_coverage == _autograd(Patches(), (1, 2, 16, 16)) == 1.0
