"""Model code that asks whether a value is a tensor, answered for traced tensors as a real
forward answers it.

A :class:`~stridescope.frontends.pytorch.proxy.ShapeProxy` is not a ``torch.Tensor`` (making
``isinstance`` say so would let torch's C code take it for one). While a trace runs, the
torch helpers that model code (and torch's own Python code) asks instead are routed here:
``torch.is_tensor``; ``torch.jit.isinstance(x, torch.Tensor)`` (MONAI's up-sampling blocks
concatenate their skip only when it holds); ``torch.as_tensor``, ``torch.asarray`` and
``torch.tensor`` (:mod:`.constructors`); ``F._none_or_dtype`` (``nn.MultiheadAttention``
and the transformer layers ask it a mask's dtype: a traced mask, as Mask2Former's masked
attention passes, was refused). einops, which picks its backend by ``isinstance``, is given
a backend of its own kind for proxies (:func:`register_einops`), so ``rearrange``,
``reduce``, ``repeat`` and ``einsum`` trace the torch calls its torch backend makes.
``torch._check_tensor_all(cond)`` (transformers checks inputs so) on a traced condition is a
check of values a trace does not have: it passes, as in a forward that runs.

A plain ``isinstance(x, torch.Tensor)`` (with a tuple or a union too) is true for a proxy
when model code asks: for the trace, ``builtins.isinstance`` answers so unless the caller
is torch's code, the standard library's or stridescope's (their Python code keeps the
builtin answer; torch's C++ code never asks Python's ``isinstance``). So a detection
decoder's ``if isinstance(boxes, torch.Tensor)`` takes the branch a real forward takes,
wherever the helper that asks lives; ``torch.is_tensor`` bound before the trace (``from
torch import is_tensor``) answers for its caller the same way.
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

from stridescope.frontends.pytorch import constructors
from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["register_einops", "route", "unroute"]

_ISINSTANCE: Callable[[Any, Any], bool] = builtins.isinstance

_IS_TENSOR: Callable[[Any], bool] = torch.is_tensor
_JIT_ISINSTANCE: Callable[[Any, Any], bool] = torch.jit.isinstance
_NONE_OR_DTYPE: Callable[[Any], Any] = F._none_or_dtype
_CHECK_ALL: Callable[..., None] = torch._check_tensor_all
_CHECK_ALL_WITH: Callable[..., None] = torch._check_tensor_all_with


def _check_tensor_all(cond: Any, message: Any = None) -> None:
    if type(cond) is not ShapeProxy:
        _CHECK_ALL(cond, message)


def _check_tensor_all_with(error_type: Any, cond: Any, message: Any = None) -> None:
    if type(cond) is not ShapeProxy:
        _CHECK_ALL_WITH(error_type, cond, message)


def _is_tensor(obj: Any) -> bool:
    return type(obj) is ShapeProxy or _IS_TENSOR(obj)


def _jit_isinstance(obj: Any, target_type: Any) -> bool:
    if type(obj) is ShapeProxy and target_type is torch.Tensor:
        return True
    return _JIT_ISINSTANCE(obj, target_type)


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


# callers whose ``isinstance`` keeps the builtin answer for a proxy (by top-level package),
# except torch's modules written as model code is, on tensors they are handed, through torch
# functions: ``torch.distributions`` (``Normal(mu, std).log_prob(x)`` checks ``x`` so), and
# the compiler's markers that a forward calls eagerly on its tensors
# (``torch._dynamo.mark_static_address(cache)``, Hugging Face's static caches: Mamba's), and
# ``torch.functional``, whose ``einsum`` reads its sublist form (``einsum(x, [0, 1], w, [1,
# 2])``) only when the first operand is a tensor, before it looks for traced ones
_KEEP = frozenset({"torch", "stridescope"}) | sys.stdlib_module_names
_MODEL_LIKE = ("torch.distributions.", "torch._dynamo.decorators", "torch.functional")


# torch's checks that answer for their caller: ``from torch import is_tensor`` binds torch's
# own function when the model's module is imported, so the routed attribute never sees it
_ASK_FOR_CALLER = frozenset({_IS_TENSOR.__code__})


def _isinstance(obj: Any, cls: Any) -> bool:
    """``isinstance`` while a trace runs: a proxy is a ``torch.Tensor`` to model code."""
    if type(obj) is ShapeProxy and _names_tensor(cls):
        frame = sys._getframe(1)
        if frame.f_code in _ASK_FOR_CALLER and frame.f_back is not None:
            frame = frame.f_back
        caller = frame.f_globals.get("__name__") or ""
        if caller.partition(".")[0] not in _KEEP or caller.startswith(_MODEL_LIKE):
            return True
    return _ISINSTANCE(obj, cls)


_GIVEN = [0]  # len(sys.modules) when stridescope's modules were last given the builtin


def _own_modules_keep_the_builtin() -> None:
    """Bind the builtin ``isinstance`` in each loaded stridescope module's globals (once per
    module): the tracer's own hundreds of checks per trace then skip the wrapper."""
    if _GIVEN[0] != len(sys.modules):
        for name, module in list(sys.modules.items()):
            namespace = getattr(module, "__dict__", None)
            if name.partition(".")[0] == "stridescope" and type(namespace) is dict:
                namespace.setdefault("isinstance", _ISINSTANCE)
        _GIVEN[0] = len(sys.modules)


def route() -> None:
    """Answer model code's tensor checks for proxies (see the module); :func:`unroute`
    undoes it."""
    torch.is_tensor = _is_tensor  # type: ignore[assignment]
    constructors.route()
    torch.jit.isinstance = _jit_isinstance
    F._none_or_dtype = _none_or_dtype  # type: ignore[assignment]
    torch._check_tensor_all = _check_tensor_all
    torch._check_tensor_all_with = _check_tensor_all_with
    _own_modules_keep_the_builtin()
    builtins.isinstance = _isinstance
    register_einops()


def unroute() -> None:
    """torch's own helpers back."""
    torch.is_tensor = _IS_TENSOR  # type: ignore[assignment]
    constructors.unroute()
    torch.jit.isinstance = _JIT_ISINSTANCE
    F._none_or_dtype = _NONE_OR_DTYPE  # type: ignore[assignment]
    torch._check_tensor_all = _CHECK_ALL
    torch._check_tensor_all_with = _CHECK_ALL_WITH
    builtins.isinstance = _ISINSTANCE
    if (rules := sys.modules.get("torch._dynamo.trace_rules")) is not None:
        _mend_dynamo(rules)


def _mend_dynamo(rules: Any) -> None:
    """Dynamo's tables of the builtins and torch functions it knows, by identity, where a
    model's forward made them while the trace had these helpers routed (its first import of
    Dynamo: ``torch.nn.attention.flex_attention``, ``causal_lower_right``): they held the
    stand-ins, so a later ``torch.compile`` took Python's ``isinstance`` for an unknown
    builtin and refused it. The builtins' table is given ``isinstance`` back; the torch
    functions' map, made from torch's attributes, is made again when next asked."""
    ids = rules._builtin_function_ids
    known, names = ids.function_ids, ids.function_names
    if known is not None and id(_isinstance) in known:
        known.discard(id(_isinstance))
        known.add(id(_ISINSTANCE))
        if names is not None:
            names[id(_ISINSTANCE)] = names.pop(id(_isinstance), "builtins.isinstance")
    made = rules.get_torch_obj_rule_map
    if made.cache_info().currsize and _is_tensor in made():
        made.cache_clear()


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
