"""A forward that reads tensor values part-way (a detector's mask paste sized by
``int(box[2] - box[0])``, a keypoint decoder's ``.item()``) is refused in one line that says
after which op; with ``partial=True`` (``--partial``) the ops traced before it are the
summary, with a note that says where it stopped (until 2026-12-07 there was no way to see
them but to summarise a sub-module by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import stridescope
from stridescope.cli import app
from stridescope.errors import StridescopeError

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "keypoint_decoder.py"


class Pasted(nn.Module):
    """A head, then a box read as Python ints that size a crop (a mask pasted in a box)."""

    def __init__(self, branch_on_weights: bool = False) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.box = nn.Linear(8, 4)
        self.branch_on_weights = branch_on_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        if self.branch_on_weights and bool(self.box.weight.abs().sum() > 0):  # (exact run)
            f = f.relu()
        box = self.box(f.mean((2, 3)))[0]
        w = int(box[2] - box[0]) % 4 + 1
        return f[..., :w]


def test_a_value_read_is_refused_and_says_how_to_see_the_ops_before_it() -> None:
    with pytest.raises(StridescopeError, match=r"int\(tensor\).*partial=True \(--partial\)"):
        stridescope.summary(Pasted(), (1, 3, 16, 16))


@pytest.mark.parametrize("branch_on_weights", [False, True])
def test_partial_summarises_the_ops_before_the_read(branch_on_weights: bool) -> None:
    model = Pasted(branch_on_weights)
    summary = stridescope.summary(model, (1, 3, 16, 16), partial=True)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert summary.layers[0].path == "body" and summary.layers[0].macs == 8 * 27 * 8 * 8
    assert "box" in [r.path for r in summary.layers]
    (note,) = [n for n in summary.notes if n.startswith("partial summary")]
    assert "int(tensor)" in note and "not in the totals" in note
    assert not any("discards" in n for n in summary.notes)  # (what it stopped at is kept)


def test_partial_changes_nothing_where_the_forward_traces_whole() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    whole = stridescope.summary(net, (1, 3, 8, 8))
    assert stridescope.summary(net, (1, 3, 8, 8), partial=True) == whole


class Raising(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> Any:
        raise RuntimeError(f"unsupported {self.conv(x).shape[1]}")


def test_partial_keeps_other_errors() -> None:
    with pytest.raises(StridescopeError, match="raised RuntimeError: unsupported 4"):
        stridescope.summary(Raising(), (1, 3, 8, 8), partial=True)


def test_partial_lint_reads_the_same_ops() -> None:
    report = stridescope.lint(Pasted(), (1, 3, 16, 16), partial=True)
    assert [f.layer for f in report.findings if f.code == "DS401"] == ["body"]


def test_the_cli_summary_and_lint_take_partial() -> None:
    runner = CliRunner()
    target = [f"{EXAMPLE}:build", "--input", "1x3x64x64"]
    refused = runner.invoke(app, ["summary", *target])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert "--partial" in refused.output
    result = runner.invoke(app, ["summary", *target, "--partial"], terminal_width=250)
    assert result.exit_code == 0 and "note: partial summary" in result.output
    linted = runner.invoke(app, ["lint", *target, "--partial", "--fail-on", "never"])
    assert linted.exit_code == 0 and "DS401" in linted.output


def test_the_example_stops_where_its_docstring_says() -> None:
    spec = importlib.util.spec_from_file_location("keypoint_decoder", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build()
    assert model(torch.randn(1, 3, 64, 64)).shape == (4, 16)
    summary = stridescope.summary(model, (1, 3, 64, 64), partial=True)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert any(".item()" in n for n in summary.notes)
