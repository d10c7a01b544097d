"""`stridescope fix`: the table and JSON, --save for both frameworks (and what the docs say
about loading it back), --select, and one-line errors with exit code 2."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import stridescope
from stridescope.cli import app
from stridescope.cli._common import console

ROOT = Path(__file__).resolve().parents[2]
KERAS_SEED = "examples/seed_cnn_keras.py:build"
TORCH_SEED = "examples/seed_cnn_torch.py:build"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console, "_width", 140)
    monkeypatch.setattr(console, "_force_terminal", False)
    yield


def _build(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("example", ROOT / path.split(":")[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def test_help_lists_the_policies_and_examples() -> None:
    result = runner.invoke(app, ["fix", "--help"])
    assert result.exit_code == 0
    for word in (
        "blurpool-first",
        "resnet-d",
        "s2d",
        "aps",
        "--filter-size",
        "--select",
        "Examples",
    ):
        assert word in result.output


def test_table_shows_changes_unchanged_layers_and_totals() -> None:
    result = runner.invoke(app, ["fix", KERAS_SEED, "--policy", "resnet-d"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{KERAS_SEED}  policy resnet-d (input (1, 32, 32, 3), nhwc)")
    row = next(line for line in lines if line.startswith("conv2d_2 "))
    assert "conv 1x1 s2, 64→64" in row and "+12,544" in row and "changed" in row
    assert "note: conv2d_2: the layer's fused relu follows the filter and is not linear" in lines
    assert any(
        line.startswith("unchanged: max_pooling2d (maxpool 2x2 s2): a max pool") for line in lines
    )
    totals = {
        line.split()[0]: line.split()[1:] for line in lines if line.startswith(("params", "MACs"))
    }
    assert totals == {
        "params": ["54,922", "54,922", "+0"],
        "MACs": ["4,153,472", "4,166,016", "+12,544"],
    }
    assert any(line.split() == ["DS101", "findings", "1", "0", "-1"] for line in lines)


def test_json_has_the_changes_and_both_totals() -> None:
    args = ["fix", TORCH_SEED, "--input", "1x3x32x32", "--policy", "blurpool", "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [c["layer"] for c in doc["changes"]] == ["2", "5"]
    assert set(doc["changes"][0]) >= {
        "layer",
        "before",
        "after",
        "delta_params",
        "delta_macs",
        "output_at_start",
    }
    # lint's findings by code: the skipping 1x1 conv and two strided ops without a low-pass;
    # the blurs that now sample remove all three
    assert doc["before"]["findings"] == {"DS101": 1, "DS401": 2}
    assert doc["after"]["findings"] == {"DS101": 0, "DS401": 0}
    assert doc["after"]["macs"] - doc["before"]["macs"] == sum(
        c["delta_macs"] for c in doc["changes"]
    )
    assert doc["before"]["input_coverage"] == 1.0 and doc["saved"] is None
    before = stridescope.summary(_build(TORCH_SEED), (1, 3, 32, 32))
    assert (
        doc["before"]["params"] == before.totals.params
        and doc["before"]["macs"] == before.totals.macs
    )


def test_select_takes_paths_and_codes_separated_by_commas() -> None:
    args = ["fix", TORCH_SEED, "-i", "1x3x32x32", "-p", "blurpool", "-s", "DS101", "-f", "json"]
    assert [c["layer"] for c in json.loads(runner.invoke(app, args).output)["changes"]] == ["5"]
    args[7] = "2,5"
    assert [c["layer"] for c in json.loads(runner.invoke(app, args).output)["changes"]] == [
        "2",
        "5",
    ]


@pytest.mark.parametrize("policy", ["blurpool", "s2d"])
def test_a_saved_state_dict_loads_into_the_rebuilt_fixed_model(policy: str, tmp_path: Path) -> None:
    path = tmp_path / "fixed.pt"
    args = ["fix", TORCH_SEED, "--input", "1x3x32x32", "--policy", policy, "--save", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"saved: {path}" in result.output.replace("\n", "")
    rebuilt = stridescope.fix(_build(TORCH_SEED), policy, input_shape=(1, 3, 32, 32)).model
    rebuilt.load_state_dict(torch.load(path, weights_only=True))
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(v, rebuilt.state_dict()[k]) for k, v in state.items())


def test_a_saved_keras_model_reloads_in_safe_mode_and_summarises(tmp_path: Path) -> None:
    path = tmp_path / "fixed.keras"
    result = runner.invoke(app, ["fix", KERAS_SEED, "--policy", "blurpool", "--save", str(path)])
    assert result.exit_code == 0, result.output
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in loaded.get_layer("conv2d_2").layers] == ["conv", "blur"]
    x = np.zeros((1, 32, 32, 3), "float32")
    assert keras.ops.convert_to_numpy(loaded(x)).shape == (1, 10)
    summary = runner.invoke(app, ["summary", str(path), "--format", "json"])
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.output)["totals"]["uncounted"] == []
    again = runner.invoke(app, ["fix", str(path), "--policy", "blurpool", "--format", "json"])
    assert json.loads(again.output)["changes"] == []  # nothing left to fix


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["examples/seed_cnn.toml", "-p", "s2d"],
            "'examples/seed_cnn.toml' is a spec file (shapes only, no weights); give FILE.py:FACTORY",
        ),
        (
            [KERAS_SEED, "-p", "blur"],
            "unknown policy 'blur'; known: blurpool, blurpool-first, resnet-d, s2d, aps",
        ),
        (
            [KERAS_SEED, "-p", "s2d", "--save", "x.pt"],
            "a Keras model saves to a .keras file; received 'x.pt'",
        ),
        ([TORCH_SEED, "-p", "s2d"], "a PyTorch model needs an input shape"),
        (
            [TORCH_SEED, "-i", "1x3x32x32", "-p", "s2d", "--save", "x.keras"],
            "a PyTorch model saves its state_dict",
        ),
        (
            [TORCH_SEED, "-i", "1x3x32x32", "-p", "s2d", "-s", "nope"],
            "select: no layer 'nope' in the model",
        ),
        (
            [KERAS_SEED, "-p", "resnet-d", "--filter-size", "4"],
            "policy 'resnet-d' takes no filter size",
        ),
        (
            [KERAS_SEED, "-p", "blurpool", "--filter-size", "9"],
            "filter size must be one of 3, 4, 5; received 9",
        ),
        (["missing.keras", "-p", "s2d"], "cannot read Keras file 'missing.keras': no such file"),
        (["model.onnx", "-p", "s2d"], "cannot read target 'model.onnx'; give FILE.py:FACTORY"),
        (
            [KERAS_SEED, "-p", "s2d", "-f", "xml"],
            "--format must be one of those allowed; received 'xml'",
        ),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["fix", *args])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}") and result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("target", "save"),
    [([KERAS_SEED], "x.pt"), ([TORCH_SEED, "-i", "1x3x32x32"], "x.keras")],
)
def test_a_save_suffix_the_model_cannot_take_is_refused_before_the_fix_runs(
    monkeypatch: pytest.MonkeyPatch, target: list[str], save: str
) -> None:
    """The suffix is checked once the model is loaded, not after the (slow) fix."""
    called: list[object] = []
    monkeypatch.setattr(stridescope.api, "fix", lambda *a, **k: called.append(a))
    result = runner.invoke(app, ["fix", *target, "-p", "s2d", "--save", save])
    assert result.exit_code == 2 and "saves" in result.output
    assert called == []
