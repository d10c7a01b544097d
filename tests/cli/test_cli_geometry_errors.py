"""A layer whose kernel is larger than its padded input, through every command that reads a
model or a layer: exit code 2, one line on stderr that names the layer, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(Path(sys.executable).parent / "stridescope")
runner = CliRunner()

TOO_WIDE = """from collections import OrderedDict

from torch import nn


def too_wide(c_in, c_out):
    return nn.Sequential(OrderedDict(wide=nn.Conv2d(c_in, c_out, 9, stride=2)))
"""


@pytest.mark.parametrize("command", ["summary", "coverage"])
@pytest.mark.parametrize(
    ("target", "shape", "names"),
    [
        ("examples/seed_cnn_torch.py:build", "1x3x6x6", "layer '3': output size would be 0"),
        ("examples/seed_cnn_keras.py:build", "1x6x6x3", "layer 'conv2d_1': output size would be"),
        ("examples/seed_cnn.toml", "1x2x2x3", "layer 'conv2d': output size would be 0"),
    ],
    ids=["pytorch", "keras", "spec"],
)
def test_summary_and_coverage(command: str, target: str, shape: str, names: str) -> None:
    _assert_one_line(runner.invoke(app, [command, target, "--input", shape]), names)


def test_layer() -> None:
    result = runner.invoke(app, ["layer", "Conv2D(16, 7, name='wide')", "--input", "1x5x5x3"])
    _assert_one_line(result, "Conv2D(16, 7, name='wide') on input (1, 5, 5, 3): output size")


def test_compare_with_a_users_operator(tmp_path: Path) -> None:
    path = tmp_path / "wide.py"
    path.write_text(TOO_WIDE, encoding="utf-8")
    args = ["compare", "--input", "3x8x8", "--out-channels", "4", "--ops", f"{path}:too_wide"]
    _assert_one_line(runner.invoke(app, args), "layer 'wide': output size would be 0")


def test_a_keras_model_in_a_fresh_process_has_no_traceback() -> None:
    """The case seen in the wild: a Keras model summarised on an input too small for it."""
    proc = subprocess.run(
        [SCRIPT, "summary", "examples/seed_cnn_keras.py:build", "--input", "1x6x6x3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=180,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: layer 'conv2d_1': output size would be 0")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def _assert_one_line(result: object, names: str) -> None:
    exit_code = getattr(result, "exit_code", None)
    stderr = str(getattr(result, "stderr", ""))
    assert exit_code == 2, getattr(result, "output", "")
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert names in lines[0] and "Traceback" not in stderr
