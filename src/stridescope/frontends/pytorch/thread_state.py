"""Which tracer this thread reports to: the one piece of state a running trace shares.

Proxies and routed module calls look the tracer up here, so two threads can trace at once
(each sees its own) and a thread that is not tracing calls modules as usual.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["STATE", "active_tracer", "set_active_tracer"]


class _State(threading.local):
    """Per thread: ``tracer``, the running tracer or ``None`` (read as ``STATE.tracer`` on
    the hot paths: one attribute lookup per module call or torch call)."""

    tracer: Tracer | None = None


STATE = _State()


def active_tracer() -> Tracer | None:
    """The tracer running in this thread, if any.

    >>> active_tracer() is None
    True
    """
    return STATE.tracer


def set_active_tracer(tracer: Tracer | None) -> None:
    """Make ``tracer`` the one this thread's proxies and module calls report to."""
    STATE.tracer = tracer
