"""Receptive fields after a squeeze: a reshape that drops spatial axes of one position (a
CRNN's ``(N, C, 1, W)`` map made ``(N, C, W)`` for its sequence layers, by ``squeeze``,
``view`` or ``flatten``; a row or a video frame picked by an integer index). Until 2026-12-06
such a reshape read as merging the positions, so every layer after it said "whole input"
(a 1-D convolution reading 3 columns of 32), a frame picked from a permuted clip made its
convolutions unknown, and frames stacked back into a clip were unknown from there on. Each
field is checked against the gradient's extent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import stridescope
from tests.autograd_reference import centre_extent


class _Rows(nn.Module):
    """A conv to one row (or three, one picked), the row as a sequence, a conv along it."""

    def __init__(self, squeeze: Callable[[torch.Tensor], torch.Tensor], rows: int) -> None:
        super().__init__()
        self.squeeze = squeeze
        self.conv = nn.Conv2d(1, 4, (3, 1), stride=(1, 2))
        self.seq = nn.Conv1d(4, 4, 3)
        self.rows = rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(self.squeeze(self.conv(x)))


class _Frame(nn.Module):
    """A 2-D conv on one frame of a ``(N, C, T, H, W)`` clip, picked as ``pick`` says."""

    def __init__(self, pick: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.pick = pick
        self.conv = nn.Conv2d(1, 2, 3)
        self.after = nn.Conv2d(2, 2, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(torch.relu(self.conv(self.pick(x))))


ROWS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], int, tuple[int, int]]] = {
    "squeeze": (lambda y: y.squeeze(2), 3, (3, 5)),
    "view": (lambda y: y.view(y.shape[0], y.shape[1], y.shape[3]), 3, (3, 5)),
    "flatten": (lambda y: y.flatten(2), 3, (3, 5)),
    "a row picked of three": (lambda y: y[:, :, 1], 5, (3, 5)),
}
FRAMES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x[:, :, t]": lambda x: x[:, :, 2],
    "select": lambda x: x.select(2, 1),
    "time first, then frames[t]": lambda x: x.permute(2, 0, 1, 3, 4)[3],
    "unbind": lambda x: x.unbind(2)[0],
}


def _positive(model: nn.Module) -> nn.Module:
    for p in model.parameters():  # positive weights: nothing cancels in the gradient
        nn.init.constant_(p, 0.1)
    return model.eval()


@pytest.mark.parametrize("label", list(ROWS))
def test_a_sequence_layer_after_a_squeeze_reads_its_own_field(label: str) -> None:
    squeeze, rows, field = ROWS[label]
    model = _positive(_Rows(squeeze, rows))
    shape = (1, 1, rows, 32)
    last = stridescope.summary(model, input_shape=shape).layers[-1]
    # 3 rows (all of them, or the picked row's 3 of 5); 3 columns 2 apart: 1 + 2 * 2
    assert (last.rf_size, last.rf_jump, last.rf_note) == (field, (1, 2), ""), label
    assert centre_extent(model, shape) == field


@pytest.mark.parametrize("label", list(FRAMES))
def test_a_frame_picked_from_a_clip_keeps_the_frame_axis_field(label: str) -> None:
    model = _positive(_Frame(FRAMES[label]))
    shape = (1, 1, 4, 16, 16)
    summary = stridescope.summary(model, input_shape=shape)
    last = summary.layers[-1]
    assert (last.rf_size, last.rf_jump, last.rf_note) == ((1, 5, 5), (1, 2, 2), ""), label
    x = torch.rand(shape) + 0.5
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, :, 3, 3].sum(), x)
    where = torch.nonzero(grad[0, 0])
    assert tuple(int(c.max() - c.min()) + 1 for c in where.unbind(1)) == (1, 5, 5)


class _Stacked(nn.Module):
    """Each frame of a clip through a 2-D conv, stacked back (in order, or reversed), then a
    3-D conv over frames, rows and columns."""

    def __init__(self, order: Callable[[list[int]], list[int]], time_first: bool) -> None:
        super().__init__()
        self.order, self.time_first = order, time_first
        self.conv = nn.Conv2d(1, 2, 3, stride=2)
        self.clip = nn.Conv3d(2, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.order(list(range(x.shape[2])))
        if self.time_first:  # (Keras's TimeDistributed: frames first, stacked first)
            frames = x.permute(2, 0, 1, 3, 4)
            y = torch.stack([self.conv(frames[t]) for t in steps]).permute(1, 2, 0, 3, 4)
        else:
            y = torch.stack([self.conv(x[:, :, t]) for t in steps], 2)
        return self.clip(y)


@pytest.mark.parametrize("time_first", [False, True])
def test_frames_stacked_back_in_order_are_a_clip_again(time_first: bool) -> None:
    model = _positive(_Stacked(lambda steps: steps, time_first))
    shape = (1, 1, 5, 16, 16)
    summary = stridescope.summary(model, input_shape=shape)
    rows = summary.layers
    assert [r.rf_size for r in rows if r.path.startswith("conv")] == [(1, 3, 3)] * 5
    # 3 frames; 3 + 2 * 2 rows and columns, 2 apart
    assert (rows[-1].rf_size, rows[-1].rf_jump, rows[-1].rf_note) == ((3, 7, 7), (1, 2, 2), "")
    assert centre_extent(model, shape) == (3, 7, 7)
    x = torch.rand(shape) + 0.5
    x.requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None
    read = float((x.grad[0, 0] != 0).float().mean())  # every frame, 15 of 16 rows, columns
    assert summary.input_coverage == pytest.approx(read) == pytest.approx((15 / 16) ** 2)


def test_frames_stacked_back_out_of_order_are_not_a_clip() -> None:
    # each position of the stack reads its own frame, reversed: no field per frame axis
    # (nor the union of every frame's field); each frame's conv keeps its own
    rows = stridescope.summary(
        _Stacked(lambda steps: steps[::-1], False), input_shape=(1, 1, 3, 12, 12)
    ).layers
    assert [r.rf_size for r in rows if r.path.startswith("conv")] == [(1, 3, 3)] * 3
    stack = next(r for r in rows if r.kind == "concat")
    assert (stack.rf_size, stack.rf_note) == (None, "?")


def test_a_squeeze_of_one_of_two_axes_of_one_position_is_not_guessed() -> None:
    # (1, 4, 1, 1) to (1, 4, 1): which axis went is not known from the shapes; the map has
    # one position, which sees the whole 3x3 input, and so does every layer after it
    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, stride=2)
            self.seq = nn.Conv1d(4, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.seq(self.conv(x).squeeze(3))

    rows = stridescope.summary(Pooled(), input_shape=(1, 1, 3, 3)).layers
    assert [(r.rf_size, r.rf_note) for r in rows] == [((3, 3), "")] + [(None, "whole input")] * 2


class _Projected(nn.Module):
    """A conv to one column, squeezed, a dense layer on each step's channels, then a conv
    along the steps (a CRNN's projection before its sequence layers)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, (3, 8), stride=(2, 1))
        self.dense = nn.Linear(4, 4)
        self.seq = nn.Conv1d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.conv(x).squeeze(3).transpose(1, 2)  # (N, T, C)
        return self.seq(self.dense(steps).transpose(1, 2))


def test_a_dense_layer_on_the_channels_after_a_squeeze_keeps_the_field() -> None:
    """Until 2026-12-07 the dense layer lost which input axes the steps were, and the conv
    after it was unknown."""
    model = _positive(_Projected())
    last = stridescope.summary(model, input_shape=(1, 1, 20, 8)).layers[-1]
    # rows: 3 steps 2 apart of 3-row fields, 3 + 2 * 2; columns: all 8, dropped by the squeeze
    assert (last.rf_size, last.rf_jump, last.rf_note) == ((7, 8), (2, 1), "")
    x = (torch.rand(1, 1, 20, 8) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, :, 3].sum(), x)
    rows, columns = torch.nonzero(grad[0, 0]).unbind(1)
    assert (int(rows.max() - rows.min()) + 1, int(columns.max() - columns.min()) + 1) == (7, 8)


class _FramePooled(nn.Module):
    """One frame of a clip, a strided conv on it, a global pool (as ``how`` spells it), a
    classifier: a middle-frame baseline of a video model."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x[:, :, 2])
        y = self.pool(y).flatten(1) if self.how == "pool" else y.mean((2, 3))
        return self.fc(y)


@pytest.mark.parametrize("how", ["pool", "mean"])
def test_a_global_pool_after_a_frame_keeps_the_frame_axis_field(how: str) -> None:
    """The pool mixes every row and column of the frame, not the other frames: until
    2026-12-07 it said "whole input" (of five frames, one is read)."""
    model = _positive(_FramePooled(how))
    shape = (1, 3, 5, 16, 16)
    last = stridescope.summary(model, input_shape=shape).layers[-1]
    # one frame; 7 outputs 2 apart of a 3-wide window: 3 + 6 * 2 = 15 rows and columns
    assert (last.rf_size, last.rf_jump, last.rf_note) == ((1, 15, 15), (1, 2, 2), "")
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    where = torch.nonzero(grad[0].abs().sum(0))
    assert [int(c.max() - c.min()) + 1 for c in where.unbind(1)] == [1, 15, 15]
