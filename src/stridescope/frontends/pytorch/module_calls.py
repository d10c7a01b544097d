"""How module calls reach the tracer while a trace runs.

``nn.Module.__call__`` (torch's ``_wrapped_call_impl``) runs ``self._call_impl(...)``; while a
trace runs, ``__call__`` sends the tracer's thread straight to the tracer and every other
thread to a copy of torch's own function, and so does ``_call_impl`` (:func:`routed_call`)
for code that calls it itself. Straight: one Python frame per module call instead of four
(``__call__``, ``_call_impl``, the replaced code, :func:`routed_call`), 3 % of a small
model's summary. The switch replaces the code
of torch's function object in place (``__code__``, restored when the last trace ends), not
the class attribute: assigning an attribute of ``nn.Module`` makes Python invalidate the
method cache of every subclass loaded (over a thousand once timm is imported), twice per
trace, and every lookup on a module class misses afterwards; that cost 4-9 % of a small
model's summary (LCNet, ShuffleNetV2, LeViT; interleaved runs of each way). The replaced
code looks what it calls up in torch's module namespace, where it is put under names that
begin ``_stridescope_`` (names nothing else uses). Where something else has replaced
``nn.Module._call_impl`` (a profiler's patch), the class attribute is patched, as before.

>>> from torch import nn
>>> from stridescope.frontends.pytorch.module_calls import route, unroute
>>> route(); patched = nn.Module._call_impl.__code__.co_name; unroute()
>>> patched, nn.Module._call_impl.__code__.co_name
('_stub', '_call_impl')
>>> route(); patched = nn.Module.__call__.__code__.co_name; unroute()
>>> patched, nn.Module.__call__.__code__.co_name
('_call_stub', '_wrapped_call_impl')
"""

from __future__ import annotations

import types
from typing import Any

from torch import nn

from stridescope.frontends.pytorch.thread_state import STATE

__all__ = ["ORIGINAL_CALL", "ORIGINAL_WRAPPED", "function_copy", "route", "routed_call", "unroute"]


def function_copy(function: Any) -> Any:
    """A function object of its own with ``function``'s code (what runs outside a trace while
    the code of torch's is switched)."""
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


_TORCH_CALL: Any = nn.Module.__dict__["_call_impl"]  # torch's function objects
_TORCH_CODE = _TORCH_CALL.__code__
_TORCH_WRAPPED: Any = nn.Module.__dict__["_wrapped_call_impl"]  # (also ``nn.Module.__call__``)
_TORCH_WRAPPED_CODE = _TORCH_WRAPPED.__code__
ORIGINAL_CALL: Any = function_copy(_TORCH_CALL)  #: torch's ``_call_impl`` with its own code
ORIGINAL_WRAPPED: Any = function_copy(_TORCH_WRAPPED)  #: torch's ``__call__`` with its own code
_NAME = "_stridescope_routed_call"
# per route() not undone yet: None (code switched) or the attribute, and whether the code of
# ``__call__`` was switched too
_REPLACED: list[tuple[Any, bool]] = []


def routed_call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``nn.Module._call_impl`` while a trace runs: the tracer's thread goes through the
    tracer, every other thread through torch's own ``_call_impl``."""
    tracer = STATE.tracer
    if tracer is None:
        return ORIGINAL_CALL(module, *args, **kwargs)
    return tracer.call_module(module, args, kwargs)


def _stub(self: Any, *args: Any, **kwargs: Any) -> Any:
    """The code torch's ``_call_impl`` runs while switched (in torch's module namespace)."""
    return _stridescope_routed_call(self, *args, **kwargs)  # type: ignore[name-defined]  # noqa: F821


def _call_stub(self: Any, *args: Any, **kwargs: Any) -> Any:
    """The code torch's ``__call__`` runs while switched (in torch's module namespace)."""
    tracer = _stridescope_state.tracer  # type: ignore[name-defined]  # noqa: F821
    if tracer is None:
        return _stridescope_wrapped(self, *args, **kwargs)  # type: ignore[name-defined]  # noqa: F821
    return tracer.call_module(self, args, kwargs)


def route() -> None:
    """Send module calls to the tracer (the caller holds the patch lock; one
    :func:`unroute` per call)."""
    current: Any = nn.Module.__dict__.get("_call_impl")
    if current is _TORCH_CALL and _TORCH_CALL.__code__ is _TORCH_CODE:
        names = _TORCH_CALL.__globals__
        names[_NAME] = routed_call
        _TORCH_CALL.__code__ = _stub.__code__
        replaced = None
    else:  # replaced by something else, or switched by a route() not undone: the attribute
        nn.Module._call_impl = routed_call  # type: ignore[method-assign, assignment]
        replaced = current
    call: Any = nn.Module.__dict__.get("__call__")
    wrapped = call is _TORCH_WRAPPED and call.__code__ is _TORCH_WRAPPED_CODE
    if wrapped:  # (else torch's ``__call__`` reaches the routed ``_call_impl`` as it is)
        names = _TORCH_WRAPPED.__globals__
        names["_stridescope_state"], names["_stridescope_wrapped"] = STATE, ORIGINAL_WRAPPED
        _TORCH_WRAPPED.__code__ = _call_stub.__code__
    _REPLACED.append((replaced, wrapped))


def unroute() -> None:
    """Undo the last :func:`route`."""
    replaced, wrapped = _REPLACED.pop()
    if wrapped:
        _TORCH_WRAPPED.__code__ = _TORCH_WRAPPED_CODE
    if replaced is None:
        _TORCH_CALL.__code__ = _TORCH_CODE
    else:
        nn.Module._call_impl = replaced  # type: ignore[method-assign]
