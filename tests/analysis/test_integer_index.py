"""Indexing a map with integers (``y[:, :, -1]``, ``x.select(2, t)``, ``x.unbind(2)[t]``)
reads one position of each indexed axis: a slice of one position, then a reshape that drops
the axis. Coverage is then what autograd says (a causal TCN read at its last step covers its
receptive field, not the whole signal; a clip read at one frame covers that frame), and an
integer index on the channels keeps the positions known for the layers after it. On tokens
(whose grid axes are a guess) an integer index stays data movement, as before."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope import api
from stridescope.analysis.summary_format import footer_lines
from stridescope.frontends import load_graph
from stridescope.ir import OpKind


def _autograd_coverage(model: nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(shape, requires_grad=True)
    model(x).square().sum().backward()
    assert x.grad is not None
    return float((x.grad.abs().sum(1) > 0).float().mean())


class Causal(nn.Module):
    """Dilated Conv1d layers read at one step, by ``how``."""

    def __init__(self, dilations: list[int], kernel: int, how: str, step: int) -> None:
        super().__init__()
        self.how, self.step = how, step
        self.convs = nn.Sequential(
            *[nn.Conv1d(3, 3, kernel, dilation=d, padding=0) for d in dilations]
        )
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        if self.how == "getitem":
            picked = y[:, :, self.step]
        elif self.how == "select":
            picked = y.select(2, self.step)
        else:
            picked = y.unbind(-1)[self.step]
        return self.head(picked)


@settings(max_examples=40, deadline=None)
@given(
    dilations=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    kernel=st.integers(1, 4),
    how=st.sampled_from(["getitem", "select", "unbind"]),
    length=st.integers(40, 64),
    data=st.data(),
)
def test_a_step_of_a_signal_reads_its_receptive_field(
    dilations: list[int], kernel: int, how: str, length: int, data: st.DataObject
) -> None:
    left = length - sum((kernel - 1) * d for d in dilations)
    step = data.draw(st.integers(-left, left - 1))
    model = Causal(dilations, kernel, how, step)
    shape = (1, 3, length)
    summary = api.summary(model, input_shape=shape)
    assert summary.input_coverage == pytest.approx(_autograd_coverage(model, shape))
    field = 1 + sum((kernel - 1) * d for d in dilations)  # its extent: the taps read less
    assert summary.input_coverage is not None and summary.input_coverage <= field / length


class Frame(nn.Module):
    def __init__(self, frame: int) -> None:
        super().__init__()
        self.frame = frame
        self.conv = nn.Conv3d(3, 4, (3, 3, 3), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[:, :, self.frame]


@pytest.mark.parametrize("frame", [0, 2, -1])
def test_one_frame_of_a_clip_reads_the_frames_under_it(frame: int) -> None:
    shape = (1, 3, 7, 8, 8)
    model = Frame(frame)
    covered = api.summary(model, input_shape=shape).input_coverage
    assert covered == pytest.approx(_autograd_coverage(model, shape))
    assert covered == pytest.approx(3 / 7)


class Channel(nn.Module):
    """One channel of a strided conv's output, back to a map for a second conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2)
        self.b = nn.Conv2d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)[:, 1].unsqueeze(1))


def test_an_integer_index_on_the_channels_keeps_the_positions() -> None:
    rows = {r.path: r for r in api.summary(Channel(), input_shape=(1, 3, 17, 17)).layers}
    assert rows["getitem"].rf_size == (3, 3)
    assert rows["b"].rf_size == (7, 7)  # the second 3x3 conv, on the stride-2 grid
    assert rows["b"].rf_jump == (2, 2)


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return tokens[:, 0] + tokens.select(1, 1) + tokens.unbind(1)[2]


def test_integer_indexes_on_tokens_stay_data_movement() -> None:
    graph = load_graph(Tokens(), (1, 3, 16, 16))
    picks = [n for n in graph.nodes if n.op in ("__getitem__", "select", "unbind")]
    assert {n.op for n in picks} == {"__getitem__", "select", "unbind"}
    assert all(n.kind is OpKind.MOVE for n in picks)
    assert not any(n.name.endswith(".squeeze") for n in graph.nodes)


class Batch(nn.Module):
    """``[0]`` on a batch of one, then a strided slice with it (``y[0, :, ::2]``)."""

    def __init__(self, strided: bool) -> None:
        super().__init__()
        self.strided = strided
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[0, :, ::2] if self.strided else y[0]


def test_dropping_an_axis_of_one_position_stays_one_reshape() -> None:
    graph = load_graph(Batch(strided=False), (1, 3, 8, 8))
    assert [n.kind for n in graph.nodes[1:]] == [OpKind.CONV, OpKind.RESHAPE]
    shape = (1, 3, 8, 8)
    strided = Batch(strided=True)
    kinds = [n.kind for n in load_graph(strided, shape).nodes[1:]]
    assert kinds == [OpKind.CONV, OpKind.SLICE, OpKind.RESHAPE]
    covered = api.summary(strided, input_shape=shape).input_coverage
    assert covered == pytest.approx(_autograd_coverage(strided, shape)) == 0.5


def test_the_tcn_example_reads_its_last_61_samples() -> None:
    """``examples/tcn_forecast.py`` (docs/sequences.md): the forecast from the last step
    reads the last 61 samples, as autograd says, and the footer gives the head that field."""
    spec = importlib.util.spec_from_file_location("tcn_forecast", "examples/tcn_forecast.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = example.build()
    summary = api.summary(model, input_shape=(1, 3, 1000), sample_rate=100)
    assert summary.input_coverage == pytest.approx(61 / 1000)
    assert summary.input_coverage == pytest.approx(_autograd_coverage(model, (1, 3, 1000)))
    footer = " ".join(footer_lines(summary))
    assert "output (head): receptive field 61 samples = 610 ms, jump 1 samples = 10 ms" in footer


def test_a_layer_mixing_one_step_keeps_its_field() -> None:
    """The head on the last step of dilated convs sees that step's field (7 samples), not
    the whole input, and lint's DS501 says the output sees 7 of 40."""
    summary = api.summary(Causal([1, 2], 3, "getitem", -1), input_shape=(1, 3, 40))
    rows = {r.path: r for r in summary.layers}
    assert rows["getitem.squeeze"].rf_size == rows["head"].rf_size == (7,)
    assert "DS501" in dict(summary.lint)


@pytest.mark.parametrize(("side", "field"), [(7, None), (8, (7, 7))])
def test_a_classifier_on_a_one_pixel_map(side: int, field: tuple[int, int] | None) -> None:
    """Two 3x3 convs (the first of stride 2) leave one pixel: on a 7x7 input its field
    covers the input and the classifier sees the whole input; on 8x8 it misses the last
    row and column, and the classifier sees the 7x7 its one pixel sees."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4, 2)
    )
    summary = api.summary(model, input_shape=(1, 3, side, side))
    head = summary.layers[-1]
    assert head.rf_size == field and (field is not None or head.rf_note == "whole input")
    assert summary.input_coverage == pytest.approx(_autograd_coverage(model, (1, 3, side, side)))
