"""A whole study, as a pipeline: :func:`run_study`.

Check the config (:func:`~stridescope.study.validate.validate_study`), plan the runs, skip those
the store has finished, run the rest through an executor while recording each result as it
arrives, then summarise and write the report (:func:`~stridescope.study.outcome.write_outcome`).
One run is :func:`~stridescope.study.execute.execute_run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stridescope.records import RunResult
from stridescope.study.config import RunSpec, StudyConfig, plan_runs
from stridescope.study.data import DatasetRef, remember_dataset
from stridescope.study.executors import Executor, LocalExecutor
from stridescope.study.lock import study_lock
from stridescope.study.outcome import REPORT_FILES, StudyOutcome, write_outcome
from stridescope.study.resources import share_cores
from stridescope.study.store import RESULTS_FILE, ResultStore
from stridescope.study.validate import ValidStudy, validate_study

__all__ = ["StudyProgress", "clear_results", "run_study"]


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands: sent once before the first run (``last=None``) and after each."""

    planned: int
    skipped: int
    to_run: int
    done: int
    failed: int
    last: RunResult | None = None


class _Recorder:
    """Stores each result as it arrives and tells ``on_progress`` where the study stands."""

    def __init__(
        self,
        store: ResultStore,
        planned: int,
        to_run: int,
        on_progress: Callable[[StudyProgress], None] | None,
    ) -> None:
        self.store = store
        self.planned = planned
        self.to_run = to_run
        self.on_progress = on_progress
        self.done = 0
        self.failed = 0

    def tell(self, last: RunResult | None = None) -> None:
        if self.on_progress is not None:
            skipped = self.planned - self.to_run
            progress = StudyProgress(
                self.planned, skipped, self.to_run, self.done, self.failed, last
            )
            self.on_progress(progress)

    def __call__(self, run: RunResult) -> None:
        self.store.record(run)
        self.done += 1
        self.failed += 0 if run.ok else 1
        self.tell(run)


def clear_results(out: Path) -> None:
    """Delete a previous study's store and report in ``out`` (``fresh``)."""
    for name in (RESULTS_FILE, f"{RESULTS_FILE}-wal", f"{RESULTS_FILE}-shm", *REPORT_FILES):
        (out / name).unlink(missing_ok=True)
    for png in out.glob("report-*.png"):
        png.unlink()


def _in_plan_order(runs: Sequence[RunResult], specs: Sequence[RunSpec]) -> tuple[RunResult, ...]:
    """The stored runs that belong to this plan, in its order (others in the store are left)."""
    order = {spec.key: index for index, spec in enumerate(specs)}
    return tuple(sorted((run for run in runs if run.key in order), key=lambda r: order[r.key]))


def run_study(
    cfg: StudyConfig | ValidStudy,
    executor: Executor | None = None,
    on_progress: Callable[[StudyProgress], None] | None = None,
    *,
    fresh: bool = False,
) -> StudyOutcome:
    """Validate (unless given a :class:`~stridescope.study.validate.ValidStudy`), plan, skip
    finished runs, run the rest (recording each as it arrives), summarise, report. Runs are
    reported in plan order; without an ``executor`` they run on a :class:`LocalExecutor` with
    the study's workers (no more than there are runs to do).

    One study per output folder at a time: a second one raises
    :class:`~stridescope.study.lock.StudyBusyError` naming the first
    (:func:`~stridescope.study.lock.study_lock`)."""
    start = time.perf_counter()
    valid = cfg if isinstance(cfg, ValidStudy) else validate_study(cfg, executor)
    with study_lock(valid.out):  # held already when the CLI took it (and maybe waited) first
        return _run_valid(valid, executor, on_progress, fresh=fresh, start=start)


def _run_valid(
    valid: ValidStudy,
    executor: Executor | None,
    on_progress: Callable[[StudyProgress], None] | None,
    *,
    fresh: bool,
    start: float,
) -> StudyOutcome:
    cfg, out = valid.config, valid.out
    ref = DatasetRef.of(cfg)
    remember_dataset(ref, valid.dataset)
    if fresh:
        clear_results(out)
    share = share_cores(cfg.workers)
    specs = plan_runs(cfg, share.cores)
    with ResultStore(out / RESULTS_FILE) as store:
        finished = store.finished_keys()
        todo = [spec for spec in specs if spec.key not in finished]
        recorder = _Recorder(store, len(specs), len(todo), on_progress)
        recorder.tell()
        runner = (
            executor if executor is not None else LocalExecutor(min(share.workers, len(todo) or 1))
        )
        if todo:
            runner.map(todo, ref, recorder)
        runs = _in_plan_order(store.runs(), specs)
    skipped = len(specs) - len(todo)
    return write_outcome(cfg, out, runs, ran=recorder.done, skipped=skipped, started=start)
