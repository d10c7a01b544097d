"""Python's cyclic garbage collector paused while a graph is built and analysed.

A trace and a summary allocate thousands of small container objects (nodes, their fields,
rows) that live for the call and die by reference counting when it returns; none form cycles
that need the collector. With the collector on, its young-generation passes run every few
hundred allocations during the call, find all of them alive and promote them, and the
promoted objects then count towards full collections, which walk every object the process
holds (hundreds of thousands once torch and a model library are imported). Paused, the
collector does none of that work: by the time it is back on, the call's objects are gone and
its allocation count is back where it was.

The pause nests and is shared between threads (the collector is resumed when the last pause
ends, and only if it was on when the first began); a call that raises resumes it too.

>>> import gc
>>> with gc_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_LOCK = threading.Lock()
_DEPTH = 0  # pauses running now, in all threads
_RESUME = False  # whether the collector was on when the first of them began


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block (or a decorated call)."""
    global _DEPTH, _RESUME
    with _LOCK:
        if _DEPTH == 0:
            _RESUME = gc.isenabled()
            gc.disable()
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _RESUME:
                gc.enable()
