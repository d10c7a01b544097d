"""Where the runs of a study execute: the :class:`Executor` protocol, :class:`LocalExecutor`,
and the choice between executors (:func:`make_executor`).

An executor takes the planned :class:`~stridescope.study.config.RunSpec` list and a
:class:`~stridescope.study.data.DatasetRef`, runs every spec (in any order, anywhere) and calls
``on_result`` **in the driver process** as each run finishes. The driver (``run_study``) records
each result in the store from that callback, so a killed study loses at most the runs that were
in flight. Workers load the data themselves from the reference, once per process
(:func:`~stridescope.study.data.dataset_for`).

>>> LocalExecutor(workers=2).threads_per_worker(cores=2)
1
>>> make_executor("dask", address=None)
Traceback (most recent call last):
...
stridescope.errors.UnknownNameError: unknown executor 'dask'; known: local, ray
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.records import RunResult
from stridescope.study.config import RunSpec
from stridescope.study.data import DatasetRef
from stridescope.study.executors_ray import RayExecutor
from stridescope.study.resources import share_cores
from stridescope.study.workers import WorkerPool, run_here

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]

EXECUTORS = ("local", "ray")


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


class LocalExecutor:
    """Runs on this machine: in-process for ``workers=1``, else a pool of spawned processes.

    Each worker process uses its share of the cores as torch threads
    (:func:`~stridescope.study.resources.share_cores`; the thread count a run uses also comes
    from its spec). Two single-threaded runs side by side use two cores better than one run on
    two threads, so the study's default is ``workers = min(2, cores)``.

    The workers are a :class:`~stridescope.study.workers.WorkerPool`: a worker that dies costs
    only the run it held, which is retried once in a fresh worker and then recorded as
    ``failed`` with how the worker ended; workers die with the driver.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise StridescopeError(f"workers must be at least 1; received {workers}")
        self.workers = workers

    def threads_per_worker(self, cores: int | None = None) -> int:
        """Torch threads each worker gets: a fair share of the cores."""
        return share_cores(self.workers, cores).threads

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        """Run every spec; results reach ``on_result`` here, in the order they finish."""
        if self.workers == 1 or len(specs) <= 1:
            for spec in specs:
                on_result(run_here(spec, dataset_ref))
            return
        pool = WorkerPool(min(self.workers, len(specs)), self.threads_per_worker())
        pool.map(specs, dataset_ref, on_result)


def make_executor(kind: str, *, address: str | None = None) -> Executor | None:
    """The executor a study's ``executor`` option (``local`` or ``ray``) and ``address`` (of a
    Ray cluster) ask for.

    ``None`` for ``local`` (``run_study`` then uses a :class:`LocalExecutor` with the study's
    workers); a :class:`~stridescope.study.executors_ray.RayExecutor` for ``ray``.

    >>> make_executor("local") is None
    True
    >>> make_executor("ray", address="auto")
    RayExecutor(address='auto', max_retries=2)
    >>> make_executor("local", address="head:6379")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: address 'head:6379' is for executor 'ray'; received executor 'local'
    """
    if kind not in EXECUTORS:
        raise UnknownNameError("executor", kind, EXECUTORS)
    if kind == "local":
        if address is not None:
            raise StridescopeError(
                f"address {address!r} is for executor 'ray'; received executor {kind!r}"
            )
        return None
    return RayExecutor(address=address)
