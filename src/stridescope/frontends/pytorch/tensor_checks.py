"""Model code that asks whether a value is a tensor, answered for traced tensors as a real
forward answers it.

A :class:`~stridescope.frontends.pytorch.proxy.ShapeProxy` is not a ``torch.Tensor`` (making
``isinstance`` say so would let torch's C code take it for one). While a trace runs, the
torch helpers that model code (and torch's own Python code) asks instead are routed here:
``torch.is_tensor``; ``torch.jit.isinstance(x, torch.Tensor)`` (MONAI's up-sampling blocks
concatenate their skip only when it holds); ``torch.as_tensor`` (a proxy is already one: it
is returned, cast to the dtype asked for); ``F._none_or_dtype`` (``nn.MultiheadAttention``
and the transformer layers ask it a mask's dtype: a traced mask, as Mask2Former's masked
attention passes, was refused). einops, which picks its backend by ``isinstance``, is given
a backend of its own kind for proxies (:func:`register_einops`), so ``rearrange``,
``reduce``, ``repeat`` and ``einsum`` trace the torch calls its torch backend makes.

A plain ``isinstance(x, torch.Tensor)`` is answered in the model's own code
(:func:`shadow_isinstance`): the modules of the packages that define the model's classes get
a global ``isinstance`` for the trace that says a proxy is a tensor, so a detection decoder's
``if isinstance(boxes, torch.Tensor)`` takes the branch a real forward takes. torch's
modules and C code keep the builtin one.
"""

from __future__ import annotations

import builtins
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["register_einops", "route", "shadow_isinstance", "unroute"]

_ISINSTANCE: Callable[[Any, Any], bool] = builtins.isinstance

_IS_TENSOR: Callable[[Any], bool] = torch.is_tensor
_AS_TENSOR: Callable[..., Any] = torch.as_tensor
_JIT_ISINSTANCE: Callable[[Any, Any], bool] = torch.jit.isinstance
_NONE_OR_DTYPE: Callable[[Any], Any] = F._none_or_dtype


def _is_tensor(obj: Any) -> bool:
    return type(obj) is ShapeProxy or _IS_TENSOR(obj)


def _jit_isinstance(obj: Any, target_type: Any) -> bool:
    if type(obj) is ShapeProxy and target_type is torch.Tensor:
        return True
    return _JIT_ISINSTANCE(obj, target_type)


def _as_tensor(data: Any, dtype: torch.dtype | None = None, device: Any = None) -> Any:
    if type(data) is ShapeProxy:
        return data if dtype is None or dtype == data.dtype else data.to(dtype)
    return _AS_TENSOR(data, dtype=dtype, device=device)


def _none_or_dtype(mask: Any) -> Any:
    return mask.dtype if type(mask) is ShapeProxy else _NONE_OR_DTYPE(mask)


def _names_tensor(cls: Any) -> bool:
    """Whether an ``isinstance`` target admits a ``torch.Tensor``: the class, a tuple or a
    union holding it."""
    if cls is torch.Tensor:
        return True
    if type(cls) is tuple:
        return any(map(_names_tensor, cls))
    if type(cls) is types.UnionType or typing.get_origin(cls) is typing.Union:
        return any(map(_names_tensor, typing.get_args(cls)))
    return False


def _isinstance(obj: Any, cls: Any) -> bool:
    """``isinstance`` in model code while a trace runs: a proxy is a ``torch.Tensor``."""
    if type(obj) is ShapeProxy and _names_tensor(cls):
        return True
    return _ISINSTANCE(obj, cls)


_KEEP = frozenset({"torch", "stridescope"})  # their code keeps the builtin
_SHADOWED: list[dict[str, Any]] = []
_PACKAGES: dict[frozenset[type], frozenset[str]] = {}
_NAMESPACES: dict[tuple[frozenset[str], int], list[dict[str, Any]]] = {}


def _packages(classes: frozenset[type]) -> frozenset[str]:
    """The top-level packages whose code a model of ``classes`` runs: those defining the
    classes and their bases, and those their modules import from (a library's helpers; a
    script's model calling a model library), torch's and the standard library's excepted."""
    found = _PACKAGES.get(classes)
    if found is None:
        names: set[str] = set()
        modules = {c.__module__ for cls in classes for c in cls.__mro__}
        for module in modules:
            names.add(module.partition(".")[0])
            for value in list(getattr(sys.modules.get(module), "__dict__", {}).values()):
                if isinstance(value, types.ModuleType):
                    names.add(value.__name__.partition(".")[0])
                elif isinstance(value, type | types.FunctionType):
                    names.add(str(value.__module__).partition(".")[0])
        if len(_PACKAGES) > 256:
            _PACKAGES.clear()
        found = _PACKAGES[classes] = frozenset(names - _KEEP - sys.stdlib_module_names)
    return found


def _namespaces(packages: frozenset[str]) -> list[dict[str, Any]]:
    """The globals of every loaded module of ``packages`` (a helper may import torch
    inside the function that asks), cached until a module loads."""
    key = (packages, len(sys.modules))
    found = _NAMESPACES.get(key)
    if found is None:
        found = []
        for name, mod in list(sys.modules.items()):
            namespace = getattr(mod, "__dict__", None)
            if name.partition(".")[0] in packages and type(namespace) is dict:
                found.append(namespace)
        if len(_NAMESPACES) > 64:
            _NAMESPACES.clear()
        _NAMESPACES[key] = found
    return found


def shadow_isinstance(classes: frozenset[type]) -> None:
    """Give the modules of the packages that define ``classes`` (a model's module classes
    and their bases; torch's excepted) a global ``isinstance`` that answers a proxy is a
    tensor, until :func:`unroute`. A module with an ``isinstance`` of its own keeps it."""
    shadowed = _SHADOWED
    for namespace in _namespaces(_packages(classes)):
        if "isinstance" not in namespace:
            namespace["isinstance"] = _isinstance
            shadowed.append(namespace)


def route() -> None:
    """Answer model code's tensor checks for proxies (see the module); :func:`unroute`
    undoes it."""
    torch.is_tensor = _is_tensor  # type: ignore[assignment]
    torch.as_tensor = _as_tensor
    torch.jit.isinstance = _jit_isinstance
    F._none_or_dtype = _none_or_dtype  # type: ignore[assignment]
    register_einops()


def unroute() -> None:
    """torch's own helpers back."""
    torch.is_tensor = _IS_TENSOR  # type: ignore[assignment]
    torch.as_tensor = _AS_TENSOR
    torch.jit.isinstance = _JIT_ISINSTANCE
    F._none_or_dtype = _NONE_OR_DTYPE  # type: ignore[assignment]
    for namespace in _SHADOWED:
        if namespace.get("isinstance") is _isinstance:
            del namespace["isinstance"]
    _SHADOWED.clear()


_EINOPS: list[type] = []


def register_einops() -> None:
    """When einops is loaded, define (once) its backend for proxies: einops finds backends as
    the subclasses of its ``AbstractBackend`` whose ``framework_name`` module is imported, and
    asks each whether a tensor is its kind. Ours is einops' torch backend that says yes to a
    proxy alone."""
    backends = sys.modules.get("einops._backends")
    if _EINOPS or backends is None or not hasattr(backends, "TorchBackend"):
        return

    class ProxyBackend(backends.TorchBackend):  # type: ignore[misc, name-defined]
        framework_name = ShapeProxy.__module__

        def is_appropriate_type(self, tensor: Any) -> bool:
            return type(tensor) is ShapeProxy

    _EINOPS.append(ProxyBackend)
