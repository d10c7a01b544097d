"""`stridescope coverage`: text, JSON, a readable PNG, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stridescope.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

CHECKER = 'input = "1x12x12x1"\nlayers = ["Conv2D(2, 1, strides=2)", "Conv2D(2, 3)"]\n'


@pytest.fixture
def checker(tmp_path: Path) -> Path:
    path = tmp_path / "checker.toml"
    path.write_text(CHECKER)
    return path


def test_text_shows_the_checkerboard(checker: Path) -> None:
    result = runner.invoke(app, ["coverage", str(checker)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "25.0% of the 12x12 input pixels can influence the output (108 never read)" in lines[0]
    assert "min 1, max 9" in lines[1]
    grid = lines[3:]
    assert grid[0].split() == ["1", ".", "2", ".", "3", ".", "3", ".", "2", ".", "1", "."]
    assert set(grid[1].split()) == {"."}


def test_json_counts(checker: Path) -> None:
    result = runner.invoke(app, ["coverage", str(checker), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    counts = np.array(data["counts"])
    assert counts.shape == (12, 12) and data["fraction"] == 0.25
    assert counts[::2, ::2].min() >= 1 and counts[1::2].sum() == 0


def test_png_is_a_readable_heatmap(checker: Path, tmp_path: Path) -> None:
    import matplotlib.image

    out = tmp_path / "cov.png"
    result = runner.invoke(app, ["coverage", str(checker), "--png", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 400
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["examples/seed_cnn.toml", "--png", "out.jpg"], "--png must name a .png file"),
        (["examples/seed_cnn.toml", "--format", "html"], "allowed: text, json"),
        (["examples/seed_cnn_torch.py:build"], "needs an input shape"),
        (["tests/golden/unknown_layer.toml"], "unknown layer"),
        (["examples/seed_cnn.toml", "--input", "1x12000x12000x3"], "more than 134,217,728"),
        (["examples/conv1x1_s2.toml", "--input", "1x99999x99999x3"], "too large to compute"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["coverage", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
