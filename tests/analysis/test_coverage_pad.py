"""Explicit padding (``GraphBuilder.pad``, F.pad, nn.*Pad*d, Keras ZeroPadding2D) is an exact
index shift: the coverage map equals autograd's for every torch padding mode, and the receptive
field composes through it (its start moves by ``-before * jump``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis import coverage_map
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.geometry import GeometryError, ReceptiveField
from stridescope.ir import GraphBuilder, OpKind

torch.set_num_threads(1)


class _PadConv(nn.Module):
    def __init__(self, pad: tuple[int, int, int, int], mode: str, kernel: int, stride: int):
        super().__init__()
        self.pad, self.mode = pad, mode
        self.conv = nn.Conv2d(1, 1, kernel, stride=stride, bias=False)
        nn.init.ones_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad, mode=self.mode))


def _autograd_read(model: nn.Module, h: int, w: int) -> np.ndarray:
    x = (torch.rand(1, 1, h, w) + 0.5).requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None
    return (x.grad[0, 0] != 0).numpy()


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["constant", "reflect", "replicate", "circular"]),
    st.tuples(*[st.integers(0, 3)] * 4),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(4, 9),
    st.integers(4, 9),
)
def test_f_pad_coverage_matches_autograd(
    mode: str, pad: tuple[int, int, int, int], kernel: int, stride: int, h: int, w: int
) -> None:
    model = _PadConv(pad, mode, kernel, stride)
    graph = trace_torch(model, (1, 1, h, w))
    node = graph.nodes[1]
    assert node.kind is OpKind.PAD and node.window is not None
    assert node.window.padding == ((pad[2], pad[3]), (pad[0], pad[1]))
    cov = coverage_map(graph)
    assert not cov.notes  # exact: no "treated as reading every position"
    np.testing.assert_array_equal(cov.counts > 0, _autograd_read(model, h, w))


def test_reflect_padding_can_make_more_pixels_influential() -> None:
    """A 1x1 stride-3 conv after reflect padding reads pixel 1 through the mirrored border;
    after zero padding it does not."""
    read = {}
    for mode in ("constant", "reflect"):
        graph = trace_torch(_PadConv((1, 0, 0, 0), mode, 1, 3), (1, 1, 1, 4))
        read[mode] = coverage_map(graph).counts[0].tolist()
    assert read == {"constant": [0, 0, 1, 0], "reflect": [0, 1, 1, 0]}


def test_pad_modules_are_exact_and_the_receptive_field_shifts() -> None:
    model = nn.Sequential(nn.ReflectionPad2d((2, 0, 1, 0)), nn.Conv2d(3, 4, 3, stride=2))
    graph = trace_torch(model, (1, 3, 9, 9))
    pad = graph.nodes[1]
    assert pad.op == "ReflectionPad2d" and pad.window is not None
    assert pad.window.pad_mode == "reflect" and pad.output_shape == (1, 3, 10, 11)
    assert graph.output.output_shape == (1, 4, 4, 5)
    field = receptive_fields(graph)[-1]
    assert field == (ReceptiveField(3, 2, -1), ReceptiveField(3, 2, -2))
    assert not coverage_map(graph).notes


def test_channel_padding_keeps_positions_batch_padding_only_the_shape() -> None:
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.pad(F.pad(x, (0, 0, 0, 0, 1, 1)), (-1, -1, 0, 0))
            return F.pad(x, (0, 0, 1, 0, 0, 0, 1, 0))

    graph = trace_torch(Odd(), (1, 2, 6, 6))
    shapes = [(1, 4, 6, 6), (1, 4, 6, 4), (2, 4, 7, 4)]
    assert [n.output_shape for n in graph.nodes[1:]] == shapes
    channel, crop, batch = graph.nodes[1:]
    assert channel.kind is OpKind.PAD and channel.window is not None
    assert channel.window.padding == ((0, 0), (0, 0))  # an index identity on positions
    assert crop.kind is OpKind.PAD and crop.window is not None
    assert crop.window.padding == ((0, 0), (-1, -1))
    assert batch.kind is OpKind.PAD and batch.window is None  # the batch axis: shape only
    fields = receptive_fields(graph)
    assert fields[1] == fields[0] and fields[3] is None
    with pytest.raises(GeometryError, match="channel padding"):
        GraphBuilder((1, 2, 6, 6), "nchw").pad(0, "p", padding=[(0, 0)] * 2, channels=(-2, 0))


def test_channel_padding_after_a_channel_shuffle_is_exact() -> None:
    """A channel shuffle's reshape records the spatial axes where the layout has them; the
    channels padded after it are padded as on any feature map (found by the random chains of
    ``test_pytorch_random_coverage``: the pad was read as "not a sliding window")."""

    class ShuffleWiden(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, h, w = x.shape
            x = x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
            return F.pad(x, (0, 0, 0, 0, 1, 1))

    graph = trace_torch(ShuffleWiden(), (1, 4, 7, 7))
    pad = graph.nodes[-1]
    assert pad.kind is OpKind.PAD and pad.output_shape == (1, 6, 7, 7)
    assert pad.window is not None and pad.window.padding == ((0, 0), (0, 0))
    cov = coverage_map(graph)
    assert not cov.notes and cov.fraction == 1.0


def test_builder_pad_checks_its_arguments() -> None:
    b = GraphBuilder((1, 8, 8, 3), "nhwc")
    p = b.pad(b.input, "zp", padding=[(1, 2), (0, 3)])
    assert b.shape(p) == (1, 11, 11, 3)
    with pytest.raises(GeometryError, match="one \\(before, after\\) per spatial axis"):
        b.pad(b.input, "zp", padding=[(1, 1)])
    assert b.shape(b.pad(b.input, "crop", padding=[(-1, 0), (0, 0)])) == (1, 7, 8, 3)
    with pytest.raises(GeometryError, match="leaves no positions"):
        b.pad(b.input, "crop", padding=[(-4, -4), (0, 0)])
    with pytest.raises(GeometryError, match="padding mode must be one of"):
        b.pad(b.input, "crop", padding=[(-1, 1), (1, 1)], mode="mirror")
    with pytest.raises(GeometryError, match="padding mode must be one of"):
        b.pad(b.input, "zp", padding=[(1, 1), (1, 1)], mode="mirror")


def test_keras_zero_padding_is_exact() -> None:
    import keras

    from stridescope.frontends.keras import read_keras

    inputs = keras.Input((7, 7, 3))
    x = keras.layers.ZeroPadding2D(((1, 0), (2, 1)))(inputs)
    x = keras.layers.Conv2D(4, 1, strides=2)(x)
    model = keras.Model(inputs, x)
    graph = read_keras(model, None)
    pad = next(n for n in graph.nodes if n.kind is OpKind.PAD)
    assert pad.window is not None and pad.window.padding == ((1, 0), (2, 1))
    assert graph.output.output_shape[1:] == tuple(model.output.shape[1:])
    cov = coverage_map(graph)
    assert not cov.notes
    # padded rows/cols 0 are read by output 0: input rows 1, 3, 5 and cols 0, 2, 4, 6 are read
    rows, cols = np.nonzero(cov.counts)
    assert sorted(set(rows.tolist())) == [1, 3, 5] and sorted(set(cols.tolist())) == [0, 2, 4, 6]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_mode_is_exact(mode: str) -> None:
    """``nn.Conv2d(padding_mode=...)``: a 1x1 stride-3 conv with padding 1 reads what the
    padding copies."""
    conv = nn.Conv2d(1, 1, 1, stride=3, padding=1, padding_mode=mode, bias=False)
    nn.init.ones_(conv.weight)
    graph = trace_torch(conv, (1, 1, 7, 5))
    window = graph.nodes[1].window
    assert window is not None and window.pad_mode == mode
    cov = coverage_map(graph)
    np.testing.assert_array_equal(cov.counts > 0, _autograd_read(conv, 7, 5))
    if mode != "zeros":
        assert (
            cov.fraction
            > coverage_map(trace_torch(nn.Conv2d(1, 1, 1, 3, 1), (1, 1, 7, 5))).fraction
        )
