"""Which of a model's weights an operation uses, each counted once, where first used.

A weight is a ``keras.Variable`` among an operation's operands (``x * self.gamma``), or, on
the torch backend, a tensor computed from weights alone before the operation meets the input:
Keras runs such a computation eagerly while it records a subclassed model's ``call``
(``ops.transpose(self.kernel)``, ``ops.exp(self.log_scale)``, ``ops.stop_gradient(self.w)``),
so the operation is handed a plain torch tensor. That tensor leads back to the weights by its
autograd graph (each weight's value is a torch parameter), or is one's own memory
(``stop_gradient`` detaches). While a model is read (:func:`weights_read`), such tensors count
the weights behind them. A weight whose value the call reads for Python
(``float(ops.convert_to_numpy(self.gate))`` deciding a branch) is used too: :func:`values_read`
notes which weights' values a call read.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from stridescope.frontends.keras.patches import ClassPatch
from stridescope.ir import GraphBuilder

__all__ = [
    "count_read",
    "count_weights",
    "counted_once",
    "owners_named",
    "values_read",
    "weights_among",
    "weights_read",
]

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
        from stridescope.frontends.pytorch.param_counting import values_at

        where = values_at(tensor)
        return [w for w in by_memory.get(tensor.data_ptr(), ()) if values_at(w.value) == where]
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


# while a model is read: the name of the layer that counted each weight, by the weight's id
_OWNERS: ContextVar[dict[int, str] | None] = ContextVar("stridescope_keras_owners", default=None)


@contextmanager
def owners_named() -> Iterator[None]:
    """Inside, :func:`counted_once` notes which layer counted each weight (the ``shares`` of
    a node that uses it again names that layer)."""
    token = _OWNERS.set({})
    try:
        yield
    finally:
        _OWNERS.reset(token)


def counted_once(
    b: GraphBuilder, first: int, weights: Sequence[Any], seen: set[int], owner: str
) -> None:
    """Each weight counts once in a read, where first used: the nodes from ``first`` on
    count ``weights`` (a layer's, in its own count); those counted before (ids in ``seen``:
    by another layer or operation that uses them, as a tied embedding table, or a Dense used
    directly and again inside a custom layer) are taken off the first nodes that hold
    parameters, and a node left with none names the layer that counted them (``shares``).
    The others are counted here now (marked in ``seen``, by ``owner``)."""
    unique = {id(w): w for w in weights}
    before = [w for i, w in unique.items() if i in seen]
    owners = _OWNERS.get()
    for i in unique.keys() - seen:
        seen.add(i)
        if owners is not None:
            owners[i] = owner
    extra = sum(math.prod(int(d) for d in w.shape) for w in before)
    if not extra:
        return
    where = (owners or {}).get(id(before[0])) or str(before[0].path).rpartition("/")[0]
    for node in range(first, b.size):
        held = b._nodes[node].params
        if extra and held:
            if held <= extra:
                b.shared(node, where)
            else:
                b.add_params(node, -extra)
            extra -= min(held, extra)


def count_read(
    b: GraphBuilder, weights: Sequence[Any], read: set[int], seen: set[int], at: int
) -> None:
    """The weights whose values a call read (``read``, by id: a gate deciding a branch) and
    no node counted (``seen``) are counted at node ``at``, where one follows the inputs
    (their use is not in the graph)."""
    if read and b.size > at:
        b.add_params(at, count_weights([w for w in weights if id(w) in read], seen))


_LOCAL = threading.local()  # per thread: the sets of the reads running (``sets``)


def _reading(self: Any) -> Any:
    """``Variable.value`` while patched: the weight's id noted in the reads running on this
    thread."""
    for found in getattr(_LOCAL, "sets", ()):
        found.add(id(self))
    return _VALUE.original.fget(self)


# (the torch backend Variable's own ``value`` property: its ``original``)
_VALUE = ClassPatch("value", property(_reading))


@contextmanager
def values_read() -> Iterator[set[int]]:
    """The ids of the weights whose values are read inside the block (on this thread);
    empty on a backend other than torch."""
    import keras

    found: set[int] = set()
    if keras.backend.backend() != "torch":
        yield found
        return
    from keras.src.backend.torch.core import Variable

    with _VALUE.on(Variable):
        _LOCAL.sets = [*getattr(_LOCAL, "sets", ()), found]
        try:
            yield found
        finally:
            _LOCAL.sets = [s for s in _LOCAL.sets if s is not found]
