"""Coverage of models that read a volume (or an image) as frames: a frame selected along a
spatial axis, its axis of size 1 squeezed away, layers of a lower rank on each frame, the
frames stacked again (a loop over a video's frames, Keras's ``TimeDistributed``). The walk
used to start at the last node with the input's rank, one frame's slice, and counted that
frame alone (1/6 of a 6-frame video); it now counts what reaches the output past it too:
exactly where only axes of size 1 come and go between, else read whole (never less than
autograd)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_fraction, coverage_map
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_share

torch.set_num_threads(1)


class Frames(nn.Module):
    """A 2-D conv on every ``step``-th frame from ``first`` of a ``(N, C, T, H, W)`` video,
    taken by ``take`` (an index, ``select`` or ``unbind``), then stacked on ``dim``."""

    def __init__(
        self, take: str, kernel: int = 3, stride: int = 2, padding: int = 0, first: int = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding)
        self.take, self.first, self.step = take, first, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = range(self.first, x.shape[2], self.step)
        if self.take == "unbind":
            pieces = x.unbind(2)
            return torch.stack([self.conv(pieces[t]) for t in frames], 2)
        if self.take == "select":
            return torch.stack([self.conv(x.select(2, t)) for t in frames], 1)
        return torch.stack([self.conv(x[:, :, t]) for t in frames], 2)


@pytest.mark.parametrize("take", ["index", "select", "unbind"])
def test_a_loop_over_frames_covers_every_frame_it_reads(take: str) -> None:
    model, shape = Frames(take).eval(), (1, 2, 5, 12, 12)
    graph = trace_torch(model, shape)
    truth = autograd_share(model, shape)
    assert truth == pytest.approx((11 / 12) ** 2)  # every frame, 11 of 12 rows and columns
    assert coverage_fraction(graph) == pytest.approx(truth)  # was one frame's: 1/5
    cover = coverage_map(graph)
    assert cover.fraction == pytest.approx(truth)  # the map's own fraction, exact too
    assert cover.counts.sum() > 0 and cover.notes  # its counts: an upper bound, said so


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 6),
    first=st.integers(0, 3),
    step=st.integers(1, 3),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 1),
    take=st.sampled_from(["index", "select", "unbind"]),
)
def test_frame_loops_match_autograd(
    frames: int, first: int, step: int, kernel: int, stride: int, padding: int, take: str
) -> None:
    first = min(first, frames - 1)
    model = Frames(take, kernel, stride, padding, first).eval()
    model.step = step
    shape = (1, 2, frames, 9, 8)
    assert coverage_fraction(trace_torch(model, shape)) == pytest.approx(
        autograd_share(model, shape)
    )


class Moved(nn.Module):
    """The frames moved to the batch's place and indexed there (``y[t]``), as Keras's
    ``TimeDistributed`` does; ``fold``: into the batch instead (``reshape(n * t, ...)``)."""

    def __init__(self, fold: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, stride=2)
        self.fold = fold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(2, 0, 1, 3, 4)
        if self.fold:  # (a batch of frames: the frames at the batch's place, a batch of 1)
            return self.conv(y.reshape(-1, *y.shape[2:]))
        return torch.stack([self.conv(y[t]) for t in range(y.shape[0])], 0)


def test_frames_indexed_at_the_batch_s_place_are_read_exactly() -> None:
    """The conv takes its parent's frame axis of size 1, at the batch's place, as the batch:
    its own window on the rest (``coverage_ranks.dropped_axes``)."""
    model, shape = Moved(fold=False).eval(), (1, 2, 4, 12, 12)
    graph = trace_torch(model, shape)
    assert coverage_fraction(graph) == pytest.approx(autograd_share(model, shape))  # was 1/4
    cover = coverage_map(graph)
    assert cover.fraction == pytest.approx((11 / 12) ** 2)
    assert any("upper bound" in note for note in cover.notes)  # its counts: said so


class Folded(nn.Module):
    """A video's frames folded into the batch, ``(b, c, t, h, w)`` to ``(b * t, c, h, w)``,
    a 2-D conv on each, the frames unfolded again and then ``then``: averaged (``mean``), kept
    folded (``flat``) or one of them taken (``pick``)."""

    def __init__(self, then: str, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel, stride=stride)
        self.then = then

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.conv(x.transpose(1, 2).reshape(b * t, c, h, w))
        if self.then == "flat":
            return y
        y = y.reshape(b, t, *y.shape[1:])
        return y.mean(1) if self.then == "mean" else y[:, 0]


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    frames=st.integers(1, 5),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    then=st.sampled_from(["mean", "flat"]),
)
def test_frames_folded_into_the_batch_are_read_frame_by_frame(
    batch: int, frames: int, kernel: int, stride: int, then: str
) -> None:
    """The layers after a fold take each frame as a batch element (``coverage_ranks``:
    ``folded_axes`` for a reshape that merges the frames with the batch, ``dropped_axes`` for
    a layer given the frames at the batch's place, where the batch is 1): every frame is read
    with the 2-D layers' windows. They were read whole (100% where a 3x3 stride-2 conv on each
    12x12 frame reads 84%)."""
    model, shape = Folded(then, kernel, stride).eval(), (batch, 2, frames, 10, 9)
    truth = autograd_share(model, shape)
    assert coverage_fraction(trace_torch(model, shape)) == pytest.approx(truth)


def test_frames_folded_into_the_batch_are_never_undercounted() -> None:
    """Which frames the output keeps is not followed through the batch: a frame picked after
    the fold counts every frame as read (an upper bound, where it was 100%)."""
    model, shape = Moved(fold=True).eval(), (1, 2, 4, 12, 12)
    assert coverage_fraction(trace_torch(model, shape)) == pytest.approx((11 / 12) ** 2)
    assert autograd_share(model, shape) == pytest.approx((11 / 12) ** 2)  # (was 100%)
    picked, shape = Folded("pick", 1, 2).eval(), (1, 2, 5, 12, 12)
    assert coverage_fraction(trace_torch(picked, shape)) == pytest.approx(0.25)
    assert autograd_share(picked, shape) == pytest.approx(0.05)  # one frame of five


def test_keras_time_distributed_reads_every_frame() -> None:
    keras = pytest.importorskip("keras")
    import stridescope

    inputs = keras.Input((4, 12, 12, 2))
    conv = keras.layers.Conv2D(3, 3, strides=2)
    model = keras.Model(inputs, keras.layers.TimeDistributed(conv)(inputs))
    coverage = stridescope.summary(model).input_coverage
    assert coverage == pytest.approx((11 / 12) ** 2)  # was 1/4: one frame


class FirstRow(nn.Module):
    """Rows of a map padded on top, unbound, the first one alone used: the other pieces are
    made but not needed (the walk used to start at the last of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.conv(nn.functional.pad(x, (1, 1, 2, 0))).unbind(2)
        return rows[0].sum(1)


def test_the_walk_starts_at_a_map_the_output_needs() -> None:
    model, shape = FirstRow().eval(), (1, 2, 10, 8)
    graph = trace_torch(model, shape)
    assert autograd_share(model, shape) == pytest.approx(
        1 / 10
    )  # row 0 alone (the rest is padding)
    assert coverage_fraction(graph) == pytest.approx(1 / 10)  # was 3/10: the last row's
    assert coverage_map(graph).fraction == pytest.approx(1 / 10)
