"""Receptive fields and coverage through resizing by whole factors (fields were ``?``, and
coverage took a resize to read every position), each output position's field against the
gradient: nearest, bilinear, bicubic and area interpolation up (``F.interpolate``,
``nn.Upsample``), transposed convolutions of stride 2 and 3, pixel shuffle, decoders that add
an upsampled map to a skip connection (FPN, U-Net), downsampling by ``F.interpolate`` (nearest
by 2 reads a pixel in four, as a 1x1 stride-2 conv), and Keras's UpSampling2D and Resizing.
Interpolation with ``align_corners=True``, upsampling past the input's resolution, resizes
to sizes that are not whole multiples and adaptive pooling to sizes that do not divide the
input's (fields ``?`` until 2026-12-06) have fields too, each output's against the gradient,
with a fractional jump; coverage is autograd's on every model, with no "treated as reading
every position" note for the interpolations."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.load import load_graph
from stridescope.geometry import ReceptiveField
from tests.autograd_reference import autograd_counts


def _positive(model: nn.Module) -> nn.Module:
    for p in model.parameters():  # positive weights: nothing cancels in the gradient
        nn.init.constant_(p, 0.1)
    return model.eval()


def _gradient_spans(model: nn.Module, shape: tuple[int, ...]) -> list[list[tuple[int, int]]]:
    """Per spatial axis, per output index along it (the other axes at their centre), the
    ``[first, end)`` input positions its gradient reaches on that axis."""
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    y = model(x)
    found = []
    for axis in range(2, len(shape)):
        spans = []
        for o in range(y.shape[axis]):
            index = [0, slice(None), *(n // 2 for n in y.shape[2:])]
            index[axis] = o
            (grad,) = torch.autograd.grad(y[tuple(index)].sum(), x, retain_graph=True)
            reached = grad[0].abs().sum(0).nonzero()[:, axis - 2]
            spans.append((int(reached.min()), int(reached.max()) + 1))
        found.append(spans)
    return found


def _agrees(field: ReceptiveField, o: int, n: int, reached: tuple[int, int], exact: bool) -> None:
    """Output ``o``'s field against the gradient's reach on an axis of ``n`` inputs: equal
    where the field lies inside the input, else the reach is inside the field (near a
    border a window may read past an intermediate map's end, which holds zeros)."""
    first, end = field.span(o)
    inside = first >= 0 and end <= n
    if inside and exact:
        assert (first, end) == reached, (o, field)
    else:
        assert first <= reached[0] and reached[1] <= end, (o, field, reached)


def _checked(
    model: nn.Module, shape: tuple[int, ...], exact: bool = True
) -> tuple[ReceptiveField, ...]:
    """The output's field, checked against the gradient at every output position (see
    :func:`_agrees`), and the coverage against autograd."""
    model = _positive(model)
    summary = stridescope.summary(model, shape)
    counts = autograd_counts(model, *shape[2:])
    assert summary.input_coverage == pytest.approx(float(np.mean(counts > 0)))
    assert not [n for n in summary.notes if "treated as reading every position" in n]
    field = receptive_fields(load_graph(model, shape))[-1]
    assert isinstance(field, tuple), field
    for r, n, spans in zip(field, shape[2:], _gradient_spans(model, shape), strict=True):
        for o, span in enumerate(spans):
            _agrees(r, o, n, span, exact)
    assert summary.layers[-1].rf_size == tuple(r.size for r in field)
    return field


class _Decoder(nn.Module):
    """Down twice, then up by ``up`` (a module taking the map), optionally adding the skip."""

    def __init__(self, up: Callable[[torch.Tensor], torch.Tensor], skip: bool) -> None:
        super().__init__()
        self.down1 = nn.Conv2d(1, 2, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2, 2, 3, stride=2, padding=1)
        self.up, self.skip = up, skip
        self.head = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.down1(x)
        b = self.up(self.down2(a))
        return self.head(a + b if self.skip else b)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
@pytest.mark.parametrize("skip", [False, True])
def test_interpolation_by_two_has_the_fields_the_gradient_has(mode: str, skip: bool) -> None:
    corners = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    up = nn.Upsample(scale_factor=2, mode=mode, **corners) if mode != "area" else None
    model = _Decoder(up or (lambda t: F.interpolate(t, scale_factor=2, mode="area")), skip)
    field = _checked(model, (1, 1, 16, 16))
    assert [r.jump for r in field] == [2, 2]


@pytest.mark.parametrize("factor", [3, 4])
def test_bilinear_and_nearest_by_larger_factors(factor: int) -> None:
    size = 4 * factor

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.Conv2d(1, 2, factor + 1, stride=factor, padding=1)
            self.head = nn.Conv2d(2, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.down(x)
            a = F.interpolate(y, scale_factor=factor, mode="bilinear")
            b = F.interpolate(y, size=(size, size), mode="nearest")
            return self.head(a * b)

    # (an odd factor: outputs on an input read a neighbour by float32 rounding, on one side
    # or the other: the field holds both, so the gradient is inside it, not equal)
    field = _checked(Net(), (1, 1, size, size), exact=factor % 2 == 0)
    assert [r.jump for r in field] == [1, 1]


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, 2, 0), (4, 2, 1), (3, 3, 0)])
def test_transposed_convolutions_of_any_stride(kernel: int, stride: int, padding: int) -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=stride, padding=1),
        nn.Conv2d(2, 2, 3, stride=stride, padding=1),
        nn.ConvTranspose2d(2, 2, kernel, stride=stride, padding=padding),
        nn.Conv2d(2, 1, 3, padding=1),
    )
    field = _checked(model, (1, 1, 9 * stride, 9 * stride))
    assert [r.jump for r in field] == [stride, stride]


