"""Run a study's runs as Ray tasks, on this machine or on a cluster (executor ``ray``).

:class:`RayExecutor` implements the :class:`~stridescope.study.executors.Executor` protocol:

* each run is one Ray task that asks for the resources its spec needs (``spec.threads`` CPUs,
  one GPU when ``spec.device`` is CUDA), so Ray never packs more runs on a node than fit;
* the dataset is loaded once, in the driver, and put once in Ray's object store; every task gets
  a reference and reads the arrays zero-copy from the node's shared memory (a node that holds no
  copy fetches it once), so the pixels are never pickled per task;
* results come back to the driver as each run finishes and go to ``on_result`` there (where
  ``run_study`` writes them to the SQLite store), so resume and skip-finished work as with the
  local executor;
* a task whose worker process dies (killed, out of memory, node lost) is retried up to
  ``max_retries`` times by Ray; a run that fails by itself (a non-finite loss, a bad operator)
  is not retried: it comes back as a ``failed`` result with its reason and the study goes on.

Without an address a local Ray instance is started for the study and shut down after it (no
process is left behind, not even when the driver is killed: a small reaper process,
:mod:`stridescope.study.reaper`, ends what Ray would leave); with an address the driver connects to that cluster and only
disconnects at the end. A process already connected to Ray (``ray.is_initialized()``) keeps its
connection as it is.

>>> RayExecutor(address="head-node:6379", max_retries=3)
RayExecutor(address='head-node:6379', max_retries=3)
>>> RayExecutor(max_retries=-1)
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: max_retries must be 0 or more; received -1
"""

from __future__ import annotations

import contextlib
import logging
import socket
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.records import RunResult
from stridescope.study.config import RunSpec
from stridescope.study.data import Dataset, DatasetRef, dataset_for
from stridescope.study.reaper import start_reaper
from stridescope.study.resources import available_cores
from stridescope.study.stop import keep_sigterm_handler

__all__ = ["RayExecutor", "RunFunction"]

INSTALL_HINT = "install the ray extra: pip install 'stridescope[ray]'"
_TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"

RunFunction = Callable[[RunSpec, Dataset], RunResult]
"""What a task runs: ``execute_run`` (tests may wrap it to inject faults)."""


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise StridescopeError(
            f"executor 'ray' needs Ray, which is not installed; {INSTALL_HINT}"
        ) from None
    return ray


def _died(ray: ModuleType) -> tuple[type[BaseException], ...]:
    """The errors Ray raises for a task whose worker process or node died (after retries)."""
    errors = ray.exceptions
    return (errors.WorkerCrashedError, errors.NodeDiedError, errors.LocalRayletDiedError)


def _run_task(run: RunFunction, spec: RunSpec, dataset: Dataset) -> RunResult:
    """The body of every Ray task (it runs in a Ray worker process)."""
    with warnings.catch_warnings():
        # The arrays come zero-copy from the object store, hence read-only; training only
        # reads them, so torch.from_numpy's warning about non-writable arrays is noise here.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return run(spec, dataset)


