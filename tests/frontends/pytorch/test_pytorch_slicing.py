"""Slicing in the PyTorch tracer (``x[:, :, ::2, ::2]``, crops, ``narrow``, ``chunk``,
``split``) and zero padding of the channel axis: shapes against real torch, the read mask
(coverage) against autograd, the receptive field against its definition, and data movement
(flip, permute, integer indexing) honest about what it cannot say."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import WHOLE, receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind
from tests.frontends.pytorch.applied import Apply

torch.set_num_threads(1)
Fn = Callable[[torch.Tensor], torch.Tensor]


def _grad_reads(fn: Fn, shape: tuple[int, ...]) -> np.ndarray:
    """Input positions (of channel 0) with a non-zero gradient of the summed output."""
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    fn(x).sum().backward()
    assert x.grad is not None
    return (x.grad[0, 0] != 0).numpy()


SLICES: list[tuple[str, Fn]] = [
    ("stride_2", lambda x: x[:, :, ::2, ::2]),
    ("crop", lambda x: x[..., 1:-1, 2:]),
    ("channels", lambda x: x[:, :4]),
    ("offset_stride_3", lambda x: x[:, :, 1::3]),
    ("batch", lambda x: x[0:1]),
    ("last_columns", lambda x: x[:, :, :, -3:]),
    ("ellipsis_step", lambda x: x[..., ::2]),
    ("narrow_h", lambda x: x.narrow(2, 1, 4)),
    ("narrow_negative", lambda x: torch.narrow(x, -1, -4, 3)),
]


@pytest.mark.parametrize(("label", "fn"), SLICES, ids=[c[0] for c in SLICES])
def test_slices_are_exact_windows(label: str, fn: Fn) -> None:
    shape = (2, 6, 9, 8)
    graph = trace_torch(Apply(fn), shape)
    assert graph.output.kind is OpKind.SLICE, label
    assert graph.output.output_shape == tuple(fn(torch.zeros(shape)).shape), label
    assert not graph.uncounted and graph.macs == 0
    reads = coverage_map(graph).counts > 0
    np.testing.assert_array_equal(reads, _grad_reads(fn, shape), err_msg=label)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(-13, 12),
    st.integers(-13, 13) | st.none(),
    st.integers(1, 4),
)
def test_random_spatial_slices_match_torch_and_autograd(
    n: int, start: int, stop: int | None, step: int
) -> None:
    """Any ``x[:, :, start:stop:step]`` with positions left: the shape is torch's, the read
    mask is autograd's, and the receptive field starts where the first kept position is."""
    shape = (1, 1, n, 3)
    kept = range(*slice(start, stop, step).indices(n))
    if not kept:
        return  # an empty slice: left to the meta run (tested below)

    def fn(x: torch.Tensor) -> torch.Tensor:
        return x[:, :, start:stop:step]

    graph = trace_torch(Apply(fn), shape)
    assert graph.output.output_shape == tuple(fn(torch.zeros(shape)).shape)
    cov = coverage_map(graph)
    np.testing.assert_array_equal(cov.counts > 0, _grad_reads(fn, shape))
    field = receptive_fields(graph)[-1]
    assert isinstance(field, tuple)
    assert (field[0].size, field[0].jump, field[0].start) == (1, step, kept[0])


def test_empty_slice_stays_a_shape_from_meta() -> None:
    graph = trace_torch(Apply(lambda x: x[:, :, 5:2]), (1, 2, 8, 8))
    assert graph.output.output_shape == (1, 2, 0, 8)
    assert graph.output.kind is OpKind.MOVE


