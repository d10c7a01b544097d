"""How a study shares the cores: one formula for the plan, the driver and the local executor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stridescope.errors import StridescopeError
from stridescope.study.config import StudyConfig, plan_runs
from stridescope.study.executors import LocalExecutor
from stridescope.study.resources import Resources, share_cores


@pytest.fixture(autouse=True)
def _no_thread_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shares below are those of a shell that does not set ``OMP_NUM_THREADS``."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


@pytest.mark.parametrize(
    ("workers", "cores", "expected"),
    [
        (0, 1, Resources(cores=1, workers=1, threads=1)),
        (0, 2, Resources(cores=2, workers=2, threads=1)),
        (0, 16, Resources(cores=16, workers=2, threads=8)),
        (1, 16, Resources(cores=16, workers=1, threads=16)),
        (3, 8, Resources(cores=8, workers=3, threads=2)),
        (4, 2, Resources(cores=2, workers=4, threads=1)),
    ],
)
def test_workers_and_threads_per_run(workers: int, cores: int, expected: Resources) -> None:
    assert share_cores(workers, cores) == expected


@given(workers=st.integers(0, 64), cores=st.integers(1, 256))
def test_the_plan_and_the_local_executor_use_the_same_share(workers: int, cores: int) -> None:
    share = share_cores(workers, cores)
    assert share.threads >= 1
    assert share.workers * share.threads <= max(cores, share.workers)
    spec = plan_runs(StudyConfig(workers=workers, seeds=(0,), ops=("conv1x1_s2",)), cores)[0]
    assert spec.threads == share.threads
    assert LocalExecutor(share.workers).threads_per_worker(cores) == share.threads


@pytest.mark.parametrize(
    ("workers", "cores", "message"),
    [
        (-1, 4, "received workers=-1, cores=4"),
        (2, 0, "received workers=2, cores=0"),
    ],
)
def test_impossible_shares_are_refused(workers: int, cores: int, message: str) -> None:
    with pytest.raises(StridescopeError, match=message):
        share_cores(workers, cores)


@pytest.mark.parametrize(("value", "threads"), [("1", 1), ("3", 3), ("64", 8), ("0", 8), ("x", 8)])
def test_omp_num_threads_caps_each_runs_threads_not_the_runs(
    monkeypatch: pytest.MonkeyPatch, value: str, threads: int
) -> None:
    """A user who sets OMP_NUM_THREADS=1 gets runs of one thread (torch's own default honours
    it), and the plan records that; a value that is not a positive count is ignored."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert share_cores(2, 16) == Resources(cores=16, workers=2, threads=threads)
    spec = plan_runs(StudyConfig(workers=2, seeds=(0,), ops=("conv1x1_s2",)), 16)[0]
    assert spec.threads == threads
