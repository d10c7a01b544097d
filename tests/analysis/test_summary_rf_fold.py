"""Receptive fields through a fold: a reshape that merges a spatial axis into the channels and
keeps the other whole (a CRNN's ``(N, C, H, W)`` made ``(N, C*H, W)`` for its sequence layers;
speech's subsampling, ``x.transpose(1, 2).reshape(N, T, C*F)``, before its encoder). Until
2026-12-07 such a reshape read as merging every position, so every layer after it said "whole
input" (a 1-D convolution reading 12 of 64 columns). Now the folded axis's field is the union
of its positions' and the kept axis's composes on: each checked against the gradient, exact
on both axes for an output in the middle."""

from __future__ import annotations

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends import load_graph


class _Folded(nn.Module):
    """Convolutions, H folded into the channels (as ``style`` spells it), 1-D convolutions
    along W."""

    def __init__(self, convs: list[nn.Conv2d], style: str, kernels: tuple[int, int], rows: int):
        super().__init__()
        self.convs = nn.Sequential(*convs)
        self.style = style
        channels = convs[-1].out_channels * rows
        self.seq = nn.Sequential(nn.Conv1d(channels, 3, kernels[0]), nn.Conv1d(3, 3, kernels[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        n, c, h, w = y.shape
        if self.style == "flatten":
            y = y.flatten(1, 2)
        elif self.style == "view":
            y = y.view(n, c * h, w)
        else:
            y = y.reshape(n, -1, w)
        return self.seq(y)


def _positive(model: nn.Module) -> nn.Module:
    for p in model.parameters():  # positive weights and inputs: nothing cancels
        nn.init.constant_(p, 0.1)
    return model.eval()


def _reached(model: nn.Module, shape: tuple[int, ...], index: tuple[object, ...]) -> list[range]:
    """Per input axis, the first to the last position the output at ``index`` depends on."""
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[index].sum(), x)
    where = torch.nonzero(grad[0, 0])
    return [range(int(c.min()), int(c.max()) + 1) for c in where.unbind(1)]


def _claimed(start: int, size: int, sides: int) -> range:
    return range(max(start, 0), min(start + size, sides))


@st.composite
def _models(draw: st.DrawFn) -> tuple[_Folded, tuple[int, ...], int]:
    """Convolutions that read every position (no gaps between reads, no border dropped: the
    input's sides are worked out back from the map's), with one to three channels (one: H
    takes the channels' place whole, see ``channel_fold``), then the fold."""
    style = draw(st.sampled_from(["flatten", "view", "reshape"]))
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        s = (draw(st.integers(1, k[0])), draw(st.integers(1, k[1])))
        p = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
        layers.append((k, s, p, draw(st.integers(1, 3))))
    dims = (draw(st.integers(2, 8)), draw(st.integers(4, 12)))
    sides = dims
    for k, s, p, _ in reversed(layers):
        sides = tuple(
            (n - 1) * ss + kk - 2 * q for n, kk, ss, q in zip(sides, k, s, p, strict=True)
        )
    assume(all(n >= 2 for n in sides))
    convs, channels = [], 1
    for k, s, p, out in layers:
        convs.append(nn.Conv2d(channels, out, k, s, p))
        channels = out
    first = draw(st.integers(1, min(3, dims[1])))
    second = draw(st.integers(1, min(3, dims[1] - first + 1)))
    steps = dims[1] - first - second + 2
    return _Folded(convs, style, (first, second), dims[0]), (1, 1, *sides), steps


@settings(max_examples=60, deadline=None)
@given(_models())
def test_a_fold_keeps_the_field_of_the_axis_left(case: tuple[_Folded, tuple[int, ...], int]):
    model, shape, steps = case
    model = _positive(model)
    last = stridescope.summary(model, input_shape=shape).layers[-1]
    field = receptive_fields(load_graph(model, shape))[-1]
    assert last.rf_note == "" and isinstance(field, tuple)
    assert last.rf_size == tuple(r.size for r in field)
    middle = steps // 2
    reached = _reached(model, shape, (0, slice(None), middle))
    first, end = field[1].span(middle)  # the middle output's own field along W
    assert reached[1] == _claimed(first, end - first, shape[3])
    rows = field[0]  # every row of the folded map: the union of their fields
    assert reached[0] == _claimed(rows.start, rows.size, shape[2])


def test_the_crnn_fold_was_the_whole_input_before() -> None:
    convs = [nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 4, 3, stride=(2, 1))]
    model = _positive(_Folded(convs, "flatten", (3, 1), 6))
    last = stridescope.summary(model, input_shape=(1, 1, 28, 32)).layers[-1]
    # H: all 6 rows of the map, 7 + 5 * 4 = 27 pixels; W: 3 columns 2 apart of 7-wide fields
    assert (last.rf_size, last.rf_jump, last.rf_note) == ((27, 11), (4, 2), "")
    reached = _reached(model, (1, 1, 28, 32), (0, slice(None), 6))
    assert [len(r) for r in reached] == [27, 11]


def test_a_fold_after_a_permute_is_still_the_whole_input() -> None:
    """Speech's ``x.transpose(1, 2).reshape(N, T, C*F)``: the graph keeps no place for T
    there (where a permute left guessed axes, as in attention, a fold would be a guess), so
    the field stays the whole input: an upper bound, as before."""

    class Speech(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, stride=2)
            self.out = nn.Linear(4 * 9, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            n, c, t, f = y.shape
            return self.out(y.transpose(1, 2).reshape(n, t, c * f))

    last = stridescope.summary(Speech(), input_shape=(1, 1, 40, 20)).layers[-1]
    assert last.rf_note == "whole input"


def test_past_a_fold_a_field_not_followed_is_the_whole_input_as_before() -> None:
    """A flip along the steps after a fold puts positions out of order, which the field does
    not follow: the layers after it say "whole input", as every layer after a fold did
    before folds were read, not "?"."""

    class Flipped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, stride=2)
            self.seq = nn.Conv1d(2 * 7, 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.seq(self.conv(x).flatten(1, 2).flip(2))

    rows = stridescope.summary(Flipped(), input_shape=(1, 1, 16, 20)).layers
    assert [(r.path, r.rf_size, r.rf_note) for r in rows[1:]] == [
        ("flatten", (15, 3), ""),  # 7 rows 2 apart of 3-row fields; 3 columns
        ("flip", None, "whole input"),
        ("seq", None, "whole input"),
    ]


class _PerFrame(nn.Module):
    """A clip's frames folded into the batch (as ``style`` spells it), 2-D convolutions on
    each, the frames taken back out and averaged (a temporal segment network)."""

    def __init__(self, convs: list[nn.Conv2d], style: str) -> None:
        super().__init__()
        self.convs = nn.Sequential(*convs)
        self.style = style

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if self.style == "transpose":
            return self.convs(x.transpose(1, 2).reshape(n * t, c, h, w))
        return self.convs(x.permute(0, 2, 1, 3, 4).flatten(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.frames(x)
        return y.view(x.shape[0], x.shape[2], *y.shape[1:]).mean(1)


@st.composite
def _clips(draw: st.DrawFn) -> tuple[_PerFrame, tuple[int, ...]]:
    side = draw(st.integers(10, 20))
    shape = (1, 2, draw(st.integers(2, 4)), side, side)  # (a batch of one, as summaries are)
    convs: list[nn.Conv2d] = []
    channels, n = 2, side
    for _ in range(draw(st.integers(1, 2))):
        k = draw(st.integers(1, min(4, n)))
        s, p = draw(st.integers(1, k)), draw(st.integers(0, k - 1))
        convs.append(nn.Conv2d(channels, 3, k, s, p))
        channels, n = 3, (n + 2 * p - k) // s + 1
    return _PerFrame(convs, draw(st.sampled_from(["transpose", "flatten"]))), shape


@settings(max_examples=40, deadline=None)
@given(_clips())
def test_frames_folded_into_the_batch_each_keep_their_own_field(
    case: tuple[_PerFrame, tuple[int, ...]],
) -> None:
    """Each 2-D layer's field covers one frame and its window's rows and columns, as the
    gradient of one output of one frame reaches (until 2026-12-07 `?` from the first conv
    on); the frames taken back out of the batch and mixed are unknown, as before (a field
    of one frame would be too small)."""
    model, shape = case
    model = _positive(model)
    rows = stridescope.summary(model, input_shape=shape).layers
    convs = [r for r in rows if r.kind == "conv"]
    assert all(r.rf_note == "" and r.rf_size is not None for r in convs)
    assert rows[-1].rf_note == "?"
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    y = model.frames(x)  # (T, C, H', W')
    frame, i, j = y.shape[0] - 1, y.shape[2] // 2, y.shape[3] // 2
    (grad,) = torch.autograd.grad(y[frame, :, i, j].sum(), x)
    where = torch.nonzero(grad[0].abs().sum(0))  # (frame, row, column)
    assert set(where[:, 0].tolist()) == {frame}
    graph = load_graph(model, shape)
    node = next(n for n in graph.nodes if n.name == convs[-1].path)
    field = receptive_fields(graph)[node.id]
    assert isinstance(field, tuple) and field[0].size == 1
    for axis, at in ((1, i), (2, j)):
        first, end = field[axis].span(at)
        reached = where[:, axis]
        claimed = _claimed(first, end - first, shape[2 + axis])
        assert range(int(reached.min()), int(reached.max()) + 1) == claimed
