"""A model that makes its image from a flat input (``x.view(-1, 1, 28, 28)`` on ``(N, 784)``
samples, as MNIST models fed from a CSV file do; ``(N, 3072)`` viewed as ``(N, 3, 32, 32)``)
is read on that image (:mod:`stridescope.frontends.input_view`): receptive fields in pixels,
the coverage exact. Until the forty-second session (2026-12-07) the view split the samples
into blocks, the columns held as channels: coverage 89% where 80% is read, and with colour
planes the fields were ``?`` from the first conv on and the coverage 100%."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import stridescope
from stridescope.frontends.pytorch.trace import trace_torch

torch.set_num_threads(1)


class Flat(nn.Module):
    """``channels x side x side`` samples viewed as an image by ``how``, a strided conv, a
    classifier."""

    def __init__(self, how: str, channels: int = 1, side: int = 12) -> None:
        super().__init__()
        self.how, self.shape = how, (channels, side, side)
        self.conv = nn.Conv2d(channels, 4, 5, stride=2)
        out = (side - 5) // 2 + 1
        self.fc = nn.Linear(4 * out * out, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "view":
            x = x.view(-1, *self.shape)
        elif self.how == "size0":
            x = x.reshape(x.size(0), *self.shape)
        elif self.how == "sqrt":  # the side read from the input's own size
            side = math.isqrt(x.shape[-1])
            x = x.view(-1, 1, side, side)
        elif self.how == "scaled":  # per-position ops on the flat samples first
            x = ((x - 0.5) / 0.5).view(-1, *self.shape)
        elif self.how == "unsqueezed":  # rows first, the channel axis added after
            x = x.view(-1, *self.shape[1:]).unsqueeze(1)
        elif self.how == "unflatten":
            x = x.unflatten(1, self.shape)
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _autograd(model: nn.Module, shape: tuple[int, ...]) -> float:
    """The share of the flat input's samples the output's gradient reaches (positive
    weights and inputs: nothing cancels)."""
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    reached = grad[0].abs() > 0
    return int(reached.sum()) / reached.numel()


@pytest.mark.parametrize(
    ("how", "channels", "given"),
    [
        ("view", 1, (1, 144)),
        ("size0", 1, (2, 144)),
        ("view", 3, (1, 432)),
        ("view", 1, (1, 1, 144)),
        ("scaled", 1, (1, 144)),
        ("unsqueezed", 1, (1, 144)),
    ],
)
def test_a_flat_input_viewed_as_an_image_is_read_as_that_image(
    how: str, channels: int, given: tuple[int, ...]
) -> None:
    model = Flat(how, channels)
    s = stridescope.summary(model, input_shape=given)
    image = (given[0], channels, 12, 12)
    assert s.input_shape == image
    assert s.input_coverage == _autograd(model, given) == 11 * 11 / 144  # rows and columns 0-10
    conv = next(r for r in s.layers if r.kind == "conv")
    assert conv.rf_size == (5, 5) and conv.rf_jump == (2, 2)
    assert f"its forward views the {given} input as {image}" in " ".join(s.notes)
    same = stridescope.summary(model, input_shape=image)  # the image given: the same work
    assert (s.totals.params, s.totals.macs) == (same.totals.params, same.totals.macs)
    assert s.input_coverage == same.input_coverage


def test_a_model_that_refuses_the_image_keeps_the_flat_reading_noted() -> None:
    """Where the forward reads its size from the flat input (the image's side from the
    sample count) or cannot take the image (``unflatten`` of the samples' axis), the image
    is not the same work: the flat reading stays, an upper bound the summary notes."""
    for how in ("sqrt", "unflatten"):
        model = Flat(how)
        s = stridescope.summary(model, input_shape=(1, 144))
        assert s.input_shape == (1, 144)
        assert s.input_coverage >= _autograd(model, (1, 144))
        assert any(n.startswith("input coverage assumes") for n in s.notes)
        assert s.layers[1].rf_size is not None  # (unflatten splits into blocks as view does)


def test_unflatten_is_a_view() -> None:
    """``x.unflatten(dim, sizes)`` is read as ``x.view(...)``: a reshape that keeps the
    positions, where it was a movement of unknown geometry."""
    net = nn.Conv2d(2, 2, 3)

    class Unflat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return net(x.unflatten(1, (2, -1)).unflatten(-1, (4, 4)).squeeze(2))

    g = trace_torch(Unflat(), (1, 2, 16))
    assert [n.op for n in g.nodes[1:3]] == ["unflatten", "unflatten"]
    assert g.output.output_shape == (1, 2, 2, 2)
    assert stridescope.summary(Unflat(), input_shape=(1, 2, 16)).layers[-1].rf_size is not None


def test_a_sequence_model_on_rows_is_not_read_as_an_image() -> None:
    """Rows of the flat input as the steps of a recurrent layer: no window over the view's
    two axes, so the flat reading stays."""

    class Rows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(12, 8, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x.view(-1, 12, 12))[0][:, -1]

    s = stridescope.summary(Rows(), input_shape=(1, 144))
    assert s.input_shape == (1, 144)
    assert not any("views the" in n for n in s.notes)


class Chunks(nn.Module):
    """``(N, 1, 2L)`` samples cut into two channels of ``L`` by a view, a ``Conv1d`` over
    them; ``halves``: the chunk length read from the input's size."""

    def __init__(self, halves: bool) -> None:
        super().__init__()
        self.halves = halves
        self.conv = nn.Conv1d(2, 3, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.view(-1, 2, x.shape[-1] // 2 if self.halves else 11))


def test_samples_cut_into_channels_by_a_view_are_read_as_those_channels() -> None:
    """Until 2026-12-07 the summary of such a model failed ("output size would be 0 for
    input=1, kernel=11": the block reshape's read share was taken on the channels' axis, of
    one); now it is read on ``(N, 2, 11)`` where the model takes that, and where it cannot
    (the chunk length read from the flat size) the flat reading stays, an upper bound."""
    s = stridescope.summary(Chunks(False), input_shape=(1, 1, 22))
    assert s.input_shape == (1, 2, 11)
    assert s.input_coverage == _autograd(Chunks(False), (1, 1, 22)) == 10 / 11
    assert s.layers[-1].rf_size == (2,)
    s = stridescope.summary(Chunks(True), input_shape=(1, 1, 22))
    assert s.input_shape == (1, 1, 22)
    assert s.input_coverage >= _autograd(Chunks(True), (1, 1, 22))
