"""`stridescope lint`: the table grouped by rule, JSON, exit codes 0/1/2 by --fail-on, the
three frontends agree, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.cli._common import console
from stridescope.surgery import fix_cost

ROOT = Path(__file__).resolve().parents[2]
SEED = "examples/seed_cnn.toml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the repository root with a 120-column console."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console, "_width", 120)
    monkeypatch.setattr(console, "_force_terminal", False)
    yield


def test_seed_table_groups_findings_by_rule() -> None:
    result = runner.invoke(app, ["lint", SEED])
    assert result.exit_code == 1, result.output  # a warning, and --fail-on warning
    lines = result.output.splitlines()
    assert lines[0] == "examples/seed_cnn.toml  input 1x32x32x3 (nhwc)"
    titles = [line for line in lines if line.startswith("DS")]
    assert titles == [
        "DS101 skipped input (warning, 1 finding)",
        "DS401 aliasing (info, 2 findings)",
    ]
    row = next(line for line in lines if line.startswith("conv2d_2") and "29%" in line)
    assert "reads 29% of its input" in row and row.rstrip().endswith("resnet-d")
    assert "conv2d_1 spends 2,211,840 MACs" in result.output
    assert lines[-1] == "0 errors, 1 warning, 2 info; input coverage 100%; fails --fail-on warning"


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ([], 1),
        (["--fail-on", "error"], 0),
        (["--fail-on", "never"], 0),
        (["--fail-on", "info", "--select", "DS4"], 1),
        (["--fail-on", "warning", "--select", "DS4"], 0),
        (["--fail-on", "error", "--severity", "DS101=error"], 1),
        (["--severity", "DS1=info", "--severity", "DS4=info"], 0),
        (["--ignore", "DS1,DS4"], 0),
    ],
)
def test_exit_code_follows_fail_on(options: list[str], code: int) -> None:
    result = runner.invoke(app, ["lint", SEED, *options])
    assert result.exit_code == code, result.output


def test_no_findings() -> None:
    result = runner.invoke(app, ["lint", SEED, "--ignore", "DS"])
    assert result.exit_code == 0
    assert "no findings" in result.output
    assert result.output.splitlines()[-1].endswith("passes --fail-on warning")


def test_json_record() -> None:
    result = runner.invoke(app, ["lint", SEED, "--format", "json", "--select", "DS101"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["counts"] == {"error": 0, "warning": 1, "info": 0}
    assert data["input_coverage"] == 1.0
    (finding,) = data["findings"]
    assert (finding["code"], finding["layer"], finding["policy"]) == (
        "DS101",
        "conv2d_2",
        "resnet-d",
    )
    # the fix's cost is what `stridescope fix` reports for the layer: an average pool of
    # 2x2 per output and 64 channels, the 1x1 at stride 1 costs what it did
    cost = fix_cost(SEED, "resnet-d", "conv2d_2")
    assert cost is not None and cost.delta_macs == 7 * 7 * 64 * 4
    assert finding["fix"] == {
        "policy": "resnet-d",
        "delta_params": 0,
        "delta_macs": 12544,
        "adds": [],
    }
    assert finding["evidence"]["producers"][0]["read_positions"] == 49


def test_the_three_frontends_agree() -> None:
    targets = {
        "spec": [SEED],
        "keras": ["examples/seed_cnn_keras.py:build"],
        "torch": ["examples/seed_cnn_torch.py:build", "--input", "1x3x32x32"],
    }
    found = {}
    for name, args in targets.items():
        result = runner.invoke(app, ["lint", *args, "--format", "json", "--ignore", "DS4"])
        assert result.exit_code == 1, result.output
        findings = json.loads(result.output)["findings"]
        found[name] = [
            (f["code"], f["evidence"]["read_fraction"], f["evidence"]["wasted_macs"])
            for f in findings
        ]
    assert found["spec"] == found["keras"] == found["torch"] == [("DS101", 49 / 169, 2_211_840)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SEED, "--select", "DS9"], "unknown lint code 'DS9'; known: DS001, DS101"),
        ([SEED, "--ignore", "X1"], "unknown lint code 'X1'"),
        ([SEED, "--format", "xml"], "--format must be one of those allowed; received 'xml'"),
        ([SEED, "--fail-on", "fatal"], "--fail-on must be one of those allowed; received 'fatal'"),
        (
            [SEED, "--severity", "DS201=loud"],
            "severity of DS201 must be one of error, warning, info",
        ),
        ([SEED, "--severity", "DS201"], "a severity override is CODE=LEVEL"),
        (["no_such.toml"], "no_such.toml"),
        (["examples/seed_cnn_torch.py:build"], "input"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["lint", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_help_shows_examples_and_rules() -> None:
    result = runner.invoke(app, ["lint", "--help"], terminal_width=100)
    assert result.exit_code == 0
    for text in ("--fail-on", "--severity", "Examples", "DS101 skipped input", "Exit code 0"):
        assert text in result.output


def test_the_console_script_exits_1_on_findings_and_2_on_bad_input() -> None:
    """Through the entry point a CI job calls (not the test runner): 1, 0 and 2."""
    code = "from stridescope.cli import main; main()"
    base = [sys.executable, "-c", code, "lint", SEED, "--select", "DS1"]
    found = subprocess.run(base, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert found.returncode == 1, found.stderr
    clean = subprocess.run(
        [*base, "--fail-on", "error"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert clean.returncode == 0, clean.stderr
    bad = subprocess.run(
        [*base, "--fail-on", "loud"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: --fail-on must be one of")
