"""Strided slices of a feature map whose rows and columns a permute moved (channels-last,
``x.permute(0, 2, 3, 1)[:, ::2, ::2]``, as Swin's patch merging writes it) stride the rows and
columns, where the permute put them, not the layout's last two axes (columns and channels):
the window, its read fraction, the coverage and the lint evidence are those of the same slice
on the channels-first map, and the coverage is what autograd says. Axes recorded on a grid
rebuilt from tokens are not followed from the input and stay the layout's guess."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope import api
from stridescope.frontends import load_graph
from stridescope.ir import GraphBuilder, OpKind
from stridescope.ir.axes import followed, slice_axes

PHASES = list(itertools.product((0, 1), repeat=2))


class Merge(nn.Module):
    """A conv, then strided slices of its output channels-last (or channels-first), merged
    along the channels and mixed by a dense layer."""

    def __init__(self, phases: list[tuple[int, int]], last: bool, stride: int = 2) -> None:
        super().__init__()
        self.phases, self.last, self.stride = phases, last, stride
        self.embed = nn.Conv2d(3, 4, 2, 2)
        self.head = nn.Linear(4 * len(phases), 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, s = self.embed(x), self.stride
        if self.last:
            x = x.permute(0, 2, 3, 1)
            pieces = [x[:, r::s, q::s, :] for r, q in self.phases]
            return self.head(torch.cat(pieces, -1))
        pieces = [x[:, :, r::s, q::s] for r, q in self.phases]
        return self.head(torch.cat(pieces, 1).permute(0, 2, 3, 1))


def _autograd_coverage(model: nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(shape, requires_grad=True)
    model(x).square().sum().backward()
    assert x.grad is not None
    return float((x.grad.abs().sum(1) > 0).float().mean())


def _slices(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[object, ...]]:
    graph = load_graph(model, shape)
    return [
        (n.window.stride, n.window.read_fraction(graph.spatial_of(graph.nodes[n.parents[0]])))
        for n in graph.nodes
        if n.kind is OpKind.SLICE and n.window is not None
    ]


@settings(max_examples=25, deadline=None)
@given(
    phases=st.lists(st.sampled_from(PHASES), min_size=1, max_size=4, unique=True),
    stride=st.integers(2, 3),
    cells=st.integers(3, 6),
)
def test_channels_last_slices_read_as_channels_first_ones(
    phases: list[tuple[int, int]], stride: int, cells: int
) -> None:
    size = 2 * stride * cells  # (each piece the same size: they are concatenated)
    shape = (1, 3, size, size)
    last, first = Merge(phases, last=True, stride=stride), Merge(phases, last=False, stride=stride)
    first.load_state_dict(last.state_dict())
    assert _slices(last, shape) == _slices(first, shape)
    assert all(s == (stride, stride) for s, _ in _slices(last, shape))
    covered = api.summary(last, input_shape=shape).input_coverage
    assert covered == pytest.approx(_autograd_coverage(last, shape))
    assert covered == api.summary(first, input_shape=shape).input_coverage


def test_a_skip_on_moved_axes_is_flagged_with_its_strides() -> None:
    model = Merge([(0, 0), (0, 1)], last=True)  # the odd rows are never read
    report = api.lint(model, input_shape=(1, 3, 32, 32))
    skipped = [f for f in report.findings if f.code == "DS101"]
    assert [f.evidence["stride"] for f in skipped] == [[2, 2], [2, 2]]
    assert report.input_coverage == pytest.approx(0.5)
    assert _autograd_coverage(model, (1, 3, 32, 32)) == pytest.approx(0.5)
    every = api.lint(Merge(PHASES, last=True), input_shape=(1, 3, 32, 32))
    assert not {"DS101", "DS301", "DS401"} & {f.code for f in every.findings if f.layer != "embed"}


def test_axes_from_tokens_are_not_followed() -> None:
    b = GraphBuilder((1, 4, 8, 8), "nchw")
    grid = b.permute(b.input, "nhwc", dims=(0, 2, 3, 1))
    flat = b.reshape(b.input, "flat", output_shape=(1, 4, 64))
    tokens = b.permute(flat, "tokens", dims=(0, 2, 1))  # (N, T, C)
    heads = b.permute(
        b.reshape(tokens, "split", output_shape=(1, 64, 2, 2)), "heads", dims=(0, 2, 1, 3)
    )
    nodes = b.build().nodes
    assert followed(nodes[grid], nodes) and slice_axes(nodes[grid], "nchw", nodes) == (1, 2)
    for node, guess in ((tokens, (2,)), (heads, (2, 3))):  # recorded from tokens: the layout's
        assert nodes[node].spatial_at is not None and not followed(nodes[node], nodes)
        assert slice_axes(nodes[node], "nchw", nodes) == guess


def test_keras_slices_of_a_transposed_map_stride_its_rows_and_columns() -> None:
    keras = pytest.importorskip("keras")
    from keras import layers, ops

    x = keras.Input((16, 16, 3))
    y = layers.Conv2D(4, 2, strides=2)(x)
    first = ops.transpose(y, (0, 3, 1, 2))[:, :, ::2, 1::2]  # channels-first, then sliced
    last = y[:, ::2, 1::2, :]  # the same positions, channels-last
    graph = load_graph(keras.Model(x, [layers.Flatten()(first), layers.Flatten()(last)]), None)
    slices = [n for n in graph.nodes if n.kind is OpKind.SLICE]
    assert [n.window.stride for n in slices if n.window] == [(2, 2), (2, 2)]
    assert [n.window.padding for n in slices if n.window] == [((0, 0), (-1, 0))] * 2
    alone = api.summary(keras.Model(x, layers.Flatten()(first))).input_coverage
    assert alone == pytest.approx(0.25)


class GatedBlock(nn.Module):
    """A channels-last gated block (MambaOut's): a dense layer, its features split in three,
    one part through a depthwise conv channels-first, gated by another."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1)
        self.fc = nn.Linear(8, 24)
        self.conv = nn.Conv2d(8, 8, 7, padding=3, groups=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.stem(x).permute(0, 2, 3, 1))
        g, i, c = torch.split(y, [8, 8, 8], dim=-1)
        c = self.conv(c.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return g * torch.cat((i, c), dim=-1)[..., :8]


def test_a_feature_split_of_a_channels_last_map_reads_every_position() -> None:
    rows = {r.path: r for r in api.summary(GatedBlock(), input_shape=(1, 3, 32, 32)).layers}
    pieces = [rows[p] for p in ("split", "split[1]", "split[2]")]
    assert [r.read_fraction for r in pieces] == [1.0, 1.0, 1.0]
    assert [r.rf_size for r in pieces] == [(3, 3)] * 3  # the stem's field, kept
    assert rows["conv"].rf_size == (3 + 6 * 2, 3 + 6 * 2)  # the 7x7 conv on jump 2


def test_axes_are_followed_through_ops_that_keep_them_in_place() -> None:
    b = GraphBuilder((1, 4, 8, 8), "nchw")
    conv = b.conv(b.input, "conv", out_channels=4, kernel=3, padding=1)
    both = b.merge([conv, b.input], "cat", kind=OpKind.CONCAT)  # along the channels
    act = b.pointwise(both, "act", kind=OpKind.ACTIVATION)
    moved = b.permute(act, "nhwc", dims=(0, 2, 3, 1))
    heads = b.reshape(conv, "heads", output_shape=(1, 2, 2, 64))  # positions regrouped
    guess = b.permute(heads, "guess", dims=(0, 3, 1, 2))
    nodes = b.build().nodes
    assert followed(nodes[moved], nodes) and slice_axes(nodes[moved], "nchw", nodes) == (1, 2)
    assert not followed(nodes[guess], nodes)


SWAPPED = {  # (a map of 12 rows and 16 columns, the axes swapped first)
    "rows picked": lambda x: x.transpose(2, 3)[:, :, :, 5:6],
    "a column picked by an integer": lambda x: x.transpose(2, 3)[:, :, 3],
    "a corner, strided": lambda x: x.transpose(2, 3)[:, :, 1:9:3, 2:5],
}


@pytest.mark.parametrize("label", list(SWAPPED))
def test_a_slice_of_swapped_axes_reads_what_autograd_reads(label: str) -> None:
    # the slice's window is kept where the axes are (until 2026-12-06 it was reordered
    # as a layer's window on the layout's axes: 11 of a row's 16 positions read, of 12)
    class Swapped(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return SWAPPED[label](x) * 1.0

    shape = (1, 1, 12, 16)
    got = api.summary(Swapped(), input_shape=shape).input_coverage
    assert got == pytest.approx(_autograd_coverage(Swapped(), shape)), label


@pytest.mark.parametrize("mode", ["constant", "replicate", "circular"])
def test_a_pad_of_a_signal_given_an_axis_of_one_position_is_read(mode: str) -> None:
    # (N, C, L) unsqueezed to (N, C, 1, L), padded on L: until 2026-12-06 the summary
    # failed (a window of two axes read on the one the signal has)
    class Padded(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.unsqueeze(2)
            pad = (2, 3) if mode == "constant" else (2, 3, 0, 0)
            return nn.functional.pad(y, pad, mode=mode)[..., ::4] * 1.0

    shape = (1, 1, 16)
    summary = api.summary(Padded(), input_shape=shape)
    assert summary.input_coverage == pytest.approx(_autograd_coverage(Padded(), shape)), mode
