"""Receptive fields that were unknown (``?``) where the positions are known, each against the
gradient's extent: adaptive pooling by a whole factor (torchvision VGG's ``AdaptiveAvgPool2d(7)``
on 7x7), an op on tensors that already see the whole input, branches stacked and summed over
the new axis (SKNet), a sum over a split of the channels (ResNeSt), a channel sum that drops
the axis, a concatenation of channels-last tensors and a recurrent layer run along one axis
of a batch-1 channels-last map folded to ``(H, W, C)`` (Sequencer2D). Coverage is checked
against autograd on the same models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import stridescope
from tests.autograd_reference import autograd_counts, centre_extent


def _positive(model: nn.Module) -> nn.Module:
    for p in model.parameters():  # positive weights: nothing cancels in the gradient
        nn.init.constant_(p, 0.1)
    return model.eval()


class _Adaptive(nn.Module):
    def __init__(self, size: int | tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(size)
        self.after = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.pool(self.conv(x)))


class _Branches(nn.Module):
    """SKNet's shape: two branches stacked along a new axis and summed over it, with or
    without a gate made from their global mean."""

    def __init__(self, gated: bool) -> None:
        super().__init__()
        self.gated = gated
        self.small = nn.Conv2d(1, 4, 3, padding=1)
        self.large = nn.Conv2d(1, 4, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = torch.stack([self.small(x), self.large(x)], dim=1)  # (N, 2, C, H, W)
        if self.gated:
            weights = both.sum(1).mean((2, 3), keepdim=True).sigmoid()
            both = both * weights.unsqueeze(1)
        return both.sum(1)


class _Radix(nn.Module):
    """ResNeSt's shape: the channels split in two with a reshape, then summed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.after = nn.Conv2d(4, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n, c, h, w = y.shape
        return self.after(y.reshape(n, 2, c // 2, h, w).sum(1))


class _ChannelSum(nn.Module):
    """A sum over the channels that drops the axis, then a conv on it put back."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.after = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.conv(x).sum(1).unsqueeze(1))


class _Folded(nn.Module):
    """Sequencer2D's shape: a channels-last map, one branch mixing along W by a
    bidirectional LSTM over the batch-1 map folded to (H, W, C), one by a dense layer,
    concatenated on the channels and put back channels-first."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.rnn = nn.LSTM(4, 2, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x).permute(0, 2, 3, 1)  # (1, H, W, C)
        n, h, w, c = y.shape
        along_w, _ = self.rnn(y.reshape(n * h, w, c))
        both = torch.cat([along_w.reshape(n, h, w, -1), self.dense(y)], dim=-1)
        return both.permute(0, 3, 1, 2)


_CASES: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], tuple[int, ...] | None]] = [
    ("identity adaptive pool", lambda: _Adaptive(7), (1, 1, 15, 15), (7, 7)),
    ("adaptive pool by 2", lambda: _Adaptive((4, 8)), (1, 1, 17, 17), (13, 7)),
    ("stacked branches", lambda: _Branches(gated=False), (1, 1, 16, 16), (5, 5)),
    ("gated branches", lambda: _Branches(gated=True), (1, 1, 16, 16), None),
    ("radix sum", _Radix, (1, 1, 16, 16), (5, 5)),
    ("channel sum", _ChannelSum, (1, 1, 16, 16), (5, 5)),
    ("folded recurrent", _Folded, (1, 1, 8, 8), (3, 17)),
]


@pytest.mark.parametrize(("label", "build", "shape", "field"), _CASES, ids=[c[0] for c in _CASES])
def test_the_field_is_the_gradients_and_the_coverage_autograds(
    label: str,
    build: Callable[[], nn.Module],
    shape: tuple[int, ...],
    field: tuple[int, ...] | None,
) -> None:
    model = _positive(build())
    summary = stridescope.summary(model, input_shape=shape)
    counts = autograd_counts(model, *shape[2:])
    assert summary.input_coverage == pytest.approx(np.mean(counts > 0)), label
    last = summary.layers[-1]
    if field is None:  # a gate from the global mean: every position
        assert last.rf_note == "whole input", label
        assert centre_extent(model, shape) == shape[2:]
        return
    assert last.rf_size == field, label
    clipped = tuple(min(f, n) for f, n in zip(field, shape[2:], strict=True))
    assert centre_extent(model, shape) == clipped


