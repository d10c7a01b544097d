"""Permutes in the PyTorch tracer: a channels-last detour (ConvNeXt's LayerNorm + MLP) keeps
the receptive field and the coverage exact, checked against their definitions and autograd;
a window sliding over moved axes is unknown, never a wrong number."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch import trace_torch
from stridescope.geometry import ReceptiveField
from stridescope.ir import OpKind
from tests.autograd_reference import autograd_counts

torch.set_num_threads(1)


class _Block(nn.Module):
    """ConvNeXt's block: 7x7 depthwise conv, then LayerNorm and an MLP channels-last."""

    def __init__(self, dim: int, stride: int = 1) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, stride=stride, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(y))))
        return y.permute(0, 3, 1, 2)


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 2, stride=2), _Block(4), _Block(4, stride=2))


def test_a_channels_last_detour_keeps_the_field_and_the_coverage_exact() -> None:
    torch.manual_seed(0)
    net = _net().eval()
    graph = trace_torch(net, (1, 1, 22, 18))
    assert graph.output.output_shape == tuple(net(torch.zeros(1, 1, 22, 18)).shape)
    assert not graph.uncounted
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count(OpKind.PERMUTE) == 4 and OpKind.MOVE not in kinds
    # stem k2 s2; 7x7 s1 (jump 2): 2 + 6*2 = 14; 7x7 s2 (jump 2 -> 4): 14 + 6*2 = 26
    fields = receptive_fields(graph)
    expected = ReceptiveField(26, 4, -12)
    assert fields[-1] == (expected, expected)
    cov = coverage_map(graph)
    assert not cov.notes
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, 22, 18))


@pytest.mark.parametrize(
    ("label", "there", "back"),
    [
        ("swap_hw", lambda x: x.transpose(2, 3), lambda x: x.transpose(-1, -2)),
        ("movedim", lambda x: x.movedim(1, -1), lambda x: torch.movedim(x, -1, 1)),
        ("tuple_dims", lambda x: x.permute((0, 3, 2, 1)), lambda x: torch.permute(x, (0, 3, 2, 1))),
    ],
)
def test_permutes_there_and_back_keep_positions(
    label: str,
    there: Callable[[torch.Tensor], torch.Tensor],
    back: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(back(torch.sigmoid(there(x))))

    net = Net()
    graph = trace_torch(net, (1, 1, 10, 8))
    assert graph.output.output_shape == tuple(net(torch.zeros(1, 1, 10, 8)).shape), label
    field = receptive_fields(graph)[-1]
    assert field == (ReceptiveField(3, 2, 0), ReceptiveField(3, 2, 0)), label
    cov = coverage_map(graph)
    assert cov.fraction == 9 * 7 / 80  # 'valid' windows miss the last row and column
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, 10, 8))


def test_a_window_sliding_over_moved_axes_is_unknown() -> None:
    """A conv applied to an NHWC-permuted tensor slides over (W, C): no field, a note."""

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(6, 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x.permute(0, 2, 3, 1))

    graph = trace_torch(Odd(), (1, 3, 6, 5))
    assert graph.output.output_shape == (1, 2, 3, 1)
    assert receptive_fields(graph)[-1] is None
    assert any("permute moved" in note for note in coverage_map(graph).notes)


class _PaddedChannelsLast(nn.Module):
    """A strided conv, its output padded channels-last (as Swin's window attention pads
    ``(N, H, W, C)`` to a multiple of the window), a 1x1 stride-2 conv after it."""

    def __init__(self, pad: tuple[int, ...], mode: str) -> None:
        super().__init__()
        self.conv, self.down = nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 4, 1, stride=2)
        self.pad, self.mode = pad, mode
        for p in self.parameters():  # positive weights: nothing cancels in the gradient
            nn.init.constant_(p, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pad(self.conv(x).permute(0, 2, 3, 1), self.pad, mode=self.mode)
        return self.down(y.permute(0, 3, 1, 2))


@pytest.mark.parametrize(
    ("pad", "mode"),
    [
        ((0, 0, 1, 2, 3, 0), "constant"),
        ((0, 0, 0, 3), "constant"),
        ((0, 0, 0, 0, 0, 0), "constant"),
        ((0, 0, 1, 1, 2, 2), "replicate"),
        ((0, 0, -1, 0, 0, -2), "constant"),
    ],
)
def test_padding_channels_last_pads_the_spatial_axes_where_they_are(
    pad: tuple[int, ...], mode: str
) -> None:
    """The pairs of ``F.pad`` on ``(N, H, W, C)`` are W's and H's (its last pair C's): the
    padding was placed on the layout's axes there (W and C), so coverage, read whole past it,
    said 100% where half the pixels are read, and the field was unknown."""
    model = _PaddedChannelsLast(pad, mode).eval()
    graph = load_graph(model, (1, 1, 21, 17))
    expected = autograd_counts(model, 21, 17) > 0
    assert np.array_equal(coverage_map(graph).counts > 0, expected)
    real = model(torch.rand(1, 1, 21, 17))
    assert graph.output.output_shape == tuple(real.shape)
    assert stridescope.summary(model, input_shape=(1, 1, 21, 17)).layers[-1].rf_size == (3, 3)
