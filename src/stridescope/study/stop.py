"""SIGTERM ends a study the way Ctrl-C does: :func:`sigterm_as_interrupt`.

``kill``, systemd, Slurm and Kubernetes stop a program with SIGTERM, whose default action ends
the driver at once, leaving its workers without the driver that would stop them. Under
:func:`sigterm_as_interrupt` a SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in
the main thread instead, so the path Ctrl-C takes runs: the executor ends its workers (or
cancels its Ray tasks), the runs already stored stay, and the caller reports it. A second
SIGTERM during that clean-up ends the process at once (the default action), as a scheduler's
follow-up SIGKILL would.

>>> import os, signal
>>> with sigterm_as_interrupt():
...     try:
...         os.kill(os.getpid(), signal.SIGTERM)
...         for _ in range(10_000_000):  # the handler runs between two bytecodes
...             pass
...     except Terminated:
...         print("terminated")
terminated
>>> sigterm_received()
True
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = [
    "TERMINATED_EXIT_CODE",
    "Terminated",
    "keep_sigterm_handler",
    "sigterm_as_interrupt",
    "sigterm_received",
]

TERMINATED_EXIT_CODE = 128 + signal.SIGTERM
"""143: what a shell reports for a program that SIGTERM ended."""


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM (under :func:`sigterm_as_interrupt`)."""


_received: list[bool] = [False]  # whether SIGTERM came during the current block


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once
    _received[0] = True
    raise Terminated


def sigterm_received() -> bool:
    """Whether a SIGTERM came within the current (or last) :func:`sigterm_as_interrupt`
    block. Code that catches a ``KeyboardInterrupt`` and raises its own (Ray does, while it
    waits for tasks) loses the :class:`Terminated` type; this does not."""
    return _received[0]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere,
    where Python cannot set handlers, the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received[0] = False
    before = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def keep_sigterm_handler() -> Iterator[None]:
    """Put this process's SIGTERM handler back after the block (a library such as Ray sets
    its own when it connects); does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
