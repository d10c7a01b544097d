"""Torch functions a custom Keras layer calls itself, on the torch backend.

A layer may call the backend's own functions inside ``call`` where Keras has no op for what it
needs (keras_hub's Depth Anything resizes with ``F.interpolate(..., align_corners=True)``;
attention layers call ``F.scaled_dot_product_attention``). On the symbolic stand-ins the
layer is read with, such a call would fail, and the whole layer stayed one uncounted node.
While a layer is read (:func:`recorded`), a torch function given a ``KerasTensor`` is
recorded as an operation of its own (:class:`TorchCall`, its output shape from a run on meta
tensors, as Keras computes every op's), and :func:`add_torch_call` counts it with the
PyTorch tracer's handler for that function: the same node, MACs and geometry as in a
PyTorch model. A function that tracer does not count stays an uncounted node.

>>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")
'torch'
>>> import keras, torch.nn.functional as F
>>> from stridescope.frontends.keras.torch_calls import recorded
>>> with recorded():
...     y = F.interpolate(keras.KerasTensor((1, 2, 4, 4)), scale_factor=2)
>>> y.shape, type(y._keras_history.operation).__name__
((1, 2, 8, 8), 'TorchCall')
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from stridescope.frontends.keras.patches import ClassPatch
from stridescope.ir import GraphBuilder

__all__ = ["add_torch_call", "countable", "recorded"]

_NAMES = threading.local()  # per thread: the names the layer being read has used, with counts


def _unique(name: str) -> str:
    """``name``, then ``name_1``, ``name_2``... within one layer's read (Keras wants the
    operations of a graph named apart; its own counters would number them by what the
    process made before)."""
    counts: dict[str, int] = getattr(_NAMES, "counts", None) or {}
    _NAMES.counts = counts
    seen = counts.get(name, 0)
    counts[name] = seen + 1
    return name if seen == 0 else f"{name}_{seen}"


class _Slot:
    """Where the ``i``-th tensor goes back into a recorded call's arguments."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def _template(value: Any, tensors: list[Any], kind: type) -> Any:
    """``value`` with each ``kind`` instance in it replaced by a :class:`_Slot` (appended to
    ``tensors``), inside tuples, lists and dicts."""
    from stridescope.frontends.pytorch.meta_calls import map_values

    def slot(v: Any) -> Any:
        if not isinstance(v, kind):
            return v
        tensors.append(v)
        return _Slot(len(tensors) - 1)

    return map_values(value, slot)


def _filled(value: Any, tensors: Sequence[Any], detach: bool = False) -> Any:
    """:func:`_template`'s inverse: each slot replaced by its tensor; ``detach``: each real
    tensor besides detached, a plain tensor without autograd history, from which the
    PyTorch tracer counts no parameter (a Keras weight's value is a torch parameter on this
    backend; the Keras reader counts the weight). A Keras weight handed to the torch function
    itself (``F.conv2d(x, self.kernel)``) is its value, so detached too."""
    import keras
    import torch

    from stridescope.frontends.pytorch.meta_calls import map_values

    def fill(v: Any) -> Any:
        if type(v) is _Slot:
            return tensors[v.i]
        if detach and isinstance(v, keras.Variable):
            v = v.value
        return v.detach() if detach and isinstance(v, torch.Tensor) else v

    return map_values(value, fill)


_CLASS: list[type] = []


def _operation() -> type:
    """The :class:`TorchCall` operation class (made on first use: Keras is optional)."""
    if not _CLASS:
        import keras

        class TorchCall(keras.Operation):  # type: ignore[misc]
            """A torch function called on symbolic tensors: ``func`` with ``template``'s
            slots filled by the tensors the operation is called on."""

            def __init__(self, func: Any, template: tuple[Any, Any]) -> None:
                super().__init__(name=_unique(str(getattr(func, "__name__", "call")).strip("_")))
                self.func, self.template = func, template

            def call(self, *tensors: Any) -> Any:
                args, kwargs = _filled(self.template, tensors)
                return self.func(*args, **kwargs)

        _CLASS.append(TorchCall)
    return _CLASS[0]