def test_an_adaptive_pool_by_no_whole_factor_has_a_fractional_jump() -> None:
    # 15 -> 7 (the conv) -> 5: windows of 2 and 3 positions, 7/5 positions apart (each 2
    # pixels): the last conv's outputs see up to 11 pixels, on average 14/5 pixels apart
    last = stridescope.summary(_positive(_Adaptive(5)), input_shape=(1, 1, 15, 15)).layers[-1]
    assert last.rf_note == "" and last.rf_jump == (2.8, 2.8) and last.rf_size == (11, 11)


def test_a_mean_over_a_channels_last_maps_positions_sees_everything() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3))

    class Head(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return model(x).permute(0, 2, 3, 1).mean((1, 2))

    rows = stridescope.summary(Head(), input_shape=(1, 1, 8, 8)).layers
    assert rows[-1].output_shape == (1, 4) and rows[-1].rf_note == "whole input"


def test_keras_stacked_branches_and_adaptive_pooling_keep_the_field() -> None:
    keras = pytest.importorskip("keras")
    from keras import layers, ops

    x = keras.Input((16, 16, 1))
    both = ops.stack(
        [layers.Conv2D(4, 3, padding="same")(x), layers.Conv2D(4, 5, padding="same")(x)], axis=-1
    )
    branches = keras.Model(x, both)  # (N, H, W, C, 2): the union of the branches' fields
    rows = stridescope.summary(branches).layers
    assert rows[-1].kind == "concat" and rows[-1].rf_size == (5, 5)
    assert stridescope.summary(branches).totals.params == branches.count_params()
    small, large = layers.Conv2D(4, 3, padding="same")(x), layers.Conv2D(4, 5, padding="same")(x)
    # (max, not sum: Keras numbers the ops it names per process, and a later test names one)
    y = layers.Conv2D(2, 3)(ops.max(ops.stack([small, large], axis=1), axis=1))
    rows = stridescope.summary(keras.Model(x, y)).layers
    assert [r.kind for r in rows[-3:]] == ["concat", "reduce", "conv"], rows
    assert rows[-1].rf_size == (7, 7)  # SKNet's shape: as the torch twin's
    torch_twin = nn.Sequential(_Branches(gated=False), nn.Conv2d(4, 2, 3))
    assert stridescope.summary(torch_twin, input_shape=(1, 1, 16, 16)).layers[-1].rf_size == (7, 7)
    x = keras.Input((17, 17, 1))
    y = layers.Conv2D(2, 3, strides=2)(x)
    y = layers.Conv2D(2, 3, padding="same")(layers.AdaptiveAveragePooling2D((4, 8))(y))
    pooled = stridescope.summary(keras.Model(x, y)).layers
    assert pooled[1].kind == "adaptive_avgpool" and pooled[-1].rf_size == (13, 7)


def test_a_merge_of_maps_on_different_grids_has_no_one_field() -> None:
    # a 3-tap stride-3 conv and a 4-wide pool, padded to one size and added: output i
    # reads [3i, 3i + 3) and [4i, 4i + 4), i + 4 samples; until 2026-12-06 the field said
    # 4 samples, 4 apart (less than the gradient's 5 at the centre)
    class Misaligned(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.pool = nn.Conv1d(1, 1, 3, stride=3), nn.AvgPool1d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) + nn.functional.pad(self.pool(x), (0, 1))

    model = _positive(Misaligned())
    summary = stridescope.summary(model, input_shape=(1, 1, 11))
    last = summary.layers[-1]
    assert (last.kind, last.rf_size, last.rf_note) == ("add", None, "?")
    assert any("different grids (their jumps: 3 and 4)" in n for n in summary.notes)
    assert centre_extent(model, (1, 1, 11)) == (5,)