def _check_reachable(address: str) -> None:
    """Fail fast, in one line, when ``host:port`` refuses connections (Ray would retry for
    minutes). Other address forms (``auto``, ``ray://…``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "://" in address:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as error:
        raise StridescopeError(
            f"cannot reach a Ray cluster at address {address!r} ({error}); start one with "
            f"`ray start --head --port={port}` on that machine, or give no address to run "
            "on a local Ray instance"
        ) from None


class RayExecutor:
    """Run every spec as a Ray task; see the module docstring for what happens where.

    ``address``: a Ray cluster (``HOST:6379``, ``auto``, ``ray://HOST:10001``); ``None`` starts
    a local instance with ``local_cpus`` CPUs (default: the cores this process may use) and
    shuts it down afterwards. ``max_retries``: how often a task whose worker died is re-run.
    ``cpus_per_run`` / ``gpus_per_run`` override what each spec asks for. ``run`` is the task
    body, :func:`~stridescope.study.execute.execute_run` unless a test wraps it.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 2,
        local_cpus: int | None = None,
        cpus_per_run: int | None = None,
        gpus_per_run: float | None = None,
        run: RunFunction | None = None,
    ) -> None:
        if max_retries < 0:
            raise StridescopeError(f"max_retries must be 0 or more; received {max_retries}")
        for name, value in (("local_cpus", local_cpus), ("cpus_per_run", cpus_per_run)):
            if value is not None and value < 1:
                raise StridescopeError(f"{name} must be at least 1; received {value}")
        if gpus_per_run is not None and gpus_per_run < 0:
            raise StridescopeError(f"gpus_per_run must be 0 or more; received {gpus_per_run}")
        self.address = address
        self.max_retries = max_retries
        self.local_cpus = local_cpus
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.run = run

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, max_retries={self.max_retries})"

    def resources(self, spec: RunSpec) -> dict[str, float]:
        """What the task of ``spec`` asks Ray for: its threads as CPUs, a GPU for CUDA runs.

        >>> from stridescope.study.config import StudyConfig, plan_runs
        >>> spec = plan_runs(StudyConfig(workers=2), cores=8)[0]
        >>> RayExecutor().resources(spec)
        {'num_cpus': 4, 'num_gpus': 0}
        """
        gpus = 1 if spec.device.startswith("cuda") else 0
        return {
            "num_cpus": self.cpus_per_run if self.cpus_per_run is not None else spec.threads,
            "num_gpus": self.gpus_per_run if self.gpus_per_run is not None else gpus,
        }

    def map(
        self,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        """Run every spec as a Ray task; ``on_result`` gets each result here as it finishes."""
        if not specs:
            return
        ray = _import_ray()
        # a local instance gets a reaper: Ray leaves some of its processes behind when the
        # driver is killed (see stridescope.study.reaper)
        reaper = start_reaper() if self.address is None and not ray.is_initialized() else None
        try:
            connected_here = self._connect(ray)
            try:
                self._check_resources(ray, specs)
                self._run_all(ray, specs, dataset_ref, on_result)
            finally:
                if connected_here:
                    ray.shutdown()  # stops a local instance; only disconnects from a cluster
        finally:
            if reaper is not None:
                reaper.done()

    def _connect(self, ray: ModuleType) -> bool:
        """Start or join Ray; True when this call did (and so must shut down or disconnect)."""
        if ray.is_initialized():
            return False
        quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address is None:
            cpus = self.local_cpus if self.local_cpus is not None else available_cores()
            # Ray announces that the instance it starts uses token authentication: true, and
            # nothing for the user to do here, so that one warning would only be noise.
            token_setup = logging.getLogger(_TOKEN_SETUP_LOGGER)
            level = token_setup.level
            token_setup.setLevel(logging.ERROR)
            try:
                with keep_sigterm_handler():  # ray.init sets its own, which exits at once
                    ray.init(num_cpus=cpus, include_dashboard=False, **quiet)
            finally:
                token_setup.setLevel(level)
            return True
        _check_reachable(self.address)
        try:
            with keep_sigterm_handler():
                ray.init(address=self.address, **quiet)
        except (ConnectionError, ray.exceptions.RayError) as error:
            raise StridescopeError(
                f"cannot connect to the Ray cluster at address {self.address!r}: {error}; "
                "if the cluster uses token authentication, set RAY_AUTH_MODE=token and its token "
                "(RAY_AUTH_TOKEN, or ~/.ray/auth_token) here too"
            ) from None
        return True

    def _check_resources(self, ray: ModuleType, specs: Sequence[RunSpec]) -> None:
        """A run that asks for more than the whole cluster has would wait forever: refuse it."""
        total = ray.cluster_resources()
        for need in {tuple(sorted(self.resources(spec).items())) for spec in specs}:
            wanted = dict(need)
            have = {"num_cpus": total.get("CPU", 0.0), "num_gpus": total.get("GPU", 0.0)}
            if any(wanted[name] > have[name] for name in wanted):
                raise StridescopeError(
                    f"each run asks Ray for CPU={wanted['num_cpus']:g}, "
                    f"GPU={wanted['num_gpus']:g}, but the Ray cluster has "
                    f"CPU={have['num_cpus']:g}, GPU={have['num_gpus']:g} in all; use fewer "
                    "threads per run (more workers), another device, or add nodes"
                )

    def _run_all(
        self,
        ray: ModuleType,
        specs: Sequence[RunSpec],
        dataset_ref: DatasetRef,
        on_result: Callable[[RunResult], None],
    ) -> None:
        if self.run is None:
            from stridescope.study.execute import execute_run

            run: RunFunction = execute_run
        else:
            run = self.run
        data = ray.put(dataset_for(dataset_ref))  # once; run_study has loaded it already
        body = ray.put(run)
        task = ray.remote(_run_task)
        pending: dict[Any, RunSpec] = {}
        for spec in specs:
            options = task.options(
                **self.resources(spec), max_retries=self.max_retries, retry_exceptions=False
            )
            pending[options.remote(body, spec, data)] = spec
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    spec = pending.pop(ref)
                    on_result(self._result(ray, ref, spec))
        finally:
            for ref in pending:  # interrupted, or on_result raised: stop what still runs
                with contextlib.suppress(Exception):  # best effort; the first error matters
                    ray.cancel(ref, force=True)

    def _result(self, ray: ModuleType, ref: Any, spec: RunSpec) -> RunResult:
        """The task's RunResult, or a ``failed`` one that says why there is none."""
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as error:  # the run function raised: not retried
            cause = error.cause if isinstance(error.cause, BaseException) else error
            return spec.record(error=f"{type(cause).__name__}: {cause}")
        except _died(ray) as error:  # the worker or its node died on every attempt
            return spec.record(
                error=f"the Ray worker running it died {self.max_retries + 1} time(s) "
                f"({type(error).__name__}); not retried again",
            )
        except ray.exceptions.RayError as error:  # e.g. its runtime environment failed
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return spec.record(error=f"Ray could not run it: {type(error).__name__}: {first_line}")
        if not isinstance(result, RunResult) or result.key != spec.key:
            return spec.record(error=f"the task returned {result!r} instead of this run's result")
        return result