def test_pixel_shuffle_after_a_stride_two_conv() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.PixelShuffle(2), nn.Conv2d(2, 1, 3)
    )
    field = _checked(model, (1, 1, 16, 16))
    assert [r.jump for r in field] == [1, 1] and field[0].size == 5


def test_upsampling_past_the_input_resolution_has_a_fractional_jump() -> None:
    past = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Upsample(scale_factor=2))
    field = _checked(past, (1, 1, 16, 16))
    assert [r.jump for r in field] == [Fraction(1, 2)] * 2 and field[0].size == 3
    row = stridescope.summary(_positive(past), (1, 1, 16, 16)).layers[-1]
    assert row.rf_jump == (0.5, 0.5) and row.rf_note == ""


@pytest.mark.parametrize(
    "up",
    [
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        nn.UpsamplingBilinear2d(scale_factor=2),  # (corners aligned too)
        nn.Upsample(size=(7, 9), mode="bilinear"),  # 4x4 to 7x9: no whole factor
        nn.Upsample(size=(7, 9), mode="bicubic", align_corners=True),
        nn.Upsample(size=(3, 5), mode="nearest"),
        nn.Upsample(scale_factor=1.7, mode="nearest-exact"),
    ],
    ids=["corners", "UpsamplingBilinear2d", "sizes", "bicubic corners", "nearest", "by 1.7"],
)
@pytest.mark.parametrize("skip", [False, True])
def test_resizes_by_fractions_have_the_fields_the_gradient_has(up: nn.Module, skip: bool) -> None:
    if skip and not isinstance(up, nn.UpsamplingBilinear2d) and up.scale_factor != 2:
        return  # (the skip needs the map at 8x8)
    model = _Decoder(up, skip)
    if skip:  # corners aligned: 4 to 8 positions 3/7 apart, on no grid of the skip's
        summary = stridescope.summary(_positive(model), (1, 1, 16, 16))
        rows = {r.path: r for r in summary.layers}
        assert rows["up"].rf_jump == (12 / 7, 12 / 7) and rows["add"].flags == ("DS301",)
        assert (
            rows["add"].rf_note == "?"
            and (
                "receptive fields are unknown (?) from add on: a merge of maps on different grids "
                "(their jumps: 1.714x1.714 and 2x2)"
            )
            in summary.notes
        )
        return
    field = _checked(model, (1, 1, 16, 16))  # each output's span: the gradient's
    summary = stridescope.summary(_positive(model), (1, 1, 16, 16))
    assert summary.layers[-1].rf_size == tuple(r.size for r in field)
    assert not [n for n in summary.notes if n.startswith("receptive fields are unknown")]


@pytest.mark.parametrize(("size", "out"), [(15, 5), (16, 6), (9, 4), (10, 7)])
def test_adaptive_pooling_by_no_whole_factor_has_the_gradients_fields(size: int, out: int) -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(out), nn.Conv2d(2, 1, 3, padding=1)
    )
    field = _checked(model, (1, 1, size, size))
    assert field[0].jump == Fraction(size, out) or size % out == 0


def test_keras_upsampling_and_resizing_have_the_gradients_fields() -> None:
    import keras

    inputs = keras.Input((16, 16, 1))
    down = keras.layers.Conv2D(2, 3, strides=2, padding="same")(inputs)
    down = keras.layers.Conv2D(2, 3, strides=2, padding="same")(down)
    near = keras.layers.UpSampling2D(2)(down)
    bilinear = keras.layers.UpSampling2D(2, interpolation="bilinear")(down)
    resized = keras.layers.Resizing(8, 8, interpolation="bicubic")(down)
    merged = keras.layers.Add()([near, bilinear, resized])
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(merged))
    for w in model.weights:
        w.assign(np.full(w.shape, 0.1, dtype="float32"))
    field = receptive_fields(load_graph(model, (1, 16, 16, 1)))[-1]
    assert isinstance(field, tuple)
    summary = stridescope.summary(model, (1, 16, 16, 1))
    assert not [n for n in summary.notes if "treated as reading every position" in n]

    x = (torch.rand(1, 16, 16, 1) + 0.5).requires_grad_(True)
    y = model(x)
    for axis in (1, 2):
        for o in range(8):
            index = [0, 4, 4, 0]
            index[axis] = o
            (grad,) = torch.autograd.grad(y[tuple(index)], x, retain_graph=True)
            reached = grad[0, :, :, 0].nonzero()[:, axis - 1]
            span = (int(reached.min()), int(reached.max()) + 1)
            _agrees(field[axis - 1], o, 16, span, exact=True)


