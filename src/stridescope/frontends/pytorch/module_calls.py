"""How module calls reach the tracer while a trace runs.

``nn.Module.__call__`` runs ``self._call_impl(...)``; while a trace runs, torch's
``_call_impl`` runs :func:`routed_call` instead, which sends the tracer's thread to the
tracer and every other thread to a copy of torch's own function. The switch replaces the code
of torch's function object in place (``__code__``, restored when the last trace ends), not
the class attribute: assigning an attribute of ``nn.Module`` makes Python invalidate the
method cache of every subclass loaded (over a thousand once timm is imported), twice per
trace, and every lookup on a module class misses afterwards; that cost 4-9 % of a small
model's summary (LCNet, ShuffleNetV2, LeViT; interleaved runs of each way). The replaced
code looks :func:`routed_call` up in torch's module namespace, where it is put under
``_stridescope_routed_call`` (a name nothing else uses). Where something else has replaced
``nn.Module._call_impl`` (a profiler's patch), the class attribute is patched, as before.

>>> from torch import nn
>>> from stridescope.frontends.pytorch.module_calls import route, unroute
>>> route(); patched = nn.Module._call_impl.__code__.co_name; unroute()
>>> patched, nn.Module._call_impl.__code__.co_name
('_stub', '_call_impl')
"""

from __future__ import annotations

import types
from typing import Any

from torch import nn

from stridescope.frontends.pytorch.thread_state import STATE

__all__ = ["ORIGINAL_CALL", "route", "routed_call", "unroute"]

_TORCH_CALL: Any = nn.Module.__dict__["_call_impl"]  # torch's function object
_TORCH_CODE = _TORCH_CALL.__code__
#: torch's ``_call_impl`` with its own code (what runs outside a trace while the code of
#: ``nn.Module._call_impl`` is switched)
ORIGINAL_CALL: Any = types.FunctionType(
    _TORCH_CODE,
    _TORCH_CALL.__globals__,
    _TORCH_CALL.__name__,
    _TORCH_CALL.__defaults__,
    _TORCH_CALL.__closure__,
)
ORIGINAL_CALL.__kwdefaults__ = _TORCH_CALL.__kwdefaults__
_NAME = "_stridescope_routed_call"
_REPLACED: list[Any] = []  # per route() not undone yet: None (code switched) or the attribute


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


def route() -> None:
    """Send module calls to :func:`routed_call` (the caller holds the patch lock; one
    :func:`unroute` per call)."""
    current: Any = nn.Module.__dict__.get("_call_impl")
    if current is _TORCH_CALL and _TORCH_CALL.__code__ is _TORCH_CODE:
        _TORCH_CALL.__globals__[_NAME] = routed_call
        _TORCH_CALL.__code__ = _stub.__code__
        _REPLACED.append(None)
    else:  # replaced by something else, or switched by a route() not undone: the attribute
        nn.Module._call_impl = routed_call  # type: ignore[method-assign, assignment]
        _REPLACED.append(current)


def unroute() -> None:
    """Undo the last :func:`route`."""
    replaced = _REPLACED.pop()
    if replaced is None:
        _TORCH_CALL.__code__ = _TORCH_CODE
    else:
        nn.Module._call_impl = replaced  # type: ignore[method-assign]