def test_chunk_and_split_along_channels_keep_positions() -> None:
    def fn(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        c, d = torch.split(a, [1, 2], dim=1)
        return b * d.sum(1, keepdim=True) + c

    shape = (1, 6, 7, 5)
    graph = trace_torch(Apply(fn), shape)
    assert graph.output.output_shape == tuple(fn(torch.zeros(shape)).shape)
    slices = [n for n in graph.nodes if n.kind is OpKind.SLICE]
    assert [n.name for n in slices] == ["chunk", "chunk[1]", "split", "split[1]"]
    assert [n.output_shape[1] for n in slices] == [3, 3, 1, 2]
    fields = receptive_fields(graph)
    assert all(f == fields[0] for f in fields)  # every node still sees one pixel
    assert coverage_map(graph).counts.tolist() == np.ones((7, 5), dtype=int).tolist()


def test_chunk_along_a_spatial_axis_is_two_crops() -> None:
    graph = trace_torch(Apply(lambda x: torch.chunk(x, 2, dim=-2)[1]), (1, 1, 7, 4))
    top, bottom = (n for n in graph.nodes if n.kind is OpKind.SLICE)
    assert top.output_shape == (1, 1, 4, 4) and bottom.output_shape == (1, 1, 3, 4)
    assert coverage_map(graph).counts[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1]


class _OptionA(nn.Module):
    """The CIFAR ResNet "option A" shortcut: subsample by slicing, zero-pad the channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2), "constant", 0)
        return self.conv(x) + shortcut


def test_option_a_shortcut_is_a_stride_two_window_with_channel_padding() -> None:
    net = _OptionA()
    shape = (1, 4, 9, 9)
    graph = trace_torch(net, shape)
    assert graph.output.output_shape == tuple(net(torch.zeros(shape)).shape)
    named = {n.name: n for n in graph.nodes}
    assert named["getitem"].window is not None and named["getitem"].window.stride == (2, 2)
    assert named["pad"].output_shape == (1, 8, 5, 5) and named["pad"].kind is OpKind.PAD
    assert not graph.uncounted
    fields = receptive_fields(graph)
    assert isinstance(fields[-1], tuple) and fields[-1][0].size == 3  # the conv's, not 'whole'
    shortcut = trace_torch(Apply(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))), shape)
    assert coverage_map(shortcut).fraction == 25 / 81  # 5 x 5 of 9 x 9 pixels


def test_data_movement_makes_the_receptive_field_unknown_not_whole() -> None:
    moved = trace_torch(Apply(lambda x: x.flip(-1).permute(0, 1, 3, 2)), (1, 2, 6, 6))
    assert [n.kind for n in moved.nodes[1:]] == [OpKind.MOVE, OpKind.PERMUTE]
    assert receptive_fields(moved)[-1] is None
    picked = trace_torch(Apply(lambda x: x.permute(0, 2, 1, 3).flip(1)), (1, 2, 6, 6))
    assert picked.output.kind is OpKind.MOVE and picked.output.output_shape == (1, 6, 2, 6)
    assert receptive_fields(picked)[-1] is None  # (a flip of axes a permute moved)
    channel = trace_torch(Apply(lambda x: x[:, 0]), (1, 2, 6, 6))  # a slice, the axis dropped
    assert [n.kind for n in channel.nodes[1:]] == [OpKind.SLICE, OpKind.RESHAPE]
    assert channel.output.output_shape == (1, 6, 6) and channel.output.spatial_at == (1, 2)
    pooled = trace_torch(Apply(lambda x: x.mean((2, 3)).unsqueeze(-1)), (1, 2, 6, 6))
    assert receptive_fields(pooled)[-1] == WHOLE  # moving a whole-input field keeps it whole


@pytest.mark.parametrize(
    ("label", "module", "shape"),
    [
        ("glu_channels", nn.GLU(dim=1), (1, 6, 5, 4)),
        ("glu_width", nn.GLU(), (1, 2, 5, 4)),
        ("glu_features", nn.Sequential(nn.Flatten(), nn.GLU()), (1, 2, 3, 2)),
        ("channel_shuffle", nn.ChannelShuffle(2), (1, 4, 5, 3)),
        ("lp_pool", nn.LPPool2d(2, 3, stride=2), (1, 2, 9, 8)),
        ("softmin", nn.Softmin(dim=1), (1, 2, 4, 4)),
        ("shrinks", nn.Sequential(nn.Hardshrink(), nn.Softshrink(), nn.RReLU()), (1, 2, 4, 4)),
    ],
)
def test_more_modules_have_torch_shapes_and_are_counted(
    label: str, module: nn.Module, shape: tuple[int, ...]
) -> None:
    """GLU halves its axis (it once kept the input's shape here); channel shuffle keeps
    positions; an LP pool has its pool's window; the rest are activations. (The summed output
    of a softmax has zero gradient: no read mask from autograd there.)"""
    module.eval()
    graph = trace_torch(module, shape)
    assert graph.output.output_shape == tuple(module(torch.rand(shape)).shape), label
    assert not graph.uncounted, label
    if label in ("glu_channels", "glu_width", "channel_shuffle", "lp_pool"):
        reads = coverage_map(graph).counts > 0
        np.testing.assert_array_equal(reads, _grad_reads(module, shape), err_msg=label)


def test_glu_costs_one_multiply_per_output_element() -> None:
    graph = trace_torch(nn.GLU(dim=1), (2, 6, 5, 4))
    assert graph.macs == 2 * 3 * 5 * 4
    assert [n.kind for n in graph.nodes[1:]] == [
        OpKind.SLICE,
        OpKind.SLICE,
        OpKind.ACTIVATION,
        OpKind.MUL,
    ]


def test_concatenating_along_a_spatial_axis_makes_the_field_unknown() -> None:
    """The second part's positions shift by the first part's width: no single field."""
    side = trace_torch(Apply(lambda x: torch.cat([x, x[..., 1:]], dim=-1)), (1, 2, 6, 6))
    assert side.output.output_shape == (1, 2, 6, 11)
    assert receptive_fields(side)[-1] is None
    channels = trace_torch(Apply(lambda x: torch.cat([x, x[:, :1]], dim=1)), (1, 2, 6, 6))
    assert receptive_fields(channels)[-1] == receptive_fields(channels)[0]
