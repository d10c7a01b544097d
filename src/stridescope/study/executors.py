"""Where the runs of a study execute: the :class:`Executor` protocol and :class:`LocalExecutor`.

An executor takes the planned :class:`~stridescope.study.config.RunSpec` list and a
:class:`DatasetRef`, runs every spec (in any order, anywhere) and calls ``on_result`` **in the
driver process** as each run finishes. The driver (``run_study``) records each result in the
store from that callback, so a killed study loses at most the runs that were in flight.

Workers load the data themselves from the :class:`DatasetRef` (a few strings and numbers that
pickle cheaply), once per worker process: :func:`dataset_for` keeps the loaded dataset of the
current process, so a pool of two workers running eighteen runs loads the data twice, not
eighteen times.

>>> ref = DatasetRef("digits")
>>> ref
DatasetRef(name='digits', path=None, split_seed=0, test_fraction=0.2)
>>> LocalExecutor(workers=2).threads_per_worker(cores=2)
1
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from stridescope.errors import StridescopeError
from stridescope.records import RunResult
from stridescope.study.config import RunSpec

if TYPE_CHECKING:
    from stridescope.study.data import Dataset

__all__ = [
    "DatasetRef",
    "Executor",
    "LocalExecutor",
    "available_cores",
    "dataset_for",
    "remember_dataset",
]


@dataclass(frozen=True)
class DatasetRef:
    """How a worker finds the study's data: the arguments of ``load_dataset``.

    ``split_seed`` fixes the train/test split (the same for every run of a study, so paired
    comparisons between operators are made on the same test images); the run seed only decides
    the data order and the initialisation.
    """

    name: str
    path: str | None = None
    split_seed: int = 0
    test_fraction: float = 0.2

    def load(self) -> Dataset:
        """Load (from the on-disk cache where the dataset module keeps one)."""
        from stridescope.study.data import load_dataset

        return load_dataset(
            self.name, path=self.path, seed=self.split_seed, test_fraction=self.test_fraction
        )


_LOADED: dict[DatasetRef, Dataset] = {}


def dataset_for(ref: DatasetRef) -> Dataset:
    """The dataset ``ref`` points to, loaded at most once per process."""
    if ref not in _LOADED:
        _LOADED.clear()  # keep one dataset per process, not a growing pile
        _LOADED[ref] = ref.load()
    return _LOADED[ref]


def remember_dataset(ref: DatasetRef, dataset: Dataset) -> None:
    """Make ``dataset`` the one :func:`dataset_for` returns for ``ref`` in this process."""
    _LOADED.clear()
    _LOADED[ref] = dataset


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """Runs a study's runs. Implementations: :class:`LocalExecutor`, ``RayExecutor``."""

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        """Run every spec; call ``on_result`` in the calling process as each one finishes.

        A run that fails inside training comes back as a ``RunResult`` with status
        ``"failed"``; an exception raised by ``on_result`` stops the map and propagates.
        """
        ...


def _run_in_worker(spec: RunSpec, ref: DatasetRef) -> RunResult:
    from stridescope.study.runner import execute_run

    return execute_run(spec, dataset_for(ref))


def _init_worker(threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group: the driver handles it (and ends the workers);
    # a worker that took it too would print a traceback and start its next queued run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: drop the queued runs and terminate the running ones (their results
    would be lost anyway; a rerun redoes them). Waits for the processes to be gone."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # pragma: no cover - a worker stuck in uninterruptible code
            process.kill()
            process.join(timeout=5)


class LocalExecutor:
    """Runs on this machine: in-process for ``workers=1``, else a pool of spawned processes.

    Each worker process uses ``max(1, cores // workers)`` torch threads (the thread count a run
    uses also comes from its spec). Two single-threaded runs side by side use two cores better
    than one run on two threads, so the study's default is ``workers = min(2, cores)``.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise StridescopeError(f"workers must be at least 1; received {workers}")
        self.workers = workers

    def threads_per_worker(self, cores: int | None = None) -> int:
        """Torch threads each worker gets: a fair share of the cores."""
        return max(1, (available_cores() if cores is None else cores) // self.workers)

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        """Run every spec; results reach ``on_result`` here, in the order they finish."""
        if self.workers == 1 or len(specs) <= 1:
            for spec in specs:
                on_result(_run_in_worker(spec, dataset_ref))
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(specs)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.threads_per_worker(),),
        )
        pending: set[Future[RunResult]] = {
            pool.submit(_run_in_worker, spec, dataset_ref) for spec in specs
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(future.result())
        except BaseException:
            # interrupted or a callback failed: drop the queued runs, end the running ones
            _end_workers(pool)
            raise
        pool.shutdown(wait=True)
