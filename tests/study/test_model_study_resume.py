"""A study of the user's own model killed with SIGKILL mid-study resumes with nothing lost or
duplicated: the runs it finished are kept as they were, the others run once."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from stridescope.study.config import StudyConfig, plan_runs
from stridescope.study.runner import run_study
from stridescope.study.validate import validate_study
from tests.study.study_kill import kill_after_first_run

NET = """
from torch import nn


def build(num_classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),
    )
"""


def _rows(db: Path) -> dict[str, tuple[str, str, float]]:
    with sqlite3.connect(db) as con:
        query = "SELECT key, op, finished_at, train_seconds FROM runs"
        return {k: (op, f, t) for k, op, f, t in con.execute(query)}


def test_sigkill_mid_model_study_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    net = tmp_path / "net.py"
    net.write_text(NET, encoding="utf-8")
    out = tmp_path / "killed"
    db = out / "results.sqlite"
    args = [sys.executable, "-c", "from stridescope.cli import main; main()", "study"]
    args += ["--dataset", "digits", "--model", f"{net}:build", "--policies", "original,s2d"]
    args += ["--seeds", "2", "--epochs", "3", "--workers", "1", "--out", str(out)]
    kill_after_first_run(args, db)
    survived = _rows(db)
    assert 1 <= len(survived) < 4
    cfg = StudyConfig(
        dataset="digits",
        model=f"{net}:build",
        policies=("original", "s2d"),
        seeds=(0, 1),
        epochs=3,
        workers=1,
        out=str(out),
    )
    outcome = run_study(cfg)
    assert (outcome.skipped, outcome.ran) == (len(survived), 4 - len(survived))
    after = _rows(db)
    planned = plan_runs(validate_study(cfg).config)
    assert set(after) == {spec.key for spec in planned}
    assert {k: after[k] for k in survived} == survived  # finished runs were not retrained
    assert sorted(op for op, _, _ in after.values()) == ["original", "original", "s2d", "s2d"]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone() == (4, 4)
