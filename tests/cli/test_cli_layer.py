"""`stridescope layer`: the seed command, JSON output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.cli._common import console

SEED = [
    "layer",
    "Conv2D(filters=16, kernel_size=1, strides=2, padding='same')",
    "--input",
    "1x32x32x3",
    "--compare",
    "MaxPool2D(pool_size=2)",
]
runner = CliRunner()
SCRIPT = str(Path(sys.executable).parent / "stridescope")


def test_seed_json() -> None:
    result = runner.invoke(app, [*SEED, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "layers": [
            {
                "expr": "Conv2D(filters=16, kernel_size=1, strides=2, padding='same')",
                "output_shape": [1, 16, 16, 16],
                "params": 64,
                "macs": 12288,
                "read_fraction": 0.25,
                "padding": [[0, 0], [0, 0]],
            },
            {
                "expr": "MaxPool2D(pool_size=2)",
                "output_shape": [1, 16, 16, 3],
                "params": 0,
                "macs": 3072,
                "read_fraction": 1.0,
                "padding": [[0, 0], [0, 0]],
            },
        ]
    }


def test_seed_table_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_width", 80)  # an 80-column terminal
    result = runner.invoke(app, SEED)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for fragment in ("(1, 16, 16, 16)", "(1, 16, 16, 3)", "NHWC", "25%", "100%", "12,288"):
        assert fragment in out
    assert max(len(line) for line in out.splitlines()) <= 80
    pictures = [line for line in out.splitlines() if line.startswith(("█", "·"))]
    assert pictures[0].split("   ") == ["█ · █ · █ · █ ·", "█ █ █ █ █ █ █ █"]
    assert pictures[1].split("   ") == ["· · · · · · · ·", "█ █ █ █ █ █ █ █"]
    assert len(pictures) == 8


def test_torch_expression_reads_the_input_in_its_own_layout() -> None:
    result = runner.invoke(
        app,
        [
            "layer",
            "nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1)",
            "--input",
            "1,3,15,15",
            "--compare",
            "AveragePooling2D(3, strides=2, padding='same')",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    torch_layer, keras_layer = json.loads(result.stdout)["layers"]
    assert torch_layer["output_shape"] == [1, 16, 8, 8]
    assert torch_layer["padding"] == [[1, 1], [1, 1]]
    assert keras_layer["output_shape"] == [1, 8, 8, 3]  # NCHW input permuted to NHWC for Keras
    assert keras_layer["padding"] == [[1, 1], [1, 1]]


def test_layout_option_overrides_the_default() -> None:
    result = runner.invoke(
        app, ["layer", "MaxPool2D(2)", "--input", "1x3x8x6", "--layout", "nchw", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output_shape"] == [1, 4, 3, 3]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["layer", "Conv2D(16, 1)", "--input", "32x-1x3"], "--input must be positive sizes"),
        (["layer", "Conv2D(16, 1)", "--input", "1x99999999999x99999999999x3"], "too large"),
        (["layer", "Conv2D(16, 1", "--input", "1x32x32x3"], "cannot parse layer expression"),
        (["layer", "Conv2D(16, 7)", "--input", "1x5x5x3"], "output size would be 0 for input=5"),
        (["layer", "Conv2D(16, 1)", "--input", "1x32x3"], "Conv2D needs a 4-D input"),
        (["layer", "Conv9D(1)", "--input", "1x8x8x3"], "unknown layer 'Conv9D'"),
        (["layer", "MaxPool2D()", "--input", "1x8x8x3", "--format", "xml"], "--format must be"),
        (["layer", "MaxPool2D()", "--input", "1x8x8x3", "--layout", "nwhc"], "--layout must be"),
        (["layer", "nn.Conv2d(4, 8, 3)", "--input", "1x3x8x8"], "in_channels=4"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_subprocess_error_has_no_traceback() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [SCRIPT, "layer", "Conv2D(16, 7)", "--input", "1x5x5x3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_help_states_the_mac_convention() -> None:
    result = runner.invoke(app, ["layer", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "1 multiply-add = 1 MAC" in " ".join(result.stdout.split())


def test_transposed_conv_reports_the_padding_it_declares() -> None:
    expr = "nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)"
    result = runner.invoke(app, ["layer", expr, "--input", "1x8x16x16", "--format", "json"])
    assert result.exit_code == 0, result.output
    (layer,) = json.loads(result.output)["layers"]
    assert layer["output_shape"] == [1, 4, 32, 32]
    assert layer["padding"] == [[1, 1], [1, 1]]
