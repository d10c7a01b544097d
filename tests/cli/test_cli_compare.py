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


def test_a_signal_gets_the_1d_zoo_an_aliasing_column_per_source_and_sample_words(
    tmp_path: Path,
) -> None:
    args = ["compare", "-i", "1x256", "-c", "4", "--sources", "chirp,noise", *FAST]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    for head in ("alias chirp", "alias noise", "shift 1 sample", "read"):
        assert head in table.output
    assert "pixel" not in table.output and "1px" not in table.output
    row = next(line for line in table.output.splitlines() if "conv1x1_s2" in line)
    assert [cell.strip() for cell in row.split("│")][1:6] == [
        "conv1x1_s2",
        "4x128",
        "8",
        "512",
        "50%",
    ]
    result = runner.invoke(app, [*args, "-f", "json", "--plot", str(tmp_path)])
    record = json.loads(result.stdout)
    assert record["position_unit"] == "samples" and record["sources"] == ["chirp", "noise"]
    assert record["ops"][0]["read_fraction"] == 0.5 and record["ops"][0]["recoverable"] == 0.5
    for png in ("frequency_response.png", "read_grids.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()
    assert "shift_one_position" in rows[0] and rows[1].startswith("conv1x1_s2,4x128,")


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
        (["--input", "3x64x64x2"], "--input must be C x L (a signal) or C x H x W"),
        (["--input", "1x2"], "compare needs L >= 4"),
        (["--input", "1x300000"], "compare measures L up to 262144; received 300000"),
        (["--input", "1x64", "--sources", "speech,radio"], "signal sources must be distinct"),
        (["--input", "1x64", "--signals", "0"], "signal count must be between 1 and 8"),
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


MY_OPS = '''
"""A user's downsampling layers."""
from torch import nn


class Slice(nn.Module):
    def forward(self, x):
        return x[:, :, ::2, ::2]


def subsample(c_in, c_out):
    """x[:, :, ::2, ::2] then a 1x1 conv: the seed's conv, written as slicing."""
    return nn.Sequential(Slice(), nn.Conv2d(c_in, c_out, 1))


def blur_then_pick(c_in, c_out):
    return nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(c_in, c_out, 1))


def quarter(c_in, c_out):
    return nn.Conv2d(c_in, c_out, 1, stride=4)


def broken(c_in, c_out):
    raise ValueError("no such layer today")


def conv1x1_s2(c_in, c_out):
    return nn.Conv2d(c_in, c_out, 1, stride=2)


answer = 42
'''


def test_your_own_operator_is_measured_beside_the_zoo(tmp_path: Path) -> None:
    """``FILE.py:FACTORY`` in ``--ops``: traced by the PyTorch frontend, measured like the
    zoo; the seed's conv written as slicing gets the zoo's numbers."""
    mine = tmp_path / "my_ops.py"
    mine.write_text(MY_OPS, encoding="utf-8")
    ops = f"conv1x1_s2,{mine}:subsample,{mine}:blur_then_pick"
    args = ["compare", "-i", "3x12x12", "-c", "4", "--ops", ops, "--format", "json", *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = {op["name"]: op for op in json.loads(result.stdout)["ops"]}
    assert list(records) == ["conv1x1_s2", "subsample", "blur_then_pick"]
    seed, copy = records["conv1x1_s2"], records["subsample"]
    for key in ("output_shape", "params", "macs", "read_fraction", "recoverable"):
        assert copy[key] == seed[key], key
    assert copy["doc"].startswith("x[:, :, ::2, ::2] then a 1x1 conv")
    assert records["blur_then_pick"]["read_fraction"] == 1.0
    assert records["blur_then_pick"]["doc"] == "a user's operator"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("quarter", "maps 3x12x12 to 4x3x3; compare measures downsampling to 4 x H/2 x W/2"),
        ("broken", "factory(3, 4) raised ValueError: no such layer today"),
        ("answer", "is int; expected a factory(in_channels, out_channels)"),
        ("conv1x1_s2", "operator name 'conv1x1_s2'"),
        ("missing", "has no attribute 'missing'"),
    ],
)
def test_a_bad_operator_of_your_own_is_one_line_exit_2(
    tmp_path: Path, factory: str, message: str
) -> None:
    mine = tmp_path / "my_ops.py"
    mine.write_text(MY_OPS, encoding="utf-8")
    result = runner.invoke(
        app, ["compare", "-i", "3x12x12", "-c", "4", "--ops", f"{mine}:{factory}"]
    )
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_the_maxblurpool_example_runs_beside_the_zoo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    ops = "maxpool_conv1x1,examples/maxblurpool.py:max_blur_pool"
    args = ["compare", "-i", "3x16x16", "-c", "8", "--ops", ops, "--format", "json", *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pool, mine = json.loads(result.stdout)["ops"]
    assert mine["name"] == "max_blur_pool" and mine["output_shape"] == [8, 8, 8]
    assert mine["params"] == pool["params"] == 3 * 8 + 8
    # 2x2 max at stride 1 (edge replicated: 16 -> 16, 4 reads each), 3x3 blur at stride 2, 1x1
    assert mine["macs"] == 3 * 16 * 16 * 4 + 3 * 8 * 8 * 9 + 8 * 8 * 8 * 3
    assert mine["aliasing"] < pool["aliasing"]
