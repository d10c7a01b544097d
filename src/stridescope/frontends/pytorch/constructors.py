"""``torch.as_tensor``, ``torch.asarray`` and ``torch.tensor`` called on traced tensors, as
a forward runs them.

They are C functions that do not dispatch ``__torch_function__`` on their data: given a
proxy, torch read it as a nested sequence and the trace failed (``IndexError: tuple index out
of range``). While a trace runs they are routed here. ``as_tensor`` and ``asarray`` of a
proxy return it (cast to the dtype asked for), ``tensor`` a copy of it; a list of proxies of
one element each is stacked, as torch makes a tensor of a list of one-element tensors.
Anything else goes to torch's own function. ``torch.autograd.Variable(x)`` (code written for
torch before 0.4 wraps its input so) of a proxy is the proxy, as it is the tensor in a
forward that runs.

Model code that bound one before the trace (``from torch import as_tensor``) holds torch's
function, which the routed attribute never replaces: such names in the loaded modules (those
not of torch, the standard library or stridescope; each module read once, when first seen)
point at the routed one while a trace runs (:func:`route`), and back after (:func:`unroute`).

>>> import torch
>>> from stridescope.frontends import load_graph
>>> class M(torch.nn.Module):
...     def forward(self, x):
...         return torch.tensor(torch.asarray(x) * 2)
>>> load_graph(M(), (1, 3, 4, 4)).output.output_shape
(1, 3, 4, 4)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch import flex_attention
from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["route", "unroute"]

_AS_TENSOR: Callable[..., Any] = torch.as_tensor
_ASARRAY: Callable[..., Any] = torch.asarray
_TENSOR: Callable[..., Any] = torch.tensor
_VARIABLE = torch.autograd.Variable
_VARIABLE_BASE_NEW: Callable[..., Any] = torch._C._LegacyVariableBase.__new__


def _variable_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``Variable(x, ...)``: a proxy ``x`` itself, anything else torch's own."""
    if args and type(args[0]) is ShapeProxy:
        return args[0]
    return _VARIABLE_BASE_NEW(cls, *args, **kwargs)


def _traced(data: Any, dtype: Any, copy: bool) -> Any:
    """``data`` as a traced tensor (a proxy, or a list of one-element proxies stacked), cast
    to ``dtype`` (and copied: ``copy``); ``None`` where it holds no proxy to stand for."""
    if type(data) is not ShapeProxy:
        if (
            type(data) not in (list, tuple)
            or not data
            or not all(type(d) is ShapeProxy and math.prod(d.dims) == 1 for d in data)
        ):
            return None
        data, copy = torch.stack(list(data)), False
    if copy:
        data = data.clone()
    return data if dtype is None or dtype == data.dtype else data.to(dtype)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Any:
    """``torch.as_tensor`` while a trace runs."""
    made = _traced(data, dtype, copy=False)
    return _AS_TENSOR(data, dtype=dtype, device=device) if made is None else made


def asarray(obj: Any, *args: Any, dtype: Any = None, copy: Any = None, **kwargs: Any) -> Any:
    """``torch.asarray`` while a trace runs."""
    made = None if args else _traced(obj, dtype, copy=bool(copy))
    return _ASARRAY(obj, *args, dtype=dtype, copy=copy, **kwargs) if made is None else made


def tensor(data: Any, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
    """``torch.tensor`` while a trace runs: always a copy, as torch's."""
    made = None if args else _traced(data, dtype, copy=True)
    return _TENSOR(data, *args, dtype=dtype, **kwargs) if made is None else made


# torch's function (by id) -> its routed stand-in
_ROUTED: dict[int, tuple[Callable[..., Any], Callable[..., Any]]] = {
    id(f): (f, r)
    for f, r in (
        (_AS_TENSOR, as_tensor),
        (_ASARRAY, asarray),
        (_TENSOR, tensor),
        (flex_attention.FLEX_ATTENTION, flex_attention.flex_attention),  # (not a constructor)
    )
}
# top-level packages whose modules are not read for bound names (their code does not take a
# proxy to these functions, or keeps torch's answer)
_SKIP = frozenset({"torch", "stridescope", "numpy", "typing_extensions"}) | sys.stdlib_module_names
_SEEN: set[str] = set()  # modules read
_BOUND: dict[str, tuple[str, ...]] = {}  # module -> its names bound to one of _ROUTED
_COUNT = [0]  # len(sys.modules) when last read
_REBOUND: list[tuple[dict[str, Any], str, Any]] = []  # (namespace, name, torch's function)


def _routed(value: Any) -> Callable[..., Any] | None:
    """The routed stand-in of ``value`` where it is one of torch's three functions."""
    found = _ROUTED.get(id(value))
    return found[1] if found is not None and found[0] is value else None


def _read_new_modules() -> None:
    """Find, in each module loaded since the last call, the names bound to torch's
    constructors."""
    if _COUNT[0] == len(sys.modules):
        return
    for name, module in list(sys.modules.items()):
        if name in _SEEN:
            continue
        _SEEN.add(name)
        namespace = getattr(module, "__dict__", None)
        if name.partition(".")[0] in _SKIP or type(namespace) is not dict:
            continue
        found = tuple(k for k, v in list(namespace.items()) if _routed(v) is not None)
        if found:
            _BOUND[name] = found
    _COUNT[0] = len(sys.modules)


def route() -> None:
    """Route the three functions (and ``flex_attention``: :mod:`.flex_attention`), by
    attribute and where model code bound them."""
    torch.as_tensor = as_tensor
    torch.asarray = asarray
    torch.tensor = tensor
    _VARIABLE.__new__ = _variable_new  # type: ignore[method-assign]
    flex_attention.route()
    _read_new_modules()
    for name, bound in _BOUND.items():
        namespace = getattr(sys.modules.get(name), "__dict__", None)
        if type(namespace) is not dict:
            continue
        for key in bound:
            value = namespace.get(key)
            if (stand_in := _routed(value)) is not None:
                namespace[key] = stand_in
                _REBOUND.append((namespace, key, value))


def unroute() -> None:
    """torch's own functions back, by attribute and where model code bound them."""
    torch.as_tensor = _AS_TENSOR
    torch.asarray = _ASARRAY
    torch.tensor = _TENSOR
    if "__new__" in _VARIABLE.__dict__:
        del _VARIABLE.__new__
    flex_attention.unroute()
    for namespace, key, value in _REBOUND:
        namespace[key] = value
    _REBOUND.clear()
