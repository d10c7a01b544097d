"""Summary rows: receptive field, read fraction, flags, grouping by depth, JSON keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from stridescope.analysis.summary import LayerRow, summarize
from stridescope.analysis.summary_rf import WHOLE, receptive_fields
from stridescope.api import summary
from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder, OpKind

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed_cnn.toml"


def test_seed_receptive_fields_and_flags() -> None:
    s = summary(str(SEED))
    rows = {row.path: row for row in s.layers}
    assert [(rows[p].rf_size, rows[p].rf_jump) for p in ("conv2d", "max_pooling2d")] == [
        ((3, 3), (1, 1)),
        ((4, 4), (2, 2)),
    ]
    assert (rows["conv2d_1"].rf_size, rows["conv2d_1"].rf_jump) == ((8, 8), (2, 2))
    assert (rows["conv2d_2"].rf_size, rows["conv2d_2"].rf_jump) == ((8, 8), (4, 4))
    assert rows["conv2d_2"].read_fraction == pytest.approx((7 / 13) ** 2)
    assert rows["conv2d_2"].flags == ("DS101", "DS401")  # skipped input, aliasing
    assert rows["max_pooling2d"].flags == ("DS401",)
    assert rows["flatten"].rf_size is None and rows["flatten"].rf_note == WHOLE
    assert rows["conv2d"].flags == ()
    assert s.totals.params == 54_922
    assert s.totals.macs == sum(row.macs for row in s.layers)
    assert s.input_coverage == 1.0


def test_rows_are_the_rows_their_fields_make() -> None:
    """Rows of one node are built without the dataclass __init__: each must still hold
    every field, and nothing else, and equal the row LayerRow(**fields) builds."""
    s = summary(str(SEED))
    names = [f.name for f in dataclasses.fields(LayerRow)]
    for row in (*s.layers, *summary(str(SEED), depth=1).layers):
        assert list(vars(row)) == names
        assert row == LayerRow(**vars(row))
        assert hash(row) == hash(LayerRow(**vars(row)))


def test_json_has_the_documented_keys() -> None:
    data = json.loads(summary(str(SEED)).to_json())
    assert {"layers", "totals", "input_coverage"} <= set(data)
    assert {"params", "macs", "activation_bytes"} <= set(data["totals"])
    first = data["layers"][0]
    assert first["receptive_field"] == {"size": [3, 3], "jump": [1, 1]}
    assert first["output_shape"] == [1, 30, 30, 32]


def test_residual_merge_edge_drop_and_unknown() -> None:
    b = GraphBuilder((1, 3, 9, 9), "nchw")
    a = b.conv(b.input, "block.conv1", out_channels=3, kernel=3, padding=1)
    a = b.conv(a, "block.conv2", out_channels=3, kernel=3, padding=1)
    add = b.merge([b.input, a], "block.add", kind=OpKind.ADD)
    pool = b.pool(add, "pool", mode="max", kernel=2)  # 9 -> 4: the last row and column dropped
    up = b.other(pool, "up", kind=OpKind.UNCOUNTED, output_shape=(1, 3, 8, 8), counted=False)
    b.conv(up, "head", out_channels=2, kernel=1)
    states = receptive_fields(b.build())
    assert [r.size for r in states[add]] == [5, 5]  # union of 5x5 and the identity
    rows = {row.path: row for row in summarize(b.build()).layers}
    assert rows["pool"].flags == ("DS201", "DS401")  # dropped border, aliasing
    assert rows["pool"].read_fraction == pytest.approx((8 / 9) ** 2)
    assert rows["up"].flags == ("DS001",)  # not understood (and listed as uncounted)
    assert rows["up"].rf_note == "?" and rows["head"].rf_note == "?"


def test_depth_groups_by_module_path() -> None:
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 8, 1, stride=2), nn.ReLU()),
    )
    full = summary(model, (1, 3, 12, 12))
    grouped = summary(model, (1, 3, 12, 12), depth=1)
    assert [row.path for row in grouped.layers] == ["0", "1"]
    assert [row.kind for row in grouped.layers] == ["group", "group"]
    assert sum(r.params for r in grouped.layers) == sum(r.params for r in full.layers)
    assert grouped.layers[1].params == 8 * 8 + 8
    assert grouped.layers[1].output_shape == (1, 8, 5, 5)
    assert grouped.layers[1].flags == ("1.0: DS101 DS401",)
    assert grouped.layers[1].nodes == 2
    with pytest.raises(StridescopeError, match="depth"):
        summary(model, (1, 3, 12, 12), depth=0)


def test_an_uncounted_node_shows_unknown_macs_not_zero() -> None:
    """Table and Markdown show "?", CSV an empty cell, JSON null: an uncounted op's MACs are
    unknown."""
    from stridescope.analysis.summary_format import table_cells, to_csv, to_markdown

    b = GraphBuilder((1, 3, 8, 8), "nchw")
    conv = b.conv(b.input, "conv", out_channels=4, kernel=1)
    b.other(conv, "fft", kind=OpKind.UNCOUNTED, output_shape=(1, 4, 8, 8), counted=False)
    s = summarize(b.build())
    cells = {row[0]: row for row in table_cells(s)}
    assert cells["fft"][4] == "?" and cells["conv"][4] == "768"
    assert "| fft | uncounted | 1x4x8x8 | 0 | ? |" in to_markdown(s)
    csv_rows = {line.split(",")[0]: line.split(",") for line in to_csv(s).splitlines()}
    assert csv_rows["fft"][4] == "" and csv_rows["conv"][4] == "768"
    layers = {row["path"]: row for row in json.loads(s.to_json())["layers"]}
    assert layers["fft"]["macs"] is None and layers["conv"]["macs"] == 768


def test_graph_notes_are_in_the_footer() -> None:
    """Notes (unused parameters, several inputs) are printed, not only kept in the JSON."""
    from stridescope.analysis.summary_format import footer_lines

    b = GraphBuilder((1, 3, 8, 8), "nchw")
    b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
    b.note("30 parameters were not used by any traced op and are not in the node totals: w")
    lines = footer_lines(summarize(b.build()))
    assert "note: 30 parameters were not used by any traced op" in "\n".join(lines)


class Gate(nn.Module):
    """Picks per pixel between a 3x3 conv's output and the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        smooth = self.conv(x)
        return torch.where(torch.logical_or(x > 0, smooth > 0), smooth, x)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)


def test_a_select_of_several_inputs_sees_what_each_of_them_sees() -> None:
    rows = {r.path: r for r in summary(Gate(), (1, 1, 16, 16)).layers}
    assert rows["logical_or"].rf_size == (3, 3)
    assert rows["where"].rf_size == (3, 3)
