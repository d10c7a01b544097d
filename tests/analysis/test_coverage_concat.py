"""Coverage through a concatenation along a spatial axis: each parent sits at its own offset
on that axis, so output position ``o`` reads the parent's ``o - start``. A circular padding
written as ``torch.cat([x[..., -1:], x, x[..., :1]], -1)``, halves swapped, a tensor tiled
then cropped: the walk read every position of such a concatenation (100% where a stride-2
conv after it reads 25%); it now places each parent, exactly as autograd sees it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_fraction, coverage_map
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_counts, autograd_share

torch.set_num_threads(1)

Piece = tuple[int, int, int]  # (start, stop, step) along the concatenated axis


class Pieces(nn.Module):
    """Slices of the input along ``dim``, concatenated along it in the order given (a piece
    may repeat), then a convolution of ``kernel`` and ``stride`` (positive weights)."""

    def __init__(self, pieces: list[Piece], dim: int, kernel: int = 1, stride: int = 2) -> None:
        super().__init__()
        self.pieces, self.dim = pieces, dim
        self.conv = nn.Conv2d(1, 2, kernel, stride=stride)
        nn.init.constant_(self.conv.weight, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for start, stop, step in self.pieces:
            index = [slice(None)] * 4
            index[self.dim] = slice(start, stop, step)
            parts.append(x[tuple(index)])
        return self.conv(torch.cat(parts, dim=self.dim))


def _exact(model: nn.Module, size: tuple[int, int]) -> None:
    """The fraction and every count of the map equal autograd's."""
    graph = trace_torch(model, (1, 1, *size))
    counts = autograd_counts(model, *size)
    cover = coverage_map(graph)
    np.testing.assert_array_equal(cover.counts, counts)
    assert cover.fraction == pytest.approx(float((counts > 0).mean()))
    assert coverage_fraction(graph) == pytest.approx(float((counts > 0).mean()))
    assert not any("concat" in note for note in cover.notes)


def test_a_circular_padding_by_concatenation_reads_what_its_conv_reads() -> None:
    model = Pieces([(15, 16, 1), (0, 16, 1), (0, 1, 1)], dim=3, kernel=3, stride=2)
    _exact(model, (16, 16))
    assert coverage_fraction(trace_torch(model, (1, 1, 16, 16))) == pytest.approx(15 / 16)


def test_swapped_halves_are_read_where_each_half_lies() -> None:
    model = Pieces([(8, 16, 1), (0, 8, 1)], dim=2)  # a 1x1 stride-2 conv reads 1 in 4
    _exact(model, (16, 16))
    assert coverage_fraction(trace_torch(model, (1, 1, 16, 16))) == pytest.approx(0.25)


class Tiled(nn.Module):
    """The input twice side by side, cropped to its own width from ``start``, subsampled."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[3]
        tiled = torch.cat([x, x], dim=3)[..., self.start : self.start + width]
        return tiled[..., ::2, ::2]


@pytest.mark.parametrize("start", [0, 1, 4, 7])
def test_a_tiled_then_cropped_input_is_read_through_both_copies(start: int) -> None:
    shape = (1, 1, 8, 8)
    truth = autograd_share(Tiled(start), shape)
    assert truth == pytest.approx(0.25)  # (every other column, wherever the crop starts)
    assert coverage_fraction(trace_torch(Tiled(start), shape)) == pytest.approx(truth)


def test_a_concatenation_along_channels_is_unchanged() -> None:
    class Same(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x * 2], dim=1)[..., ::2, ::2]

    graph = trace_torch(Same(), (1, 1, 8, 8))
    assert coverage_fraction(graph) == pytest.approx(0.25)
    assert coverage_map(graph).counts.sum() == 16  # 16 outputs, one position each


_PIECE = st.tuples(st.integers(0, 9), st.integers(1, 10), st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(_PIECE, min_size=1, max_size=4),
    dim=st.sampled_from([2, 3]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
)
def test_concatenated_pieces_match_autograd(
    pieces: list[Piece], dim: int, kernel: int, stride: int
) -> None:
    pieces = [(a, max(b, a + 1), s) for a, b, s in pieces]  # (each piece holds a position)
    size = (10, 10)
    model = Pieces(pieces, dim, kernel, stride)
    total = sum(len(range(*p)) for p in pieces)
    if total < kernel:  # (the conv would refuse a concatenation shorter than its kernel)
        return
    _exact(model, size)


def test_keras_concatenate_along_rows_places_each_part() -> None:
    keras = pytest.importorskip("keras")
    import stridescope

    inputs = keras.Input((16, 16, 2))
    wrapped = keras.layers.Concatenate(axis=1)([inputs[:, -1:], inputs, inputs[:, :1]])
    swapped = keras.layers.Concatenate(axis=2)([inputs[:, :, 8:], inputs[:, :, :8]])
    rows = keras.Model(inputs, keras.layers.Conv2D(2, 3, strides=2)(wrapped))
    halves = keras.Model(inputs, keras.layers.Conv2D(2, 1, strides=2)(swapped))
    assert stridescope.summary(rows).input_coverage == pytest.approx(15 / 16)  # was 1.0
    assert stridescope.summary(halves).input_coverage == pytest.approx(0.25)  # was 1.0
