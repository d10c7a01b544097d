"""How torch functions written in Python reach the tracer while a trace runs.

A torch function written in Python (``F.batch_norm``, ``F.layer_norm``, ``F.interpolate``,
``torch.einsum``...) hands a call with a traced tensor to ``torch.overrides.
handle_torch_function``, which sorts the arguments that override torch functions, asks the
torch function modes, then each such argument's ``__torch_function__``: for a traced tensor,
:meth:`ShapeProxy.__torch_function__`, which hands the call to the tracer. While a trace
runs, ``handle_torch_function`` hands a call whose first relevant argument is a traced tensor
straight to the tracer of this thread, with the same function and arguments (2-3 µs less per
call: timm's ``BatchNormAct2d`` calls ``F.batch_norm``, ``LayerNorm2d`` ``F.layer_norm``),
unless a torch function mode other than the trace's own is on. Every other call, and every
call of another thread, runs torch's own code. As for module calls (:mod:`module_calls`),
the code of torch's function object is switched, and the names the replaced code looks up are
put in torch's module namespace under names that begin ``_stridescope_``.

>>> import torch.overrides
>>> from stridescope.frontends.pytorch.function_calls import route, unroute
>>> route(); patched = torch.overrides.handle_torch_function.__code__.co_name; unroute()
>>> patched, torch.overrides.handle_torch_function.__code__.co_name
('_stub', 'handle_torch_function')
"""

from __future__ import annotations

from typing import Any

import torch.overrides

from stridescope.frontends.pytorch.module_calls import function_copy
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.thread_state import STATE

__all__ = ["route", "unroute"]

_TORCH: Any = torch.overrides.handle_torch_function  # torch's function object
_TORCH_CODE = _TORCH.__code__
_ORIGINAL: Any = function_copy(_TORCH)  # torch's code, for what the stub does not take
_SWITCHED: list[bool] = []  # per route() not undone yet: whether the code was switched


def _stub(public_api: Any, relevant_args: Any, *args: Any, **kwargs: Any) -> Any:
    """The code ``handle_torch_function`` runs while switched (in torch's namespace)."""
    tracer = _stridescope_state.tracer  # type: ignore[name-defined]  # noqa: F821
    if (
        tracer is not None
        and type(relevant_args) is tuple
        and relevant_args
        and type(relevant_args[0]) is _stridescope_proxy  # type: ignore[name-defined]  # noqa: F821
        and _stridescope_modes() == (1 if tracer.in_mode else 0)  # type: ignore[name-defined]  # noqa: F821
    ):
        return tracer.call_function(public_api, args, kwargs)
    return _stridescope_handle(public_api, relevant_args, *args, **kwargs)  # type: ignore[name-defined]  # noqa: F821


def route() -> None:
    """Switch ``handle_torch_function``'s code (the caller holds the patch lock; one
    :func:`unroute` per call). Left alone where something else has switched it."""
    switched = _TORCH.__code__ is _TORCH_CODE
    if switched:
        names = _TORCH.__globals__
        names["_stridescope_state"], names["_stridescope_proxy"] = STATE, ShapeProxy
        names["_stridescope_handle"] = _ORIGINAL
        names["_stridescope_modes"] = torch._C._len_torch_function_stack
        _TORCH.__code__ = _stub.__code__
    _SWITCHED.append(switched)


def unroute() -> None:
    """Undo the last :func:`route`."""
    if _SWITCHED.pop():
        _TORCH.__code__ = _TORCH_CODE
