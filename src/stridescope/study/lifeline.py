"""Processes that die with the study that started them: :func:`die_with_parent`.

A worker process of a study must not outlive its driver: a driver killed with SIGKILL (by the
out-of-memory killer, ``kill -9``, a batch scheduler) cannot end its workers, and a worker
left behind would train on, then sit idle, holding its memory for good. So each worker watches
its parent itself, two ways:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies;
* everywhere, a daemon thread that checks once a second whether the parent is still the one
  it started with (``os.getppid()`` changes when a process is orphaned), and ends the process
  (``os._exit``) when it is not: the fallback where prctl is missing or was refused.

Standard library only, so it is cheap to call first thing in a new process.

>>> import os
>>> watching = die_with_parent(os.getppid(), poll_seconds=60)
>>> watching.daemon
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

__all__ = ["ORPHAN_EXIT_CODE", "die_with_parent", "set_parent_death_signal"]

ORPHAN_EXIT_CODE = 70
"""The exit code of a worker that ended itself because its parent was gone."""

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; True when done
    (False elsewhere, or when libc or prctl is not there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll_seconds: float) -> None:
    while True:
        time.sleep(poll_seconds)
        if os.getppid() != parent:
            os._exit(ORPHAN_EXIT_CODE)


def die_with_parent(parent: int, *, poll_seconds: float = 1.0) -> threading.Thread:
    """End this process when ``parent`` (the pid that started it) dies: the parent-death
    signal where the OS has one, and a watching daemon thread everywhere. If the parent is
    already gone, end now. Returns the (started) watching thread."""
    set_parent_death_signal()
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(ORPHAN_EXIT_CODE)
    watcher = threading.Thread(
        target=_watch, args=(parent, poll_seconds), name="stridescope-lifeline", daemon=True
    )
    watcher.start()
    return watcher
