"""`stridescope consistency`: the table and JSON of a model with trained weights (here: a tiny
model on scikit-learn's 8x8 digits, trained for a few steps), the PNG of the shift curve, the
same numbers as the Python API, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import stridescope
from stridescope.analysis.consistency import ConsistencyOptions
from stridescope.cli import app
from stridescope.cli._common import console
from stridescope.study.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
MODEL = """
from torch import nn

def build(num_classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes),
    )

def five():
    return build(5)
"""


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console, "_width", 120)
    monkeypatch.setattr(console, "_force_terminal", False)
    yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A model file and the state_dict of the model trained for 200 steps on digits."""
    folder = tmp_path_factory.mktemp("consistency")
    source = folder / "tiny.py"
    source.write_text(MODEL)
    target = f"{source}:build"
    model = stridescope.frontends.load_model(target)
    data = load_dataset("digits")
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        batch = slice((step * 64) % 1400, (step * 64) % 1400 + 64)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    weights = folder / "tiny.pt"
    torch.save(model.state_dict(), weights)
    return target, weights


def test_json_has_the_issue_keys_and_the_api_numbers(trained: tuple[str, Path]) -> None:
    target, weights = trained
    args = [
        "consistency",
        target,
        "--weights",
        str(weights),
        "--dataset",
        "digits",
        "--max-shift",
        "3",
        "--format",
        "json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {"accuracy", "consistency", "consistency_ci", "circular_consistency"} <= set(doc)
    assert [p["shift"] for p in doc["shift_curve"]] == [0, 1, 2, 3]
    assert set(doc["shift_curve"][0]) == {"shift", "p_correct"}
    assert doc["images"] == 360 and doc["input_shape"] == [1, 8, 8]
    assert doc["accuracy"] > 0.5  # trained: well above chance (0.1)
    report = stridescope.consistency(
        target, weights=weights, dataset="digits", options=ConsistencyOptions(max_shift=3)
    )
    assert doc == json.loads(json.dumps(report.to_dict()))


def test_table_and_plot(trained: tuple[str, Path], tmp_path: Path) -> None:
    target, weights = trained
    png = tmp_path / "curve.png"
    args = [
        "consistency",
        target,
        "--weights",
        str(weights),
        "--dataset",
        "digits",
        "--max-shift",
        "2",
        "--image-size",
        "12",
        "--plot",
        str(png),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{target} on digits: 360 test images 1x12x12, 10 classes")
    assert any(line.split()[:1] == ["accuracy"] for line in lines)
    assert any("95% CI [" in line for line in lines if line.startswith("consistency"))
    assert lines[-3].split()[-3:] == ["0", "1", "2"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and lines[-1] == f"wrote {png}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "xml"], "--format must be one of those allowed; received 'xml'"),
        (["--max-shift", "8"], "max shift must be smaller than the images (8x8); received 8"),
        (["--plot", "curve.jpg"], "--plot must name a .png file"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--weights", "missing.pt"], "cannot read weights 'missing.pt': no such file"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(
    trained: tuple[str, Path], extra: list[str], message: str
) -> None:
    target, _ = trained
    result = runner.invoke(app, ["consistency", target, "--dataset", "digits", *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_model_with_the_wrong_number_of_logits_names_the_shapes(
    trained: tuple[str, Path],
) -> None:
    target, _ = trained
    five = target.replace(":build", ":five")
    result = runner.invoke(app, ["consistency", five, "--dataset", "digits"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: the model gives logits of shape (2, 5) for images (2, 1, 8, 8); the data has "
        "10 classes: it must give one logit per class, (N, 10)"
    )


def test_a_spec_file_has_no_weights() -> None:
    result = runner.invoke(app, ["consistency", "examples/seed_cnn.toml"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: 'examples/seed_cnn.toml' is a spec file (shapes only, no weights); give "
        "FILE.py:FACTORY, package.module:ATTR or FILE.keras"
    )
