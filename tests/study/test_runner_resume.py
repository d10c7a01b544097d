"""Whole studies: recording, skipping finished runs, SIGKILL resume, parallel workers, failures."""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.ops import OPS
from stridescope.study.config import StudyConfig, plan_runs
from stridescope.study.data import DatasetRef
from stridescope.study.execute import execute_run
from stridescope.study.executors import LocalExecutor
from stridescope.study.runner import StudyProgress, run_study
from tests.study.study_kill import kill_after_first_run

SMALL = StudyConfig(
    dataset="digits",
    ops=("conv1x1_s2", "maxpool_conv1x1"),
    seeds=(0, 1),
    epochs=1,
    workers=1,
)


def _rows(db: Path) -> dict[str, tuple[str, float]]:
    with sqlite3.connect(db) as con:
        return {
            k: (f, t) for k, f, t in con.execute("SELECT key, finished_at, train_seconds FROM runs")
        }


def test_a_study_records_every_run_reports_and_a_rerun_skips_them(tmp_path: Path) -> None:
    cfg = replace(SMALL, out=str(tmp_path))
    events: list[StudyProgress] = []
    outcome = run_study(cfg, on_progress=events.append)
    assert (outcome.ran, outcome.skipped, outcome.failed) == (4, 0, 0)
    assert [e.done for e in events] == [0, 1, 2, 3, 4] and events[0].to_run == 4
    assert outcome.report_html.is_file() and outcome.report_markdown.is_file()
    assert "conv1x1_s2" in outcome.report_html.read_text(encoding="utf-8")
    assert [row.op for row in outcome.summary.rows] == ["conv1x1_s2", "maxpool_conv1x1"]
    assert outcome.summary.rows[1].accuracy_vs_baseline is not None
    before = _rows(tmp_path / "results.sqlite")
    again = run_study(cfg)
    assert (again.ran, again.skipped) == (0, 4)
    assert _rows(tmp_path / "results.sqlite") == before
    # another --workers changes each run's thread count, not what the run is: still skipped
    other_workers = run_study(replace(cfg, workers=2), LocalExecutor(1))
    assert (other_workers.ran, other_workers.skipped) == (0, 4)
    fresh = run_study(cfg, fresh=True)
    assert fresh.ran == 4


def test_sigkill_mid_study_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    db = out / "results.sqlite"
    args = [sys.executable, "-c", "from stridescope.cli import main; main()", "study"]
    args += ["--dataset", "digits", "--ops", "conv1x1_s2,maxpool_conv1x1", "--seeds", "2"]
    args += ["--epochs", "4", "--workers", "1", "--out", str(out)]
    kill_after_first_run(args, db, timeout=60)
    survived = _rows(db)
    assert 1 <= len(survived) < 4
    cfg = replace(SMALL, epochs=4, out=str(out))
    outcome = run_study(cfg)
    assert (outcome.skipped, outcome.ran) == (len(survived), 4 - len(survived))
    after = _rows(db)
    assert set(after) == {spec.key for spec in plan_runs(cfg)}
    assert {k: after[k] for k in survived} == survived  # finished runs were not retrained
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone() == (4, 4)


def test_process_pool_gives_the_same_results_as_in_process() -> None:
    specs = plan_runs(replace(SMALL, workers=2), cores=2)[:2]
    results = []
    LocalExecutor(workers=2).map(specs, DatasetRef("digits"), results.append)
    assert sorted(r.key for r in results) == sorted(s.key for s in specs)
    for run in results:
        spec = next(s for s in specs if s.key == run.key)
        local = execute_run(spec)
        assert (run.test_accuracy, run.consistency) == (local.test_accuracy, local.consistency)


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    class Exploding(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.inner = OPS.get("conv1x1_s2").factory(cin, cout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.inner(x)
            return y * float("nan") if x.shape[0] > 1 else y

        def stridescope_ir(self, builder, parent, name):  # type: ignore[no-untyped-def]
            return self.inner.stridescope_ir(builder, parent, name)

    OPS.register("exploding_test_op", doc="NaN on every batch")(Exploding)
    try:
        cfg = replace(SMALL, ops=("conv1x1_s2", "exploding_test_op"), seeds=(0,), out=str(tmp_path))
        outcome = run_study(cfg)
    finally:
        OPS._entries.pop("exploding_test_op")
    by_op = {run.op: run for run in outcome.runs}
    assert by_op["conv1x1_s2"].ok
    assert by_op["exploding_test_op"].error == "NaN loss at epoch 1, step 1"
    assert outcome.failed == 1 and outcome.report_html.is_file()


def test_bad_names_and_paths_fail_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(StridescopeError, match=r"unknown operator 'conv9'; known: .*conv1x1_s2"):
        run_study(replace(SMALL, ops=("conv9",), out=str(tmp_path)))
    with pytest.raises(StridescopeError, match="unknown architecture 'vgg'"):
        run_study(replace(SMALL, arch="vgg", out=str(tmp_path)))
    with pytest.raises(StridescopeError, match="unknown dataset 'imagenet'; known: mnist5k"):
        run_study(replace(SMALL, dataset="imagenet", out=str(tmp_path)))
    (tmp_path / "not-mnist").mkdir()
    (tmp_path / "not-mnist" / "readme.txt").write_text("hello", encoding="utf-8")
    bad_path = replace(SMALL, dataset="mnist-idx", dataset_path=str(tmp_path / "not-mnist"))
    with pytest.raises(StridescopeError, match="not-mnist: missing train-images-idx3-ubyte"):
        run_study(replace(bad_path, out=str(tmp_path / "o")))
    assert not (tmp_path / "o" / "results.sqlite").exists()