def _record(cls: type, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
    """``KerasTensor.__torch_function__`` while a layer is read: the call as a
    :class:`TorchCall` on the symbolic tensors among its arguments. An operator
    (``real_tensor + x``: ``Tensor.__add__``) is left to the tensor's own reflected operator,
    which records Keras' op, as before."""
    if str(getattr(func, "__name__", "")).startswith("__"):
        return NotImplemented
    tensors: list[Any] = []
    template = _template((tuple(args), dict(kwargs or {})), tensors, cls)
    return _operation()(func, template)(*tensors)


@contextmanager
def recorded() -> Iterator[None]:
    """Torch functions called on ``KerasTensor`` s inside the block are recorded as
    operations (torch backend only; nests, and is shared between threads)."""
    import keras

    if keras.backend.backend() != "torch":
        yield
        return
    outer = getattr(_NAMES, "counts", None)
    _NAMES.counts = {}  # (a layer read inside another's read numbers its own)
    try:
        with _FUNCTION.on(keras.KerasTensor), _METHOD.on(keras.KerasTensor):
            yield
    finally:
        _NAMES.counts = outer


def _tensor_method(self: Any, name: str) -> Any:
    """``KerasTensor.__getattr__`` while a layer is read: a torch tensor method the layer
    calls on its input (``x.contiguous()``, ``x.permute(...)``: torch-backend code), recorded
    as the torch call it is; only methods the PyTorch tracer counts, so other names (``numpy``,
    private ones) stay missing, as ``hasattr`` checks expect."""
    import torch

    from stridescope.frontends.pytorch.function_table import FUNCTIONS

    method = getattr(torch.Tensor, name, None) if not name.startswith("_") else None
    if method is None or method not in FUNCTIONS:
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
    return lambda *args, **kwargs: _record(type(self), method, (), (self, *args), kwargs)


def is_torch_call(op: Any) -> bool:
    """Whether ``op`` is a recorded torch function call."""
    return bool(_CLASS) and type(op) is _CLASS[0]


def countable(op: Any) -> bool:
    """Whether ``op`` is a torch function call the PyTorch tracer counts."""
    from stridescope.frontends.pytorch.function_table import FUNCTIONS

    return is_torch_call(op) and op.func in FUNCTIONS


def add_torch_call(b: GraphBuilder, parents: Sequence[int], op: Any, name: str) -> list[int]:
    """The node(s) of a recorded torch call on ``parents``, made by the PyTorch tracer's
    handler for its function (one per tensor it returns; the first named ``name``)."""
    import torch

    from stridescope.frontends.pytorch.function_table import FUNCTIONS
    from stridescope.frontends.pytorch.meta_calls import walk_values
    from stridescope.frontends.pytorch.module_table import MODULES
    from stridescope.frontends.pytorch.proxy import ShapeProxy
    from stridescope.frontends.pytorch.thread_state import active_tracer, set_active_tracer
    from stridescope.frontends.pytorch.tracer import Tracer

    tracer = Tracer(b, {}, FUNCTIONS, MODULES)
    tracer.scoped = lambda base: tracer.unique(name)  # type: ignore[method-assign]
    proxies = [
        ShapeProxy(p, tuple(1 if d is None else d for d in b.shape(p)), torch.float32)
        for p in parents
    ]
    args, kwargs = _filled(op.template, proxies, detach=True)  # Keras counts its weights
    previous = active_tracer()
    set_active_tracer(tracer)
    try:
        with b.channels_first():  # as torch takes its tensors
            out = tracer.call_function(op.func, args, kwargs)
    finally:
        set_active_tracer(previous)
    return [v.node for v in walk_values(out) if type(v) is ShapeProxy]


# the hooks on ``KerasTensor`` while a layer is read (shared between threads, nested)
_FUNCTION = ClassPatch("__torch_function__", classmethod(_record))
_METHOD = ClassPatch("__getattr__", _tensor_method)
