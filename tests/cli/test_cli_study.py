"""`stridescope study` from the command line: a small study, and bad input as one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

runner = CliRunner()


def test_a_small_study_prints_the_table_the_comparison_and_the_report(tmp_path: Path) -> None:
    args = ["study", "--dataset", "digits", "--ops", "conv1x1_s2,conv3x3_s2", "--seeds", "2"]
    args += ["--epochs", "1", "--workers", "1", "--out", str(tmp_path)]
    result = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert "conv3x3_s2" in result.output and "significant" in result.output
    assert str((tmp_path / "report.html").resolve()) in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "4 of 4 runs already finished: skipped" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ops", "conv1x1_s2,conv9"], "unknown operator 'conv9'; known: "),
        (["--arch", "vgg"], "unknown architecture 'vgg'; known: seed-cnn, resnet-mini"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'; known: mnist5k"),
        (["--epochs", "0"], "epochs must be positive; received 0"),
        (["--ops", " , "], "--ops needs operator names separated by commas"),
        (["--preset", "c", "--arch", "resnet-mini"], "unknown resnet-mini preset 'c'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["study", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_config_file_with_a_wrong_key(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("dataset = 'digits'\nseed = 3\n", encoding="utf-8")
    result = runner.invoke(app, ["study", str(config), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown study config key 'seed'; allowed keys:" in result.output
