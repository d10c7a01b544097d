"""`stridescope study --model`: a small study of a model file from the command line, and bad
input as one-line errors with exit code 2 before any output."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

runner = CliRunner()

NET = """
from torch import nn


def build(num_classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
    )


def keras_model():
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
"""


@pytest.fixture
def net(tmp_path: Path) -> str:
    path = tmp_path / "net.py"
    path.write_text(NET, encoding="utf-8")
    return str(path)


def test_a_model_study_compares_each_policy_with_original(net: str, tmp_path: Path) -> None:
    args = ["study", "--dataset", "digits", "--model", f"{net}:build"]
    args += ["--policies", "original,s2d", "--select", "DS101", "--seeds", "2", "--epochs", "1"]
    args += ["--workers", "1", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert f"study: {net}:build on digits, 2 policies x 2 seeds, 1 epoch" in result.output
    assert "Paired by seed: policy − original" in result.output
    assert "Per policy (95% Student-t intervals)" in result.output
    assert "s2d seed 1: accuracy" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policies", "original,s2d"], "policies apply to a study of your own model; give model"),
        (["--image-size", "16"], "image_size apply to a study of your own model"),
        (["--model", "{net}:build", "--policies", "original,blur"], "unknown policy 'blur'"),
        (["--model", "{net}:build", "--policies", " , "], "--policies needs policy names"),
        (["--model", "{net}:build", "--ops", "conv1x1_s2"], "compares policies, not"),
        (["--model", "{net}:nope"], "has no attribute 'nope'; it has: build, keras_model, nn"),
        (["--model", "{net}:keras_model"], "builds a Keras model; a study trains PyTorch models"),
    ],
)
def test_bad_model_input_is_one_line_and_exit_code_2(
    net: str, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [arg.replace("{net}", net) for arg in args]
    result = runner.invoke(app, ["study", "--dataset", "digits", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
