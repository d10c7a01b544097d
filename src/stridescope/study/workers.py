"""The worker processes of :class:`~stridescope.study.executors.LocalExecutor`: :class:`WorkerPool`.

Each worker is a spawned process that trains one run at a time, sent to it over its own pipe.
The driver knows which run each worker holds, so a worker that dies (SIGKILL from the
out-of-memory killer, a crash in native code) costs only that run, and only once:

* the run it held is queued again, first, for a fresh worker started in its place; the other
  workers go on undisturbed;
* a run whose worker dies a second time is not tried again: it comes back as a ``failed``
  result whose reason says how the worker ended (``worker died: signal 9 (SIGKILL) - out of
  memory?``), and the study goes on.

Workers ignore Ctrl-C (the whole process group gets it; the driver stops them) and die with
the driver (:func:`~stridescope.study.lifeline.die_with_parent`). When the driver is
interrupted, or ``on_result`` raises, every worker is killed before the error goes on.

>>> died_because(-9)
'worker died: signal 9 (SIGKILL) - out of memory?'
>>> died_because(-15), died_because(3)
('worker died: signal 15 (SIGTERM)', 'worker died: exit code 3')
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from stridescope.records import RunResult
from stridescope.study.config import RunSpec
from stridescope.study.data import DatasetRef, dataset_for

__all__ = ["TRIES", "WorkerPool", "died_because", "run_here"]

TRIES = 2
"""How often a run is started before a worker death makes it ``failed``: once, then one retry."""


def died_because(exitcode: int | None) -> str:
    """The reason a run's worker gave none: how its process ended (negative: a signal)."""
    if exitcode is None:
        return "worker died: its exit status is unknown"
    if exitcode >= 0:
        return f"worker died: exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = "unknown signal"
    hint = " - out of memory?" if -exitcode == signal.SIGKILL else ""
    return f"worker died: signal {-exitcode} ({name}){hint}"


def run_here(spec: RunSpec, ref: DatasetRef) -> RunResult:
    """Train one run in this process, on the dataset ``ref`` names (loaded once per process)."""
    # imported here: training imports torch, which `import stridescope.study` does not need
    from stridescope.study.execute import execute_run

    return execute_run(spec, dataset_for(ref))


def _serve(conn: Connection, threads: int, parent: int) -> None:
    """A worker's life: run each (spec, ref) received, send back its result; stop at None."""
    from stridescope.study.lifeline import die_with_parent

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import torch

    torch.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if job is None:
            return
        spec, ref = job
        try:
            result = run_here(spec, ref)
        except Exception as error:  # execute_run catches training errors; this is the rest
            result = spec.record(error=f"{type(error).__name__}: {error}")
        try:
            conn.send(result)
        except OSError:  # the driver is gone
            return


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: RunSpec | None = None


@dataclass
class _Plan:
    """What is still to run and how often each run has been started."""

    queue: deque[RunSpec]
    starts: dict[str, int] = field(default_factory=dict)


class WorkerPool:
    """Up to ``size`` spawned worker processes, each with ``threads`` torch threads."""

    def __init__(self, size: int, threads: int) -> None:
        self.size = size
        self.threads = threads
        self.workers: list[_Worker] = []
        self._context = multiprocessing.get_context("spawn")

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self.threads, os.getpid()), daemon=True
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        self.workers.append(worker)
        return worker

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        """Run every spec; each result (or a death's ``failed`` one) goes to ``on_result``."""
        plan = _Plan(deque(specs))
        try:
            while plan.queue or self._busy():
                self._hand_out(plan, dataset_ref)
                self._collect(plan, on_result)
        except BaseException:
            self.kill()
            raise
        self.close()

    def _busy(self) -> list[_Worker]:
        return [worker for worker in self.workers if worker.job is not None]

    def _hand_out(self, plan: _Plan, dataset_ref: DatasetRef) -> None:
        while plan.queue:
            for gone in [w for w in self.workers if w.job is None and not w.process.is_alive()]:
                self._bury(gone)  # ended while idle (it holds no run): start another
            idle = [worker for worker in self.workers if worker.job is None]
            if not idle and len(self.workers) >= self.size:
                return
            worker = idle[0] if idle else self._start()
            spec = plan.queue.popleft()
            plan.starts[spec.key] = plan.starts.get(spec.key, 0) + 1
            worker.job = spec
            with contextlib.suppress(
                OSError
            ):  # it died just now: _collect sees it die with the run
                worker.conn.send((spec, dataset_ref))

    def _collect(self, plan: _Plan, on_result: Callable[[RunResult], None]) -> None:
        """Wait until a busy worker sends a result or dies; deal with every one that did."""
        busy = self._busy()
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
        for worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            spec = worker.job
            assert spec is not None
            try:
                result: RunResult = worker.conn.recv()
            except (EOFError, OSError):  # nothing came: the worker died holding the run
                self._bury(worker)
                if plan.starts[spec.key] < TRIES:
                    plan.queue.appendleft(spec)  # first, for the fresh worker in its place
                else:
                    on_result(spec.record(error=died_because(worker.process.exitcode)))
                continue
            worker.job = None
            on_result(result)

    def _bury(self, worker: _Worker) -> None:
        worker.process.join(timeout=10)
        worker.conn.close()
        self.workers.remove(worker)

    def kill(self) -> None:
        """End every worker now (SIGKILL) and wait until each is gone."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join(timeout=10)
            worker.conn.close()
        self.workers.clear()

    def close(self) -> None:
        """Tell idle workers to stop and wait for them (killing any that do not stop)."""
        for worker in self.workers:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=10)
        self.kill()
