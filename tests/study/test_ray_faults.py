"""Faults on a Ray instance: a worker killed mid-run (by itself, or from outside) is retried and
stored once; a worker that always dies, and a run that fails by itself, end as ``failed`` runs
with their reason while the study finishes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stridescope.errors import StridescopeError
from stridescope.records import RunResult
from stridescope.study.config import RunSpec, StudyConfig, plan_runs, with_overrides
from stridescope.study.data import DatasetRef
from stridescope.study.executors_ray import RayExecutor, RunFunction
from stridescope.study.runner import StudyProgress, run_study
from stridescope.study.store import RESULTS_FILE, ResultStore

if TYPE_CHECKING:
    from stridescope.study.data import Dataset

pytestmark = pytest.mark.slow

BASE = with_overrides(StudyConfig(), dataset="digits", seeds=1, epochs=1, workers=2)


@pytest.fixture(scope="module", autouse=True)
def ray_address() -> Iterator[str]:
    """One local Ray instance for the module (its GCS address); RayExecutor uses it and leaves
    it running. (Ray >= 2.59 turns token authentication on for local instances.)"""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def faulty(marks: Path) -> RunFunction:
    """A task body that misbehaves per operator, then runs the real ``execute_run``.

    It is a closure that uses no global of this module, so Ray pickles it by value and the
    workers need not import this test module. Each attempt appends its pid to a file per
    operator, so the test sees how many attempts there were and in which processes.
    """

    def run(spec: RunSpec, dataset: Dataset) -> RunResult:
        from stridescope.study.execute import execute_run

        log = marks / f"{spec.op}.attempts"
        with log.open("a") as file:
            file.write(f"{os.getpid()}\n")
        attempt = len(log.read_text().split())
        if spec.op == "conv1x1_s2" and attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-run
        if spec.op == "conv3x3_s2" and attempt == 1:
            (marks / "waiting.tmp").write_text(str(os.getpid()))
            (marks / "waiting.tmp").rename(marks / "waiting.pid")
            time.sleep(120)  # until the test kills this worker from outside
        if spec.op == "avgpool_conv1x1":
            os.kill(os.getpid(), signal.SIGKILL)  # dies on every attempt
        if spec.op == "blurpool_conv1x1":
            raise RuntimeError("this operator is broken")  # fails by itself: no retry
        return execute_run(spec, dataset)

    return run


def _kill_when_waiting(pid_file: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_file.exists():
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


def _pids(marks: Path, op: str) -> list[int]:
    return [int(line) for line in (marks / f"{op}.attempts").read_text().split()]


def test_killed_workers_are_retried_and_each_run_is_stored_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    cfg = replace(BASE, ops=("conv1x1_s2", "conv3x3_s2"), out=str(tmp_path / "out"))
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_when_waiting, args=(marks / "waiting.pid", killed), daemon=True
    )
    killer.start()
    delivered: list[str] = []

    def on_progress(event: StudyProgress) -> None:
        if event.last is not None:
            delivered.append(event.last.key)

    outcome = run_study(cfg, RayExecutor(max_retries=2, run=faulty(marks)), on_progress)
    killer.join(timeout=5)

    keys = sorted(spec.key for spec in plan_runs(cfg))
    assert sorted(delivered) == keys  # each run reached the driver exactly once
    assert (outcome.ran, outcome.failed) == (2, 0)
    self_killed, killed_outside = _pids(marks, "conv1x1_s2"), _pids(marks, "conv3x3_s2")
    assert len(self_killed) == 2 and self_killed[0] != self_killed[1]
    assert len(killed_outside) == 2 and killed == killed_outside[:1]
    with ResultStore(tmp_path / "out" / RESULTS_FILE, create=False) as store:
        assert len(store) == 2
        assert all(run.ok and run.test_accuracy is not None for run in store.runs())


def test_runs_that_keep_failing_are_recorded_failed_and_the_study_finishes(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    ops = ("avgpool_conv1x1", "blurpool_conv1x1", "maxpool_conv1x1")
    # lr 1e12 makes the loss NaN: execute_run itself reports the maxpool run as failed.
    cfg = replace(BASE, ops=ops, lr=1e12, out=str(tmp_path / "out"))
    outcome = run_study(cfg, RayExecutor(max_retries=1, run=faulty(marks)))

    assert (outcome.ran, outcome.failed) == (3, 3)
    assert outcome.report_html.is_file()
    errors = {run.op: run.error for run in outcome.runs}
    assert errors["avgpool_conv1x1"].startswith("the Ray worker running it died 2 time(s)")
    assert errors["blurpool_conv1x1"] == "RuntimeError: this operator is broken"
    assert "NaN loss" in errors["maxpool_conv1x1"]
    assert len(_pids(marks, "avgpool_conv1x1")) == 2  # 1 try + max_retries=1
    assert len(_pids(marks, "blurpool_conv1x1")) == 1  # an exception is not retried
    assert len(_pids(marks, "maxpool_conv1x1")) == 1


def test_a_run_needing_more_than_the_cluster_has_is_refused() -> None:
    import ray

    spec = replace(plan_runs(BASE)[0], device="cuda")
    with pytest.raises(
        StridescopeError, match=r"asks Ray for CPU=1, GPU=1, but the Ray cluster has CPU=2, GPU=0"
    ):
        RayExecutor().map([spec], DatasetRef("digits"), lambda run: None)
    assert ray.is_initialized()  # a connection the executor did not make is left as it was


# A second driver that joins the running instance by --address, as on a cluster. Its task body
# comes from its own __main__ (pickled by value) and needs no torch, to keep the test quick.
DRIVER = """
import os, sys
from stridescope.study.config import StudyConfig, plan_runs, with_overrides
from stridescope.study.data import DatasetRef
from stridescope.study.executors_ray import RayExecutor
import ray

def where(spec, dataset):
    return spec.record(error=f"ran in pid {os.getpid()} on {len(dataset.y_train)} train images")

cfg = with_overrides(StudyConfig(), dataset="digits", ops=("conv1x1_s2",), seeds=2, workers=2)
results = []
RayExecutor(address=sys.argv[1], run=where).map(plan_runs(cfg), DatasetRef("digits"), results.append)
print(sorted(run.seed for run in results), results[0].error.split(" on ")[1], ray.is_initialized())
"""


def test_a_driver_joins_a_cluster_by_address_and_leaves_it_running(ray_address: str) -> None:
    import ray

    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    driver = subprocess.run(
        [sys.executable, "-c", DRIVER, ray_address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert driver.returncode == 0, driver.stderr[-2000:]
    assert driver.stdout.split("\n")[-2] == "[0, 1] 1437 train images False"
    assert ray.get(ray.put("still running")) == "still running"  # the cluster survived


def test_an_error_in_the_driver_cancels_the_runs_in_flight(tmp_path: Path) -> None:
    specs = plan_runs(replace(BASE, ops=("conv1x1_s2", "conv3x3_s2")))
    pid_file = tmp_path / "slow.pid"

    def quick_or_slow(spec: RunSpec, dataset: Dataset) -> RunResult:

        if spec.op == "conv3x3_s2":
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)
        while not pid_file.exists():  # finish only once the slow run is under way
            time.sleep(0.05)
        return spec.record(error="quick")

    def store_broke(run: RunResult) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        RayExecutor(run=quick_or_slow).map(specs, DatasetRef("digits"), store_broke)
    slow = int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while Path(f"/proc/{slow}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{slow}").exists()  # force-cancelled: its worker was stopped
