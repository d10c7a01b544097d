"""Coverage through resizes no window describes (sizes that are not whole multiples,
corners aligned, a scale factor whose inverse places the sources): read through the
interpolation's own coordinates, against autograd, in PyTorch and Keras. Until 2026-12-06
each was taken as reading every position, with a note, and the receptive field was unknown;
it is now each output's inputs' hull, with a jump that need not be a whole number of pixels
(``n / out``: per output, on average)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.load import load_graph
from tests.autograd_reference import autograd_counts


class _Resized(nn.Module):
    """A 1x1 conv after ``F.interpolate``: what the model reads is what the resize reads."""

    def __init__(self, **resize: object) -> None:
        super().__init__()
        self.resize = resize
        self.head = nn.Conv2d(1, 1, 1)
        nn.init.constant_(self.head.weight, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.interpolate(x, **self.resize))  # type: ignore[arg-type]


CASES = [
    {"size": (5, 7), "mode": "bilinear"},
    {"size": (5, 7), "mode": "bilinear", "align_corners": True},
    {"size": (5, 6), "mode": "nearest"},
    {"size": (5, 6), "mode": "nearest-exact"},
    {"size": (5, 7), "mode": "bicubic"},
    {"size": (6, 5), "mode": "area"},
    {"scale_factor": 0.3, "mode": "nearest"},  # 16 -> 4, the sources 1/0.3 apart
    {"scale_factor": 0.45, "mode": "bilinear"},
    {"size": (23, 21), "mode": "bicubic", "align_corners": True},  # up, not by a whole factor
    # antialiased (until 2026-12-06 only the shape): each output reads its filter's support
    {"size": (5, 7), "mode": "bilinear", "antialias": True},
    {"size": (6, 4), "mode": "bicubic", "antialias": True},
    {"scale_factor": 0.3, "mode": "bilinear", "antialias": True},
    {"size": (23, 21), "mode": "bilinear", "antialias": True},  # up: as without it
]


@pytest.mark.parametrize("resize", CASES, ids=[str(c) for c in CASES])
def test_resizes_read_what_autograd_reads(resize: dict[str, object]) -> None:
    model = _Resized(**resize).eval()
    shape = (1, 1, 16, 16)
    counts = autograd_counts(model, 16, 16)
    cov = coverage_map(load_graph(model, shape))
    assert not cov.notes
    np.testing.assert_array_equal(cov.counts, counts)
    summary = stridescope.summary(model, shape)
    assert summary.input_coverage == pytest.approx(float(np.mean(counts > 0)))
    row = next(r for r in summary.layers if r.path == "interpolate")
    assert row.read_fraction == pytest.approx(float(np.mean(counts > 0)))
    # the field: the widest span of inputs an output's gradient reaches, per axis
    last = summary.layers[-1]
    assert last.rf_size == _widest_reach(model, shape)
    # the jump: how far apart neighbouring outputs' sources are (corners aligned: the first
    # and last outputs on the first and last pixels; a scale factor: its inverse)
    sizes = last.output_shape[2:]
    if resize.get("align_corners"):
        steps = [15 / (n - 1) for n in sizes]
    elif "scale_factor" in resize:  # (as a ratio of whole numbers the outputs can show:
        # 1/0.45 = 20/9 on 7 outputs reads as 11/5, every 5 outputs 11 pixels on)
        steps = [1 / float(resize["scale_factor"])] * 2  # type: ignore[arg-type]
        assert last.rf_jump == pytest.approx(tuple(steps), abs=1 / min(sizes))
        return
    else:
        steps = [16 / n for n in sizes]
    assert last.rf_jump == pytest.approx(tuple(steps))


def _widest_reach(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per spatial axis, the most input positions from the first to the last that one output
    position's gradient reaches."""
    x = torch.rand(shape).requires_grad_(True)
    y = model(x)
    widest = [0] * (len(shape) - 2)
    for o in np.ndindex(*y.shape[2:]):
        (grad,) = torch.autograd.grad(y[(0, 0, *o)], x, retain_graph=True)
        reached = grad[0, 0].nonzero()
        for axis in range(len(widest)):
            span = int(reached[:, axis].max() - reached[:, axis].min()) + 1
            widest[axis] = max(widest[axis], span)
    return tuple(widest)


