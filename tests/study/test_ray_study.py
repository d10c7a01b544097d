"""RayExecutor on a local Ray instance that it starts and stops itself: the same results as the
local executor, resume of a half-finished study, no process left behind, one-line errors."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stridescope.errors import StridescopeError
from stridescope.records import RunResult
from stridescope.study.config import StudyConfig, plan_runs, with_overrides
from stridescope.study.data import DatasetRef
from stridescope.study.executors import LocalExecutor
from stridescope.study.executors_ray import RayExecutor
from stridescope.study.runner import StudyProgress, run_study
from stridescope.study.store import RESULTS_FILE, ResultStore

pytestmark = pytest.mark.slow

BASE = with_overrides(
    StudyConfig(),
    dataset="digits",
    ops=("conv1x1_s2", "conv3x3_s2"),
    seeds=2,
    epochs=1,
    workers=2,
)


def _descendants(pid: int) -> dict[int, str]:
    """Live (not zombie) descendants of ``pid`` as {pid: command name}, read from /proc."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            parents[int(entry.name)] = int(ppid)
            names[int(entry.name)] = name
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def _metrics(runs: tuple[RunResult, ...]) -> dict[tuple[str, int], tuple[object, ...]]:
    """What must not depend on where a run ran (timings do)."""
    return {
        (run.op, run.seed): (run.key, run.status, run.test_accuracy, run.consistency, run.params)
        for run in runs
    }


def test_ray_study_matches_local_resumes_and_leaves_nothing_running(tmp_path: Path) -> None:
    local = run_study(replace(BASE, out=str(tmp_path / "local")), LocalExecutor(1))
    assert local.failed == 0 and local.ran == 4

    # Half the study (seed 0) already finished in the Ray study's folder: the Ray run resumes.
    ray_out = tmp_path / "ray"
    run_study(replace(BASE, seeds=(0,), out=str(ray_out)), LocalExecutor(1))
    before = set(_descendants(os.getpid()))
    ray_processes: dict[int, str] = {}
    finished: list[str] = []

    def on_progress(event: StudyProgress) -> None:
        if event.last is not None:
            finished.append(event.last.key)
            ray_processes.update(
                {p: n for p, n in _descendants(os.getpid()).items() if p not in before}
            )

    executor = RayExecutor(local_cpus=2, cpus_per_run=1)
    outcome = run_study(replace(BASE, out=str(ray_out)), executor, on_progress)

    assert (outcome.skipped, outcome.ran, outcome.failed) == (2, 2, 0)
    assert sorted(finished) == sorted(s.key for s in plan_runs(BASE) if s.seed == 1)
    assert _metrics(outcome.runs) == _metrics(local.runs)
    assert outcome.report_html.is_file()
    with ResultStore(ray_out / RESULTS_FILE, create=False) as store:
        assert len(store) == 4

    # The local instance is gone: raylet, gcs_server and the workers it started.
    import ray

    assert not ray.is_initialized()
    assert {"raylet", "gcs_server"} <= set(ray_processes.values())
    deadline = time.monotonic() + 10
    while (left := set(ray_processes) & set(_descendants(os.getpid()))) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert not left, {pid: ray_processes[pid] for pid in left}


def test_unreachable_address_fails_fast_in_one_line() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executor = RayExecutor(address=f"127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(StridescopeError, match=r"cannot reach a Ray cluster at address"):
        executor.map(plan_runs(BASE)[:1], DatasetRef("digits"), lambda run: None)
    assert time.monotonic() - start < 15


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(StridescopeError, match=r"pip install 'stridescope\[ray\]'"):
        RayExecutor().map(plan_runs(BASE)[:1], DatasetRef("digits"), lambda run: None)


def test_no_specs_start_nothing() -> None:
    import ray

    RayExecutor().map([], DatasetRef("digits"), lambda run: None)
    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries must be 0 or more; received -1"),
        ({"local_cpus": 0}, "local_cpus must be at least 1; received 0"),
        ({"cpus_per_run": 0}, "cpus_per_run must be at least 1; received 0"),
        ({"gpus_per_run": -0.5}, "gpus_per_run must be 0 or more; received -0.5"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict[str, int], message: str) -> None:
    with pytest.raises(StridescopeError, match=message):
        RayExecutor(**options)  # type: ignore[arg-type]
