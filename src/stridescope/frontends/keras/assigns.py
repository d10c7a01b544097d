"""Variable writes in a layer's ``call`` do nothing while stridescope reads it.

A custom layer (or a subclassed model) may write its variables in ``call``: a step counter
(``self.count.assign_add(1.0)``), a running average (``self.ema.assign(self.ema * 0.9 +
ops.mean(x) * 0.1)``). Reading the layer runs its ``call`` on symbolic stand-ins; a write of a
real value really happened there (a summary changed the model), and a write of a symbolic
value failed, so the whole layer was left uncounted. Within :func:`assigns_dropped`, on the
reading thread, ``Variable.assign`` (which ``assign_add`` and ``assign_sub`` call) checks the
value's shape as Keras does and writes nothing; later reads in the same call see the value
as it was, with the same shape. Other threads assign as usual.

>>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")
'torch'
>>> import keras
>>> v = keras.Variable(keras.ops.zeros(()))
>>> with assigns_dropped():
...     _ = v.assign_add(1.0)
>>> float(v.numpy())
0.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stridescope.frontends.keras.patches import ClassPatch

__all__ = ["assigns_dropped"]

_LOCAL = threading.local()  # per thread: how many reads are running (``depth``)


def _dropped(self: Any, value: Any) -> Any:
    """``Variable.assign`` while patched: nothing written on a reading thread."""
    if not getattr(_LOCAL, "depth", 0):
        return _PATCH.original(self, value)
    import keras

    shape = tuple(getattr(value, "shape", ()) or ())
    if not isinstance(value, keras.KerasTensor) and not hasattr(value, "shape"):
        return value  # a Python number: broadcast, as Keras converts it
    if len(shape) == len(self.shape) and all(
        a is None or a == b for a, b in zip(shape, self.shape, strict=True)
    ):
        return value
    raise ValueError(
        f"The shape of the target variable and the shape of the target value in "
        f"`variable.assign(value)` must match. variable.shape={self.shape}, "
        f"Received: value.shape={shape}"
    )


@contextmanager
def assigns_dropped() -> Iterator[None]:
    """Variable writes do nothing on this thread for the duration (nested: counted)."""
    from keras.src.backend.common.variables import Variable

    with _PATCH.on(Variable):
        _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
        try:
            yield
        finally:
            _LOCAL.depth -= 1


_PATCH = ClassPatch("assign", _dropped)  # (Keras' own ``Variable.assign``: its ``original``)
