"""Which framework an object belongs to, without importing one that is not loaded yet (an
object of a framework cannot exist before its module is imported).

>>> is_keras_model(object())
False
"""

from __future__ import annotations

import sys

__all__ = ["is_keras_model"]


def is_keras_model(obj: object) -> bool:
    """``obj`` is a ``keras.Model`` (Sequential, Functional or subclassed)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)
