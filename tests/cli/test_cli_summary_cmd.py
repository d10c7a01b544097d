"""`stridescope summary`: golden outputs, the three frontends agree, one-line errors (exit 2).

Rewrite the golden files with ``STRIDESCOPE_UPDATE_GOLDEN=1 pytest tests/cli``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.cli._common import console

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
SEED = "examples/seed_cnn.toml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the repository root with a 120-column console."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console, "_width", 120)
    monkeypatch.setattr(console, "_force_terminal", False)
    yield


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("STRIDESCOPE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with STRIDESCOPE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [
        ("table", "summary_seed_table.txt"),
        ("markdown", "summary_seed.md"),
        ("csv", "summary_seed.csv"),
    ],
)
def test_seed_golden(fmt: str, golden: str) -> None:
    result = runner.invoke(app, ["summary", SEED, "--format", fmt])
    assert result.exit_code == 0, result.output
    _check_golden(golden, result.output)


def test_seed_depth_one_golden() -> None:
    result = runner.invoke(app, ["summary", SEED, "--depth", "1", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    _check_golden("summary_seed_depth1.md", result.output)


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, ["summary", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def _nhwc(shape: list[int]) -> list[int]:
    return [shape[0], *shape[2:], shape[1]] if len(shape) == 4 else shape


def test_spec_torch_and_keras_give_the_same_numbers() -> None:
    spec = _json([SEED])
    torch_ = _json(["examples/seed_cnn_torch.py:build", "--input", "1x3x32x32"])
    keras_ = _json(["examples/seed_cnn_keras.py:build"])
    assert spec["totals"] == torch_["totals"] == keras_["totals"]
    assert spec["input_coverage"] == torch_["input_coverage"] == keras_["input_coverage"] == 1.0

    def numbers(data: dict[str, object], to_nhwc: bool) -> list[tuple[object, ...]]:
        rows = data["layers"]
        assert isinstance(rows, list)
        return [
            (
                _nhwc(r["output_shape"]) if to_nhwc else r["output_shape"],
                r["params"],
                r["macs"],
                r["activation_bytes"],
                r["receptive_field"],
                r["read_fraction"],
                r["flags"],
            )
            for r in rows
        ]

    assert numbers(spec, False) == numbers(torch_, True) == numbers(keras_, False)
    totals = spec["totals"]
    assert isinstance(totals, dict) and totals["params"] == 54_922


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ss_not_a_module_anywhere:build"], "cannot import module"),
        (["examples/seed_cnn_torch.py:nothing", "--input", "1x3x32x32"], "no attribute"),
        (["examples/seed_cnn_torch.py:build", "--input", "1x3x32"], "4-D input"),
        ([SEED, "--input", "1x32x32"], "4-D input"),
        ([SEED, "--input", "banana"], "is not a shape"),
        ([SEED, "--format", "yaml"], "allowed: table, json, csv, markdown"),
        ([SEED, "--depth", "0"], "--depth"),
        (["tests/golden/unknown_layer.toml"], "unknown layer"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["summary", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]


def test_factory_that_raises(tmp_path: Path) -> None:
    path = tmp_path / "raising.py"
    path.write_text("def build():\n    raise ValueError('bad config')\n")
    result = runner.invoke(app, ["summary", f"{path}:build", "--input", "1x3x8x8"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: factory '{path}:build' raised ValueError: bad config"
