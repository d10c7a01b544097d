"""Ctrl-C during a study with two worker processes: the driver stops at once, ends the workers
(none is left training), keeps the runs already recorded, and a rerun trains only the rest."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from stridescope.records import RunResult
from stridescope.study.config import RunSpec, StudyConfig, plan_runs
from stridescope.study.data import DatasetRef
from stridescope.study.executors import LocalExecutor
from stridescope.study.runner import run_study
from stridescope.study.store import RESULTS_FILE, ResultStore


def _running(pid: int, grace: float = 5.0) -> bool:
    """Whether process ``pid`` still runs (a zombie or a vanished pid does not), allowing
    ``grace`` seconds for a terminated process to go."""
    deadline = time.monotonic() + grace
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


class _Recorder:
    """Finishes each run it is given with made-up numbers (no training) and notes its key."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        for spec in specs:
            self.keys.append(spec.key)
            on_result(spec.record(params=1, macs=1, test_accuracy=0.9, consistency=0.8))


@pytest.mark.slow
def test_ctrl_c_ends_the_workers_now_and_a_rerun_resumes(tmp_path: Path) -> None:
    cfg = StudyConfig(
        dataset="digits", ops=("conv1x1_s2",), seeds=(0, 1), epochs=1, workers=2, out=str(tmp_path)
    )
    quick, other = plan_runs(cfg, cores=2)
    endless = replace(other, epochs=100_000)  # would train for hours if left running
    with ResultStore(tmp_path / RESULTS_FILE) as store:

        def on_result(run: RunResult) -> None:
            store.record(run)
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

        others = set(multiprocessing.active_children())  # e.g. left by earlier tests
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            LocalExecutor(workers=2).map([endless, quick], DatasetRef("digits"), on_result)
        stopped = time.perf_counter() - start
        # the endless run's worker is gone: checked at the OS level, because the pool's manager
        # thread may reap a worker first, leaving its Process object unaware that it exited
        started = [p.pid for p in multiprocessing.active_children() if p not in others]
        assert [pid for pid in started if pid is not None and _running(pid)] == []
        assert stopped < 60
        assert store.finished_keys() == {quick.key}

    recorder = _Recorder()
    outcome = run_study(cfg, recorder)
    assert recorder.keys == [other.key]  # the finished run is skipped, the other one trained
    assert (outcome.ran, outcome.skipped) == (1, 1)
