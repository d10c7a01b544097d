"""Spatial axes through a change of rank: a rank-2 input ``(batch, samples)`` is a signal
along its last axis (a waveform made ``(N, 1, L)`` for a ``Conv1d``, as speech models take
it), and a signal unsqueezed to ``(N, C, 1, L)`` for a ``Conv2d`` with ``(1, k)`` kernels
keeps its axis: the receptive field and the input coverage are known through both and equal
what autograd reads. Every spelling that only adds or drops axes of size 1 (``unsqueeze``,
``squeeze``, ``x[:, None]``, ``view``) is a reshape that keeps the axis where it goes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.summary_format import footer_lines
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Window
from stridescope.ir.axes import axes_window
from tests.autograd_reference import autograd_counts

_ADD_AXIS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x[:, None],
    "unsqueeze": lambda x: x.unsqueeze(1),
    "view": lambda x: x.view(x.shape[0], 1, -1),
    "ellipsis": lambda x: x[..., None, :],
}


def _positive(model: nn.Module) -> nn.Module:
    for p in model.parameters():  # positive weights: nothing cancels in the gradient
        nn.init.constant_(p, 0.1)
    return model.eval()


class _Waveform(nn.Module):
    """Speech models' feature encoder: a ``(N, samples)`` waveform, a channel axis added,
    strided convolutions (frames of 5 samples, then 3 frames), and a 1x1 stride-2 conv
    that skips every other frame."""

    def __init__(self, add_axis: str) -> None:
        super().__init__()
        self.add_axis = add_axis
        self.frames = nn.Conv1d(1, 4, 5, stride=5)
        self.skip = nn.Conv1d(4, 4, 1, stride=2)
        self.wide = nn.Conv1d(4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wide(self.skip(self.frames(_ADD_AXIS[self.add_axis](x))))


@pytest.mark.parametrize("add_axis", sorted(_ADD_AXIS))
def test_a_waveform_input_is_a_signal(add_axis: str) -> None:
    model = _positive(_Waveform(add_axis))
    summary = stridescope.summary(model, input_shape=(1, 400))
    fields = {row.path: (row.rf_size, row.rf_jump) for row in summary.layers}
    assert fields["frames"] == ((5,), (5,)) and fields["skip"] == ((5,), (10,))
    assert fields["wide"] == ((25,), (10,))
    counts = autograd_counts(lambda x: model(x[:, 0]), 400)
    assert (stridescope.coverage(model, (1, 400)).counts == counts).all()
    assert summary.input_coverage == float((counts > 0).mean()) == 0.5
    assert summary.position_unit == "samples"
    timed = summary.at_sample_rate(16000).to_dict()["layers"][-1]["receptive_field"]
    assert timed == {"size": [25], "jump": [10], "size_ms": 25 / 16, "jump_ms": 10 / 16}


class _Rows(nn.Module):
    """A ``(N, C, L)`` signal run through ``Conv2d`` layers with ``(1, k)`` kernels (a
    ``(N, C, 1, L)`` view), the last a 1x1 stride-2 one, and back to ``(N, C, L)``."""

    def __init__(self, add_axis: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.add_axis = add_axis
        self.c1 = nn.Conv2d(1, 4, (1, 3), stride=(1, 2), padding=(0, 1))
        self.norm = nn.BatchNorm2d(4)
        self.skip = nn.Conv2d(4, 2, 1, stride=(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(torch.relu(self.norm(self.c1(self.add_axis(x))))).squeeze(2)


@pytest.mark.parametrize(
    "add_axis",
    [lambda x: x.unsqueeze(2), lambda x: x[:, :, None], lambda x: x.view(1, 1, 1, -1)],
    ids=["unsqueeze", "none", "view"],
)
def test_a_signal_through_one_row_kernels_keeps_its_axis(
    add_axis: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    model = _positive(_Rows(add_axis))
    summary = stridescope.summary(model, input_shape=(1, 1, 64))
    rows = {row.path: row for row in summary.layers}
    assert rows["c1"].rf_size == (3,) and rows["skip"].rf_size == (3,)
    assert rows["skip"].rf_jump == (4,) and rows["skip"].read_fraction == 0.5
    assert rows["squeeze"].kind == "reshape" and rows["squeeze"].output_shape == (1, 2, 16)
    counts = autograd_counts(model, 64)
    assert (stridescope.coverage(model, (1, 1, 64)).counts == counts).all()
    assert summary.input_coverage == float((counts > 0).mean()) == 47 / 64  # 3 of 4, not the last


def test_the_layer_keeps_its_window_for_fix_and_lint() -> None:
    """The node holds the layer's own window, on the layout's axes (what ``fix`` rebuilds and
    lint describes; the analyses read it on the signal's axis), and the same layer met again
    on an image of one row is the image's layer; ``fix`` swaps the strided layers of the
    signal model as it did before its field was known."""
    signal = trace_torch(_Rows(lambda x: x.unsqueeze(2)), (1, 1, 64))
    image = trace_torch(_Rows(lambda x: x), (1, 1, 1, 64))
    conv, same = signal.nodes[2], image.nodes[1]
    assert conv.window is not None and conv.window.kernel == (1, 3) and conv.spatial_at == (3,)
    assert axes_window(conv, "nchw")[0] == Window((3,), (2,), (1,), ((1, 1),))
    assert same.window == conv.window and same.spatial_at is None
    fixed = stridescope.fix(_Rows(lambda x: x.unsqueeze(2)), "blurpool", input_shape=(1, 1, 64))
    assert [c.layer for c in fixed.changes] == ["c1", "skip"] and not fixed.unchanged
    flags = {r.path: r.flags for r in stridescope.summary(fixed.model, (1, 1, 64)).layers}
    assert "DS401" not in flags["c1.blur"]


def test_a_dense_layer_over_a_rank_2_input_reads_all_of_it() -> None:
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    summary = stridescope.summary(model, input_shape=(2, 784))
    assert [row.rf_note for row in summary.layers] == ["whole input"] * 3
    assert summary.input_coverage == 1.0


@pytest.mark.parametrize(
    ("squeeze", "shape"),
    [
        (lambda x: x.squeeze(), (3, 5)),
        (lambda x: x.squeeze(1), (3, 5, 1)),
        (lambda x: x.squeeze((1, 3)), (3, 5)),
        (lambda x: torch.squeeze(x, -1), (3, 1, 5)),
        (lambda x: x.squeeze(2), (3, 1, 5, 1)),
    ],
)
def test_squeeze_shapes_are_torchs(
    squeeze: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]
) -> None:
    class _Squeeze(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return squeeze(x)

    assert tuple(squeeze(torch.zeros(3, 1, 5, 1)).shape) == shape
    graph = trace_torch(_Squeeze(), (3, 1, 5, 1))
    assert graph.output.output_shape == shape and graph.output.kind == "reshape"


def test_the_waveform_encoder_reads_as_its_channels_first_form() -> None:
    """``examples/wav2vec2_encoder.py``: ``build_waveform`` on ``(1, 16000)`` is ``build`` on
    ``(1, 1, 16000)``: fields, coverage, lint and totals."""
    ncl = stridescope.summary("examples/wav2vec2_encoder.py:build", "1x1x16000")
    nl = stridescope.summary("examples/wav2vec2_encoder.py:build_waveform", "1x16000")
    assert nl.input_coverage == ncl.input_coverage == 1 - 240 / 16000
    assert nl.lint == ncl.lint and dict(nl.lint)["DS202"] == 1
    assert (nl.layers[-1].rf_size, nl.layers[-1].rf_jump) == ((400,), (320,))
    assert (nl.totals.params, nl.totals.macs) == (ncl.totals.params, ncl.totals.macs)
    assert nl.spatial == ncl.spatial == (16000,)


class _Transposed(nn.Module):
    """A conv, then H and W swapped (``transpose(2, 3)``), then a 1x1 stride-(1, 2) conv:
    on the swapped tensor its stride falls on the input's H."""

    def __init__(self, spell: str) -> None:
        super().__init__()
        self.spell = spell
        self.c1 = nn.Conv2d(1, 4, (1, 3))
        self.c2 = nn.Conv2d(4, 4, 1, stride=(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c1(x)
        y = y.transpose(2, 3) if self.spell == "transpose" else y.permute(0, 1, 3, 2)
        return self.c2(y)


@pytest.mark.parametrize("spell", ["transpose", "permute"])
def test_a_window_on_swapped_spatial_axes_reads_where_they_are(spell: str) -> None:
    """The window slides over the layout's axes, which hold the input's W then H: its field
    and coverage are read per input axis (coverage was 100% where autograd reads 50%)."""
    model = _positive(_Transposed(spell))
    summary = stridescope.summary(model, input_shape=(1, 1, 8, 12))
    last = summary.layers[-1]
    assert (last.path, last.rf_size, last.rf_jump, last.read_fraction) == (
        "c2",
        (1, 3),
        (2, 1),
        0.5,
    )
    counts = autograd_counts(model, 8, 12)
    assert (stridescope.coverage(model, (1, 1, 8, 12)).counts == counts).all()
    assert summary.input_coverage == float((counts > 0).mean()) == 0.5


_CUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "every other": lambda x: x[..., ::2],
    "crop": lambda x: x[:, 100:900],
    "narrow": lambda x: x.narrow(-1, 0, 500),
    "chunk": lambda x: x.chunk(2, -1)[0],
    "pad": lambda x: F.pad(x, (10, 0)),
}


class _Cut(nn.Module):
    def __init__(self, cut: str) -> None:
        super().__init__()
        self.cut = cut
        self.conv = nn.Conv1d(1, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(_CUTS[self.cut](x).unsqueeze(1))


@pytest.mark.parametrize("cut", sorted(_CUTS))
def test_a_slice_of_a_waveform_is_a_window_on_its_samples(cut: str) -> None:
    """Slicing or padding the ``(batch, samples)`` tensor itself (before its channel axis is
    added) is the exact kernel-1 window it is on any signal (slicing was a move: coverage 100%
    where autograd reads 50%, the field unknown; padding kept only its shape)."""
    model = _positive(_Cut(cut))
    summary = stridescope.summary(model, input_shape=(1, 1000))
    counts = autograd_counts(lambda x: model(x[:, 0]), 1000)
    assert summary.input_coverage == float((counts > 0).mean())
    assert summary.layers[-1].rf_size == ((5,) if cut == "every other" else (3,))


class _Back(nn.Module):
    """A ``(1, k)`` conv on ``(N, C, 1, L)``, back to ``(N, C, L)`` by ``back``, then a 1x1
    stride-2 ``Conv1d``."""

    def __init__(self, back: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.back = back
        self.row = nn.Conv2d(1, 4, (1, 3), padding=(0, 1))
        self.skip = nn.Conv1d(4, 2, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(self.back(self.row(x.unsqueeze(2))))


@pytest.mark.parametrize(
    "back",
    [lambda x: x.squeeze(2), lambda x: x.flatten(2), lambda x: x.flatten(-2)],
    ids=["squeeze", "flatten(2)", "flatten(-2)"],
)
def test_back_to_a_signal_keeps_its_axis(back: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """``flatten(2)`` of ``(N, C, 1, L)`` merges an axis of size 1 only: a reshape that keeps
    the signal's axis (it was a flatten, after which every position read the whole input:
    coverage 100% where autograd reads 50%)."""
    model = _positive(_Back(back))
    summary = stridescope.summary(model, input_shape=(1, 1, 64))
    assert (summary.layers[-1].rf_size, summary.layers[-1].rf_jump) == ((3,), (2,))
    counts = autograd_counts(model, 64)
    assert summary.input_coverage == float((counts > 0).mean())


def test_the_time_footer_says_what_the_output_sees() -> None:
    """With a sample rate, the footer gives the last finite field in milliseconds; where a
    dense layer after it mixes every position, it says so instead of calling that field the
    output's, and how much of the input that reads (the frames stop 240 samples short of the
    end: not the whole input)."""

    class _Framed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frames, self.head = nn.Conv1d(1, 4, 400, stride=320), nn.Linear(49, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.frames(x[:, None]))

    lines = footer_lines(stridescope.summary(_Framed(), (1, 16000), sample_rate=16000))
    assert (
        "last finite field (frames): receptive field 400 samples = 25 ms, jump 320 samples = "
        "20 ms; output (head): every position mixed, 98.5% of the input read"
    ) in lines
    whole = footer_lines(stridescope.summary(_Framed(), (1, 15760), sample_rate=16000))
    assert any(line.endswith("output (head): whole input") for line in whole)


class _Attend(nn.Module):
    """Frames of a waveform, then self-attention as 4-D heads, one 3-D head, or heads merged
    into the batch for ``bmm`` (DeBERTa, SEW-D)."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.frames = nn.Conv1d(1, 16, 10, stride=5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frames(x[:, None]).transpose(1, 2)  # (N, T, 16)
        n, t, _ = h.shape
        if self.form == "3-D":
            return torch.softmax(h @ h.transpose(1, 2), -1) @ h
        q = h.view(n, t, 4, 4).transpose(1, 2)  # (N, 4, T, 4)
        if self.form == "4-D":
            return torch.softmax(q @ q.transpose(-1, -2), -1) @ q
        m = q.reshape(n * 4, t, 4)
        return torch.bmm(torch.softmax(torch.bmm(m, m.transpose(1, 2)), -1), m)


@pytest.mark.parametrize("form", ["4-D", "3-D", "bmm"])
def test_attention_over_frames_reads_the_whole_input(form: str) -> None:
    """Every query reads every key: the whole input, whether the keys are ``(N, heads, T, d)``
    or ``(N, T, C)`` transposed (the 3-D forms' field was unknown: a transposed ``(N, C, T)``
    has its axis where the layout puts it, which the rule did not look at)."""
    summary = stridescope.summary(_Attend(form), input_shape=(1, 1000))
    assert summary.layers[-1].rf_note == "whole input"
