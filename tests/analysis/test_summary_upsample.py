"""Summary rows for the ops added to the IR: transposed convolution (reads, its field),
cropping (a read fraction, no flag: a crop is deliberate), and a spatial mean (a global pool)."""

from __future__ import annotations

from stridescope.analysis.summary import LayerRow, summarize
from stridescope.ir import GraphBuilder


def _rows() -> dict[str, LayerRow]:
    b = GraphBuilder((1, 4, 16, 16), "nchw")
    x = b.conv(b.input, "down", out_channels=8, kernel=3, stride=2, padding=1)
    x = b.conv_transpose(x, "up", out_channels=4, kernel=2, stride=2)
    x = b.pad(x, "crop", padding=[(-2, -2), (-1, -1)])
    b.reduce(x, "gap", mode="avg", axes=(2, 3))
    return {row.path: row for row in summarize(b.build()).layers}


def test_transposed_conv_reads_everything_and_has_the_field_of_what_it_copies() -> None:
    rows = _rows()
    up = rows["up"]
    assert up.read_fraction == 1.0
    # kernel 2, stride 2: each output is one input's (a 3x3 field, jump 2) times a weight
    assert (up.rf_size, up.rf_jump, up.rf_note) == ((3, 3), (1, 1), "")
    assert up.macs == 8 * 8 * 8 * 4 * 4


def test_crop_reads_part_and_the_global_mean_sees_the_whole_input() -> None:
    rows = _rows()
    crop = rows["crop"]
    assert crop.output_shape == (1, 4, 12, 14)
    assert crop.read_fraction == (12 / 16) * (14 / 16)
    assert crop.flags == ()  # a crop says what it drops: not a DS201 dropped border
    assert rows["gap"].macs == 4 * 12 * 14
    assert rows["gap.squeeze"].output_shape == (1, 4)
