"""`stridescope compare`: table, JSON, CSV, plots, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.ops import op_names

runner = CliRunner()
FAST = ["--latency-time", "0.002", "--images", "1"]


def test_table_lists_every_operator_with_every_metric() -> None:
    result = runner.invoke(app, ["compare", "--input", "3x8x8", "--out-channels", "8", *FAST])
    assert result.exit_code == 0, result.output
    for name in op_names():
        assert name in result.output
    for head in ("aliasing", "recov.", "shift 1px", "fwd+bwd ms"):
        assert head in result.output


def test_json_and_csv(tmp_path: Path) -> None:
    args = ["compare", "-i", "3x12x12", "-c", "4", "--ops", "conv1x1_s2,s2d_conv1x1", *FAST]
    result = runner.invoke(app, [*args, "--format", "json", "--plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [op["name"] for op in record["ops"]] == ["conv1x1_s2", "s2d_conv1x1"]
    assert record["ops"][0]["output_shape"] == [4, 6, 6]
    for png in ("frequency_response.png", "read_grids.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = runner.invoke(app, [*args, "--format", "csv"]).stdout.strip().splitlines()
    assert rows[0].startswith("name,output_shape,params,macs,read_fraction,recoverable")
    assert rows[1].startswith("conv1x1_s2,4x6x6,16,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ops", "conv9"], "unknown operator 'conv9'; known: conv1x1_s2"),
        (["--input", "3x64"], "--input must be C x H x W"),
        (["--input", "3x3x3"], "compare needs H and W >= 4"),
        (["--out-channels", "0"], "--out-channels must be positive"),
        (["--format", "xml"], "--format 'xml' is not known; allowed: table, json, csv"),
        (["--device", "tpu"], "device must be one of cpu, cuda"),
        (["--images", "9"], "image count must be between 1 and 8"),
        (["--latency-time", "nan"], "latency time must be a number of seconds in (0, 60]"),
        (["--input", "5000x8x8"], "compare measures input channels up to 4096"),
        (["--device", "cuda", "--ops", "conv1x1_s2,conv9"], "unknown operator 'conv9'"),
        (["--plot", "/dev/null/plots"], "cannot write plots to '/dev/null/plots'"),
        (["--ops", "aps_conv1x1,dwsep_s2,aps_conv1x1"], "operator 'aps_conv1x1' is listed twice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["compare", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")  # nothing before it: no progress bar yet
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["compare", "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output
    assert "stridescope compare --input 3x64x64 --out-channels 16" in result.output


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from stridescope.cli._common import err_console

    args = ["compare", "-i", "3x8x8", "-c", "4", "--ops", "conv1x1_s2,aps_conv1x1", *FAST]
    hide_cursor = "\x1b[?25l"  # rich hides the cursor while a live bar runs
    piped = runner.invoke(app, args)
    assert piped.exit_code == 0 and hide_cursor not in piped.output  # no bar into a pipe
    monkeypatch.setattr(err_console, "_force_terminal", True)
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert hide_cursor in shown.output
