"""Tensor methods called unbound on a traced tensor: ``torch.Tensor.contiguous(x)``,
``map(torch.Tensor.float, xs)``, ``torch.Tensor.view(x, n, -1)``, ``torch.Tensor.__getitem__(x,
i)``.

``torch.Tensor``'s methods written in C are descriptors of ``torch._C.TensorBase`` that take
only a real tensor as ``self``: handed a traced tensor they raise ``TypeError`` ("descriptor
'view' for 'torch._C.TensorBase' objects doesn't apply to a 'ShapeProxy' object") before any
torch function dispatch sees the call (``x.view()`` is the traced tensor's own method, and
traces). A trace stopped by such an error (:func:`unbound_method` reads its name) runs again
with that method set on ``torch.Tensor`` as a function that hands a traced tensor to its own
method and anything else to torch's (:func:`route`, undone when the trace ends); again for
each method named, up to :data:`MOST` of them. Only the methods named are set: an attribute
set on ``torch.Tensor`` puts a Python call in front of that method for every tensor while it is
set. The methods a model class needed are remembered (bounded), so its later traces set them
from the start instead of stopping again. A property (``torch.Tensor.shape.__get__(x)``) and a
method bound before the trace (``contiguous = torch.Tensor.contiguous`` at import) are not
routed: the trace stops with torch's error.
"""

from __future__ import annotations

import re
import types
from typing import Any

import torch

from stridescope.frontends.pytorch.proxy import ROUTED, ShapeProxy

__all__ = ["MOST", "UnboundMethod", "needed", "remember", "route", "unbound_method", "unroute"]

MOST = 16  # methods found in one trace at most (it runs again for each)
_ERROR = re.compile(
    r"descriptor '(\w+)' (?:for|requires a) 'torch\._C\.TensorBase' object.*'ShapeProxy'"
)
_METHODS = (types.MethodDescriptorType, types.WrapperDescriptorType)
_BASE = torch._C.TensorBase.__dict__
_TENSOR: Any = torch.Tensor
_USERS: dict[str, int] = {}  # per method routed now: traces that route it
_NEEDED: dict[type, frozenset[str]] = {}  # per model class: the methods its traces routed
_NEEDED_LIMIT = 1024


class UnboundMethod(Exception):
    """A forward called ``torch.Tensor.<name>`` unbound on a traced tensor."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(name)
        self.name, self.text = name, text  # (torch's error)


def unbound_method(error: BaseException) -> str | None:
    """The method a forward called unbound on a traced tensor, when that is what ``error``
    says (``None`` otherwise, and for a property or a method ``torch.Tensor`` defines itself).

    >>> unbound_method(TypeError("descriptor 'view' for 'torch._C.TensorBase' objects "
    ...     "doesn't apply to a 'ShapeProxy' object"))
    'view'
    >>> unbound_method(TypeError("descriptor 'shape' for 'torch._C.TensorBase' objects "
    ...     "doesn't apply to a 'ShapeProxy' object")) is None  # a property
    True
    """
    if not isinstance(error, TypeError) or (found := _ERROR.search(str(error))) is None:
        return None
    name = found.group(1)
    if not isinstance(_BASE.get(name), _METHODS) or name in _TENSOR.__dict__:
        return None
    return name


def _routed(name: str, original: Any) -> Any:
    """``torch.Tensor.<name>`` while routed: a traced tensor's own method, else torch's."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if type(self) is ShapeProxy:
            return getattr(self, name)(*args, **kwargs)
        return original(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def route(names: frozenset[str]) -> None:
    """Set each method of ``names`` on ``torch.Tensor`` (the caller holds the patch lock; one
    :func:`unroute` with the same names per call)."""
    for name in names:
        if not _USERS.get(name):
            original = _BASE[name]
            ROUTED[name] = original
            setattr(_TENSOR, name, _routed(name, original))
        _USERS[name] = _USERS.get(name, 0) + 1


def unroute(names: frozenset[str]) -> None:
    """Undo :func:`route` of ``names``: torch's own methods again once no trace routes them."""
    for name in names:
        _USERS[name] -= 1
        if not _USERS[name]:
            del _USERS[name]
            delattr(_TENSOR, name)
            del ROUTED[name]


def needed(cls: type) -> frozenset[str]:
    """The methods earlier traces of a model of class ``cls`` had to route."""
    return _NEEDED.get(cls, frozenset())


def remember(cls: type, names: frozenset[str]) -> None:
    """Remember that traces of a model of class ``cls`` route ``names`` (bounded: past
    ``4 * MOST`` names for one class, those of earlier traces are forgotten)."""
    if len(_NEEDED) >= _NEEDED_LIMIT:
        _NEEDED.clear()
    _NEEDED[cls] = names if len(names) <= 4 * MOST else names - _NEEDED.get(cls, frozenset())