class _Shrink(nn.Module):
    """A conv, a downsampling by ``F.interpolate``, a conv."""

    def __init__(self, **resize: object) -> None:
        super().__init__()
        self.before = nn.Conv2d(1, 2, 3, padding=1)
        self.after = nn.Conv2d(2, 1, 3, padding=1)
        self.resize = resize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(F.interpolate(self.before(x), **self.resize))  # type: ignore[arg-type]


DOWN = [
    ({"scale_factor": 0.5}, 0.25),  # nearest: floor(o * 2), one pixel in four
    ({"size": (4, 4), "mode": "nearest-exact"}, 1 / 16),  # floor((o + 0.5) * 4)
    ({"scale_factor": 0.5, "mode": "bilinear"}, 1.0),
    ({"scale_factor": 1 / 3, "mode": "bilinear"}, 1 / 9),  # lands on the middle pixel
    ({"scale_factor": 0.5, "mode": "bicubic"}, 1.0),
    ({"size": (4, 4), "mode": "area"}, 1.0),
    # two taps inside each block (they were taken to read every position): bilinear by 4
    # reads pixels 1 and 2 of each 4, by 6 pixels 2 and 3 of 6, bicubic by 8 pixels 2 to 5
    ({"scale_factor": 0.25, "mode": "bilinear"}, 1 / 4),
    ({"size": (4, 4), "mode": "bilinear"}, 1 / 9),
    ({"scale_factor": 0.125, "mode": "bicubic"}, 1 / 4),
]
_SIDES = {1 / 3: 12, 0.125: 32}


@pytest.mark.parametrize(("resize", "read"), DOWN, ids=[str(d[0]) for d in DOWN])
def test_downsampling_by_interpolation_reads_what_the_gradient_reads(
    resize: dict[str, object], read: float
) -> None:
    """The resize reads a window: a nearest downsampling by 2 reads a pixel in four, as a
    1x1 stride-2 conv does, and says so (it was taken to read every position)."""
    side = _SIDES.get(resize.get("scale_factor"), 16)  # type: ignore[arg-type]
    if resize.get("size") == (4, 4) and resize.get("mode") == "bilinear":
        side = 24  # by 6
    model = _Shrink(**resize)
    _checked(model, (1, 1, side, side))
    rows = {r.path: r for r in stridescope.summary(_positive(model), (1, 1, side, side)).layers}
    assert rows["interpolate"].read_fraction == pytest.approx(read)


@pytest.mark.parametrize(
    ("interpolation", "side", "read"),
    [("nearest", 16, 1 / 16), ("bilinear", 12, 1 / 9), ("bilinear", 16, 1 / 4)],
)
def test_keras_resizing_down_reads_what_the_gradient_reads(
    interpolation: str, side: int, read: float
) -> None:
    import keras

    inputs = keras.Input((side, side, 1))
    small = keras.layers.Resizing(4, 4, interpolation=interpolation)(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1)(small))
    for w in model.weights:
        w.assign(np.full(w.shape, 0.1, dtype="float32"))
    summary = stridescope.summary(model, (1, side, side, 1))
    x = (torch.rand(1, side, side, 1) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert summary.input_coverage == pytest.approx(float((grad != 0).float().mean()))
    # nearest by 4 (half-pixel centres): a pixel in 16; bilinear by 3: the middle of 3 x 3;
    # bilinear by 4: 2 x 2 pixels of each 4 x 4
    assert summary.input_coverage == pytest.approx(read)
    assert not [n for n in summary.notes if "treated as reading every position" in n]


def test_a_fractional_jump_reads_in_the_table_csv_and_json() -> None:
    from stridescope.analysis.summary_format import table_cells, to_csv

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),  # 8 -> 16: 7/15
    )
    summary = stridescope.summary(net, (1, 3, 16, 16))
    assert summary.to_dict()["layers"][-1]["receptive_field"] == {
        "size": [5, 5],
        "jump": [14 / 15, 14 / 15],
    }
    assert "5x5,0.933333x0.933333," in to_csv(summary)
    assert "0.9333x0.9333" in table_cells(summary)[-1]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("factor", [3, 5])
def test_upsampling_by_an_odd_factor_has_each_outputs_own_field(mode: str, factor: int) -> None:
    # every factor-th output's source is on a pixel, and float32 rounding of 1/factor decides
    # output by output whether the kernel reads a neighbour too: read through the sources
    # (until 2026-12-06 a window taking both neighbours: a pixel too many on each side)
    model = _Decoder(nn.Upsample(scale_factor=factor, mode=mode), False)
    field = _checked(model, (1, 1, 16, 16))
    assert [r.jump for r in field] == [Fraction(4, factor)] * 2
