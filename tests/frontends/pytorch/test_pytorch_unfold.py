"""``F.unfold`` / ``nn.Unfold`` and ``x.unfold(dim, size, step)``: their windows are a patches
node, so coverage knows the positions a step larger than the window skips (it read them all
before) and lint reports them; shapes are torch's for every argument form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_share


def _true_coverage(model: nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(shape, requires_grad=True)
    model(x).abs().sum().backward()
    assert x.grad is not None
    return float((x.grad != 0).float().mean())


class Frames(nn.Module):
    """Frames of ``size`` samples every ``step`` (an audio front end), then a projection."""

    def __init__(self, size: int, step: int) -> None:
        super().__init__()
        self.size, self.step = size, step
        self.proj = nn.Linear(size, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.unfold(-1, self.size, self.step))


class Patches(nn.Module):
    def __init__(self, **options: int) -> None:
        super().__init__()
        self.options = options

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.unfold(x, **self.options)


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (Frames(32, 64), (1, 1, 1600)),  # half the samples never read
        (Frames(32, 16), (1, 1, 1600)),  # overlapping: all read but the tail
        (Patches(kernel_size=2, stride=4), (1, 3, 32, 32)),  # a quarter of the pixels
        (Patches(kernel_size=3, padding=1, stride=2), (1, 3, 16, 16)),
        (nn.Unfold(kernel_size=(2, 3), dilation=(1, 2), stride=(3, 2)), (1, 2, 17, 19)),
    ],
)
def test_coverage_of_unfolded_windows_is_the_gradients(
    model: nn.Module, shape: tuple[int, ...]
) -> None:
    summary = stridescope.summary(model, shape)
    assert summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == tuple(model(torch.randn(shape)).shape)
    assert summary.input_coverage == pytest.approx(_true_coverage(model, shape))


def test_a_skipping_unfold_is_found_by_lint() -> None:
    codes = {
        f.code for f in stridescope.lint(Patches(kernel_size=2, stride=4), (1, 3, 32, 32)).findings
    }
    assert {"DS101", "DS202"} <= codes


class ChannelFrames(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unfold(1, 2, 2)  # along channels: no spatial window, data movement


def test_unfold_along_channels_stays_data_movement() -> None:
    graph = trace_torch(ChannelFrames(), (1, 4, 6, 6))
    assert graph.output.output_shape == (1, 2, 6, 6, 2) and not graph.uncounted


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(8, 20),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 5),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 1),
)
def test_unfold_shapes_match_torch(
    size: int, kernel: int, stride: int, dilation: int, padding: int
) -> None:
    options = {"kernel_size": kernel, "stride": stride, "dilation": dilation, "padding": padding}
    model, shape = Patches(**options), (1, 2, size, size + 1)
    graph = trace_torch(model, shape)
    assert graph.output.output_shape == tuple(model(torch.zeros(shape)).shape)
    frames = Frames(kernel, stride)
    signal = (1, 1, size * 3)
    assert trace_torch(frames, signal).output.output_shape == tuple(
        frames(torch.zeros(signal)).shape
    )


@pytest.mark.parametrize(("size", "step", "length"), [(32, 16, 400), (8, 4, 64), (5, 7, 60)])
def test_each_frame_sees_its_window(size: int, step: int, length: int) -> None:
    """``x.unfold(-1, size, step)`` keeps its frames where the positions were: the layer on
    each frame's samples sees that frame's window (``size`` samples, ``step`` apart), as the
    gradient of one frame says; it was unknown (``?``) from the unfold on."""
    model = Frames(size, step)
    row = stridescope.summary(model, (1, 1, length)).layers[-1]
    x = torch.rand(1, 1, length, requires_grad=True)
    out = model(x)
    starts = []
    for frame in (1, 2):
        (grad,) = torch.autograd.grad(out[0, 0, frame].sum(), x, retain_graph=True)
        read = torch.nonzero(grad[0, 0]).flatten()
        assert row.rf_size == (int(read.max() - read.min()) + 1,) == (size,)
        starts.append(int(read.min()))
    assert row.rf_jump == (starts[1] - starts[0],) == (step,)


class PatchTokens(nn.Module):
    """Patches as tokens, written with ``F.unfold`` instead of a strided conv."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3 * 16, 8)
        self.conv = nn.Conv2d(3, 8, 4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.embed(F.unfold(x, 4, stride=4).transpose(1, 2))
        return tokens, self.conv(x).flatten(2).transpose(1, 2)


def test_unfolded_patches_as_tokens_read_as_a_flattened_map() -> None:
    """``F.unfold``'s positions flattened into one axis read as ``x.flatten(2)`` of a map
    does (every position mixed: the whole input), not as unknown."""
    summary = stridescope.summary(PatchTokens(), (1, 3, 16, 16))
    notes = {r.path: r.rf_note for r in summary.layers}
    assert notes["unfold"] == ""  # the patches: a 4x4 window
    assert notes["unfold.windows"] == notes["flatten"] == "whole input"
    assert notes["embed"] == notes["transpose_1"] == "whole input"
    assert summary.input_coverage == 1.0


class Tiles(nn.Module):
    """``x.unfold`` along one spatial axis, then along the other (``first`` the one taken
    first), then a projection of each tile's values (a patch embedding written with two
    unfolds, as local-attention code writes it)."""

    def __init__(self, first: int, sizes: tuple[int, int], steps: tuple[int, int]) -> None:
        super().__init__()
        self.first, self.sizes, self.steps = first, sizes, steps
        self.proj = nn.Linear(sizes[0] * sizes[1], 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis in (self.first, 5 - self.first):  # (2 then 3, or 3 then 2)
            x = x.unfold(axis, self.sizes[axis - 2], self.steps[axis - 2])
        return self.proj(x.flatten(-2))


@settings(max_examples=40, deadline=None)
@given(
    first=st.sampled_from([2, 3]),
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    steps=st.tuples(st.integers(1, 4), st.integers(1, 4)),
)
def test_a_second_unfold_reads_its_window_on_the_axes_where_the_positions_are(
    first: int, sizes: tuple[int, int], steps: tuple[int, int]
) -> None:
    """The second ``x.unfold`` took the first's appended window axis for a spatial one: its
    window did not match the positions' axes, so coverage read that axis whole (50% where a
    tile of 2 every 4 pixels reads 25%). It is read on the axes where the positions are."""
    model, shape = Tiles(first, sizes, steps), (1, 1, 11, 10)
    summary = stridescope.summary(model, shape)
    assert summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == tuple(model(torch.rand(shape)).shape)
    assert summary.input_coverage == pytest.approx(autograd_share(model, shape))
    last = summary.layers[-1]
    assert (last.rf_size, last.rf_jump) == (sizes, steps)  # each tile's own window
