"""How a study shares the machine: cores, runs at once (workers) and torch threads per run.

One formula, used by the plan (each run's thread count), the driver (how many runs at once) and
the local executor (the threads of its worker processes): ``workers`` is the study's option, or
:func:`default_workers` when it is 0 ("choose"); each run gets an equal share of the cores.

>>> share_cores(workers=0, cores=8)
Resources(cores=8, workers=2, threads=4)
>>> share_cores(workers=3, cores=2)
Resources(cores=2, workers=3, threads=1)

``OMP_NUM_THREADS``, where set, caps the threads of each run (as it caps torch's own default),
not the number of runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stridescope.errors import StridescopeError

__all__ = ["Resources", "available_cores", "default_workers", "share_cores", "thread_cap"]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def thread_cap() -> int | None:
    """The threads a run may take at most: ``OMP_NUM_THREADS`` where it is a positive whole
    number (torch's own default honours it), else ``None``."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_workers(cores: int) -> int:
    """Parallel runs by default: two single-threaded runs beat one run on two threads.

    >>> default_workers(1), default_workers(2), default_workers(16)
    (1, 2, 2)
    """
    return max(1, min(2, cores))


@dataclass(frozen=True)
class Resources:
    """The cores a study may use, how many runs execute at once, and torch threads per run."""

    cores: int
    workers: int
    threads: int


def share_cores(workers: int = 0, cores: int | None = None) -> Resources:
    """Share ``cores`` (default: :func:`available_cores`) among ``workers`` parallel runs.

    ``workers=0`` means "choose": :func:`default_workers`. Each run gets
    ``max(1, cores // workers)`` threads, so runs never ask for more cores than there are
    (except one thread each when there are more workers than cores), and never more than
    :func:`thread_cap`.

    >>> share_cores(workers=1, cores=4).threads, share_cores(workers=0, cores=1).workers
    (4, 1)
    """
    total = available_cores() if cores is None else cores
    if workers < 0 or total < 1:
        raise StridescopeError(
            f"workers must be 0 (choose) or more and cores at least 1; "
            f"received workers={workers}, cores={total}"
        )
    runs = workers or default_workers(total)
    threads = max(1, total // runs)
    cap = thread_cap()
    return Resources(
        cores=total, workers=runs, threads=threads if cap is None else min(cap, threads)
    )
