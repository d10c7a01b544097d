"""The report's "varied across runs" table lists values in the study's order, numbers in numeric
order; the study hands the report its runs in plan order, whatever order they finished in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from stridescope.records import RunResult
from stridescope.report.tables import common_config
from stridescope.study.config import RunSpec, StudyConfig, with_overrides
from stridescope.study.data import DatasetRef
from stridescope.study.runner import run_study

OPS = ("maxpool_conv1x1", "conv1x1_s2", "blurpool_conv1x1", "s2d_conv1x1")


def _run(op: str, seed: int) -> RunResult:
    return RunResult(
        key=f"{op}-{seed}",
        op=op,
        arch="seed_cnn",
        dataset="digits",
        seed=seed,
        epochs=1,
        status="ok",
        error="",
        test_accuracy=0.9,
        consistency=0.8,
        params=1,
        macs=1,
        train_seconds=1.0,
        images_per_second=1.0,
        config={"op": op, "seed": seed, "epochs": 1},
    )


def test_varied_values_keep_first_appearance_and_numbers_sort_numerically() -> None:
    runs = [_run(op, seed) for op in OPS for seed in (10, 2, 1)]
    shared, varying = common_config(runs)
    assert shared == {"epochs": 1}
    assert varying["op"] == [f'"{op}"' for op in OPS]  # not by length, not alphabetical
    assert varying["seed"] == ["1", "2", "10"]  # numeric, not by text


class _ReverseExecutor:
    """Finishes the runs last-planned first, with made-up numbers (no training)."""

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        for spec in reversed(specs):
            on_result(spec.record(params=1, macs=1, test_accuracy=0.9, consistency=0.8))


def test_study_report_lists_operators_and_seeds_in_config_order(tmp_path: Path) -> None:
    cfg = with_overrides(
        StudyConfig(), dataset="digits", ops=OPS, seeds=3, epochs=1, workers=1, out=str(tmp_path)
    )
    outcome = run_study(cfg, _ReverseExecutor())
    assert [(run.op, run.seed) for run in outcome.runs] == [(o, s) for o in OPS for s in range(3)]
    others = [op for op in OPS if op != "conv1x1_s2"]
    assert [row.op for row in outcome.summary.rows] == ["conv1x1_s2", *others]
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| op | " + ", ".join(f'"{op}"' for op in OPS) in markdown
    assert "| seed | 0, 1, 2" in markdown
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<td>op</td><td>" + ", ".join(f"&quot;{op}&quot;" for op in OPS) + "</td>" in html