def test_upsampling_bilinear2d_reads_through_aligned_corners() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=3), nn.UpsamplingBilinear2d(scale_factor=2))
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    cov = coverage_map(load_graph(model, (1, 1, 12, 9)))
    assert not cov.notes
    np.testing.assert_array_equal(cov.counts, autograd_counts(model, 12, 9))


def test_keras_resizing_to_other_sizes_reads_what_autograd_reads() -> None:
    import keras

    inputs = keras.Input((16, 16, 1))
    small = keras.layers.Resizing(5, 7, interpolation="bilinear")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1)(small))
    for w in model.weights:
        w.assign(np.full(w.shape, 0.1, dtype="float32"))
    summary = stridescope.summary(model, (1, 16, 16, 1))
    x = (torch.rand(1, 16, 16, 1) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert summary.input_coverage == pytest.approx(float((grad != 0).float().mean()))
    assert summary.input_coverage < 1
    assert not [n for n in summary.notes if "treated as reading every position" in n]
    # the field, each output's inputs from the first to the last: the gradient's widest
    widest = [0, 0]
    y = model(x)
    for o in np.ndindex(5, 7):
        (grad,) = torch.autograd.grad(y[(0, *o, 0)], x, retain_graph=True)
        reached = grad[0, :, :, 0].nonzero()
        for axis in range(2):
            span = int(reached[:, axis].max() - reached[:, axis].min()) + 1
            widest[axis] = max(widest[axis], span)
    last = summary.layers[-1]
    assert last.rf_size == tuple(widest) and last.rf_jump == pytest.approx((16 / 5, 16 / 7))


class _Rolled(nn.Module):
    """A conv, a resize to 23 x 23 or a roll (data movement), a conv."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        if self.how == "resize":
            y = F.interpolate(y, size=(23, 23), mode="bilinear")
        elif self.how == "roll":
            y = torch.roll(y, 1, 2)
        return self.b(y)


@pytest.mark.parametrize(
    ("how", "note"),
    [
        ("resize", None),  # (until 2026-12-06: "a resize by a fraction of a pixel")
        ("roll", "from roll on: roll puts the positions out of order (coverage follows them)"),
        ("plain", None),
    ],
)
def test_the_summary_says_where_fields_turn_unknown_and_why(how: str, note: str | None) -> None:
    summary = stridescope.summary(_Rolled(how), (1, 3, 32, 32))
    said = [n for n in summary.notes if n.startswith("receptive fields are unknown (?)")]
    assert said == ([] if note is None else [f"receptive fields are unknown (?) {note}"])
    assert (summary.layers[-1].rf_size is None) == (note is not None)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_keras_antialiased_resizing_reads_what_autograd_reads(interpolation: str) -> None:
    """``Resizing(..., antialias=True)`` (the torch backend runs PyTorch's filter): each
    output reads its filter's support, so rows cropped after it leave input rows unread
    (until 2026-12-06 the resize was its shape only, read whole: 100%)."""
    import keras

    inputs = keras.Input((16, 16, 1))
    small = keras.layers.Resizing(6, 5, interpolation=interpolation, antialias=True)(inputs)
    model = keras.Model(inputs, keras.layers.Cropping2D(((0, 4), (0, 0)))(small))
    summary = stridescope.summary(model, (1, 16, 16, 1))
    x = (torch.rand(1, 16, 16, 1) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert summary.input_coverage == pytest.approx(float((grad != 0).float().mean()))
    assert summary.input_coverage < 1
