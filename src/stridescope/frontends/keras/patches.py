"""An attribute of a Keras class replaced while stridescope reads a model: the replacement
is put in when the first read that needs it begins and the class's own attribute (or none)
is back when the last one ends, so the patch nests and is shared between threads; what the
replacement does on threads that are not reading is up to it (:attr:`ClassPatch.original`
is the class's own, to call there).

>>> class Greeter:
...     def hello(self) -> str:
...         return "hello"
>>> patch = ClassPatch("hello", lambda self: "patched")
>>> with patch.on(Greeter):
...     with patch.on(Greeter):  # (nested: still patched after the inner one ends)
...         pass
...     Greeter().hello()
'patched'
>>> Greeter().hello()
'hello'
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ClassPatch"]


class ClassPatch:
    """``name`` of a class replaced by ``replacement`` while :meth:`on` runs anywhere."""

    def __init__(self, name: str, replacement: Any) -> None:
        self.name, self.replacement = name, replacement
        self.original: Any = None  # the class's own attribute (``None``: it has none)
        self._users = 0  # reads running now, in all threads
        self._lock = threading.Lock()

    @contextmanager
    def on(self, owner: type) -> Iterator[None]:
        """``owner``'s attribute replaced for the block (its own again when the last of the
        blocks running ends, even on errors)."""
        with self._lock:
            if self._users == 0:
                self.original = owner.__dict__.get(self.name)
                setattr(owner, self.name, self.replacement)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    if self.original is None:
                        delattr(owner, self.name)
                    else:
                        setattr(owner, self.name, self.original)
