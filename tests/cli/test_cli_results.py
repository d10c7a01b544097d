"""`stridescope results OUT --format table|csv|json` on a store of synthetic runs."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.records import RunResult
from stridescope.study.store import ResultStore

RUNNER = CliRunner()


_OK = RunResult.from_dict(
    {
        **dict.fromkeys(("key", "op", "error", "finished_at"), ""),
        "arch": "seed_cnn",
        "dataset": "mnist5k",
        "seed": 0,
        "epochs": 2,
        "status": "ok",
        "test_accuracy": 0.9,
        "consistency": 0.7,
        "params": 4321,
        "macs": 98765,
        "train_seconds": 3.25,
        "images_per_second": 1234.5,
    }
)
_NO_METRICS = dict.fromkeys(
    ("test_accuracy", "consistency", "params", "macs", "train_seconds", "images_per_second")
)


def _run(op: str, seed: int, acc: float | None) -> RunResult:
    """A finished run with accuracy ``acc``, or a failed one for ``None``."""
    common = {
        "key": f"{op}-{seed}",
        "op": op,
        "seed": seed,
        "config": {"op": op, "seed": seed, "epochs": 2},
        "finished_at": "2026-01-01T00:00:00+00:00",
    }
    if acc is None:
        error = "RuntimeError: synthetic, with a, comma"
        return replace(_OK, **common, status="failed", error=error, **_NO_METRICS)
    return replace(_OK, **common, test_accuracy=acc, consistency=0.5 + acc / 4)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Made-up numbers for rendering; not measurements."""
    accs = {"conv1x1_s2": [0.90, 0.91, 0.905], "maxpool_1x1": [0.92, 0.925, None]}
    with ResultStore(tmp_path / "results.sqlite") as store:
        for op, values in accs.items():
            for seed, acc in enumerate(values):
                store.record(_run(op, seed, acc))
    return tmp_path


def test_json_lists_every_run(out: Path) -> None:
    result = RUNNER.invoke(app, ["results", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["op"], r["seed"]) for r in runs][:2] == [("conv1x1_s2", 0), ("conv1x1_s2", 1)]
    assert runs[0]["test_accuracy"] == 0.90 and runs[0]["macs"] == 98765
    assert runs[-1]["status"] == "failed" and runs[-1]["test_accuracy"] is None
    assert RunResult.from_dict(runs[0]) == _run("conv1x1_s2", 0, 0.90)


def test_csv_has_one_row_per_run(out: Path) -> None:
    result = RUNNER.invoke(app, ["results", str(out / "results.sqlite"), "-f", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 6
    assert rows[0]["op"] == "conv1x1_s2" and float(rows[0]["test_accuracy"]) == 0.90
    assert rows[5]["error"] == "RuntimeError: synthetic, with a, comma"
    assert rows[5]["test_accuracy"] == "" and json.loads(rows[5]["config"])["seed"] == 2


def test_table_shows_cis_comparison_and_failures(out: Path) -> None:
    result = RUNNER.invoke(app, ["results", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "0.905 ± 0.012" in text  # conv1x1_s2: mean 0.905, t(2)·sd/√3 = 0.0124
    assert "maxpool_1x1" in text and "2 (+1 failed)" in text
    # paired over seeds 0 and 1: differences 0.020, 0.015; t(1) = 12.71 makes the CI wide
    assert "+0.018 [-0.014, +0.049] not significant" in text
    assert "failed: maxpool_1x1 seed 2" in text and "6 runs: 5 ok, 1 failed" in text


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing", "no such folder"), ("empty", "no results.sqlite in")],
)
def test_missing_store_is_one_line_exit_2(tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    result = RUNNER.invoke(app, ["results", str(tmp_path / where)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_baseline_option(out: Path) -> None:
    other = RUNNER.invoke(app, ["results", str(out), "--baseline", "maxpool_1x1"])
    assert other.exit_code == 0, other.output
    assert "operator − maxpool_1x1" in other.stdout
    bad = RUNNER.invoke(app, ["results", str(out), "--baseline", "conv9"])
    assert bad.exit_code == 2
    assert "--baseline 'conv9' is not an operator of this study; its operators: conv1x1_s2, " in (
        bad.stderr
    )


def test_default_baseline_is_the_first_operator_without_conv1x1_s2(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "results.sqlite") as store:
        for op in ("avgpool", "maxpool"):
            for seed in range(2):
                store.record(_run(op, seed, 0.8 + seed / 100 + (op == "maxpool") / 50))
    result = RUNNER.invoke(app, ["results", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "operator − avgpool" in result.stdout and "+0.020" in result.stdout


@pytest.mark.parametrize(
    ("accs", "reason"),
    [
        ({"conv1x1_s2": [0.9, 0.91]}, "no operator other than conv1x1_s2 has finished runs"),
        ({"conv1x1_s2": [None], "maxpool_1x1": [0.9]}, "no finished conv1x1_s2 runs"),
    ],
)
def test_why_nothing_was_compared(
    tmp_path: Path, accs: dict[str, list[float | None]], reason: str
) -> None:
    """A study of the baseline alone has finished baseline runs: saying it has none was wrong."""
    with ResultStore(tmp_path / "results.sqlite") as store:
        for op, values in accs.items():
            for seed, acc in enumerate(values):
                store.record(_run(op, seed, acc))
    result = RUNNER.invoke(app, ["results", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"No operator could be compared: {reason}." in result.stdout
