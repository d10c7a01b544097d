"""Which of a model's weights an operation uses, each counted once, where first used.

A weight is a ``keras.Variable`` among an operation's operands (``x * self.gamma``), or, on
the torch backend, a tensor computed from weights alone before the operation meets the input:
Keras runs such a computation eagerly while it records a subclassed model's ``call``
(``ops.transpose(self.kernel)``, ``ops.exp(self.log_scale)``, ``ops.stop_gradient(self.w)``),
so the operation is handed a plain torch tensor. That tensor leads back to the weights by its
autograd graph (each weight's value is a torch parameter), or is one's own memory
(``stop_gradient`` detaches). While a model is read (:func:`weights_read`), such tensors count
the weights behind them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["count_weights", "weights_among", "weights_read"]

# while a model is read: its weights by the id of their torch value, and by data pointer
_WEIGHTS: ContextVar[tuple[dict[int, Any], dict[int, list[Any]]] | None] = ContextVar(
    "stridescope_keras_weights", default=None
)


@contextmanager
def weights_read(model: Any) -> Iterator[None]:
    """Tensors computed from ``model``'s weights count them (torch backend) inside."""
    import keras

    if keras.backend.backend() != "torch" or _WEIGHTS.get() is not None:
        yield
        return
    by_value: dict[int, Any] = {}
    by_memory: dict[int, list[Any]] = {}
    for w in model.weights:
        value = w.value
        by_value[id(value)] = w
        by_memory.setdefault(value.data_ptr(), []).append(w)
    token = _WEIGHTS.set((by_value, by_memory))
    try:
        yield
    finally:
        _WEIGHTS.reset(token)


def weights_among(values: Sequence[Any]) -> list[Any]:
    """The ``keras.Variable`` s among ``values``, and the weights the torch tensors among
    them were computed from (see the module)."""
    import keras

    found = [v for v in values if isinstance(v, keras.Variable)]
    known = _WEIGHTS.get()
    if known is None:
        return found
    import torch

    for value in values:
        if isinstance(value, torch.Tensor) and not isinstance(value, keras.KerasTensor):
            found += _behind(value, *known)
    return found


def _behind(tensor: Any, by_value: dict[int, Any], by_memory: dict[int, list[Any]]) -> list[Any]:
    """The weights ``tensor`` is, or was computed from."""
    if (w := by_value.get(id(tensor))) is not None:
        return [w]
    if tensor.grad_fn is None:  # (a weight's memory: stop_gradient, detach)
        where = (tuple(tensor.shape), tensor.stride(), tensor.storage_offset())
        return [
            w
            for w in by_memory.get(tensor.data_ptr(), ())
            if (tuple(w.value.shape), w.value.stride(), w.value.storage_offset()) == where
        ]
    found, stack, walked = [], [tensor.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in walked:
            continue
        walked.add(id(fn))
        variable = getattr(fn, "variable", None)
        if variable is not None and (w := by_value.get(id(variable))) is not None:
            found.append(w)
        stack += [parent for parent, _ in fn.next_functions]
    return found


def count_weights(values: Sequence[Any], seen: set[int]) -> int:
    """Elements of the weights among ``values`` (:func:`weights_among`) not counted yet
    (marked now)."""
    params = 0
    for w in weights_among(values):
        if id(w) not in seen:
            seen.add(id(w))
            params += math.prod(int(d) for d in w.shape)
    return params
