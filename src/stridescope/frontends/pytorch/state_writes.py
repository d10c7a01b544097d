"""What a traced forward writes into the model is put back when the trace ends.

A forward may cache on its module what it computed (a detection head's anchor grid and the
feature shape it was made for: ``self.anchors, self.shape = ...``), write into a child
(``self.conv.weight = w * self.gain``), and a forward pre-hook may store a weight it computes
(spectral norm). In a trace those values are traced tensors, meta tensors or tensors with an
autograd history: left there, the model's next real forward, its next trace (which reads the
stale value as a node of its own), a ``copy.deepcopy`` and ``stridescope fix`` fail.

So the state of a module whose class may write (:func:`writes_state`: a method of it, other
than ``__init__``, assigns or deletes an attribute, calls ``setattr``, or adds to a list or
dict it holds: ``self.outputs.append(x)``, ``self.cache[key] = x``), and of its direct
children, is kept before its forward runs (:func:`keep`, once per trace), as is the state of a
module with forward pre-hooks; at the end :func:`put_back` restores each kept module where
the trace left a value of its own. A module's state is its ``__dict__``, ``_parameters`` and
``_buffers`` (shallow copies), and the items of the lists and dicts its ``__dict__`` holds (a
collector of features is emptied of what the trace appended, the list itself kept).
"""

from __future__ import annotations

import dis
import types
from typing import Any

from torch import Tensor, nn

from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["WRITES", "Kept", "functions_of", "keep", "put_back", "writes_state"]

# a list or dict a module holds, and a copy of its items
Held = tuple[list[Any] | dict[Any, Any], list[Any] | dict[Any, Any]]
# per module id: the module, shallow copies of its __dict__, _parameters and _buffers, and
# the lists and dicts of its __dict__ with their items
Kept = dict[int, tuple[nn.Module, dict[str, Any], dict[str, Any], dict[str, Any], list[Held]]]

WRITES: dict[type, bool] = {}  # per class: :func:`writes_state`
_STORES = frozenset({dis.opmap["STORE_ATTR"], dis.opmap["DELETE_ATTR"]})
_ADDS = frozenset({"append", "extend", "insert", "update", "setdefault", "add", "appendleft"})
_OWN = frozenset(nn.Module().__dict__)  # nn.Module's own dicts (parameters, hooks...)


def _stores(code: types.CodeType) -> bool:
    """Whether ``code`` (or a function nested in it) assigns or deletes an attribute, calls
    ``setattr``, or adds to what an attribute holds (``self.x.append(y)``, ``self.x[k] = y``)."""
    if "setattr" in code.co_names or not _STORES.isdisjoint(code.co_code[::2]):
        return True
    if not _ADDS.isdisjoint(code.co_names) or dis.opmap["STORE_SUBSCR"] in code.co_code[::2]:
        found = list(dis.get_instructions(code))
        for at, ins in enumerate(found[1:], 1):
            if found[at - 1].opname == "LOAD_ATTR" and ins.argval in _ADDS:
                return True  # self.x.append (LOAD_METHOD, or LOAD_ATTR from Python 3.12)
            if ins.opname == "STORE_SUBSCR" and "LOAD_ATTR" in [
                i.opname for i in found[at - 2 : at]
            ]:
                return True  # self.x[k] = y
    return any(isinstance(c, types.CodeType) and _stores(c) for c in code.co_consts)


def functions_of(value: Any) -> list[types.FunctionType]:
    """The plain functions behind a class attribute (a method, a static or class method, a
    property's accessors)."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    found = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [value]
    return [f for f in found if isinstance(f, types.FunctionType)]


def writes_state(cls: type) -> bool:
    """Whether a method of ``cls`` other than ``__init__`` (torch's own classes excepted) may
    write an attribute (remembered per class).

    >>> class Caches(nn.Module):
    ...     def forward(self, x):
    ...         self.last = x
    ...         return x
    >>> writes_state(Caches), writes_state(nn.Conv2d)
    (True, False)
    """
    found = WRITES.get(cls)
    if found is None:
        found = WRITES[cls] = any(
            _stores(f.__code__)
            for c in cls.__mro__
            if not c.__module__.startswith("torch.") and c is not object
            for name, value in vars(c).items()
            if name != "__init__"
            for f in functions_of(value)
        )
    return found


def keep(kept: Kept, module: nn.Module, caches: bool = False) -> None:
    """Keep the state of ``module`` and of its direct children, each once per trace.
    ``caches``: also empty, for the trace, each dict of real tensors the module holds (a
    cache the forward fills from its parameters: LeViT's ``attention_bias_cache``, filled
    by a real forward under ``no_grad``, holds tensors that no longer lead to the
    parameters, which were then reported unused); :func:`put_back` fills them again."""
    for m in (module, *module._modules.values()):
        if m is not None and id(m) not in kept:
            state = m.__dict__
            held: list[Held] = [
                (v, v.copy()) for k, v in state.items() if type(v) in (list, dict) and k not in _OWN
            ]
            if caches:
                for items, _ in held:
                    if type(items) is dict and items and _real_tensors(items):
                        items.clear()  # (the copy in ``held`` puts them back)
            kept[id(m)] = (m, state.copy(), m._parameters.copy(), m._buffers.copy(), held)


def _real_tensors(items: dict[Any, Any]) -> bool:
    """Whether every value of ``items`` is a real tensor, not a parameter or buffer."""
    return all(type(v) is Tensor for v in items.values())


def _left_behind(value: Any) -> bool:
    """Whether a value written by the trace is one of its own (a traced tensor, a meta
    tensor, a tensor with an autograd history), itself or in a list, tuple or dict."""
    items = (
        value.values()
        if type(value) is dict
        else value
        if type(value) in (list, tuple)
        else (value,)
    )
    for v in items:
        if type(v) is ShapeProxy or (
            isinstance(v, Tensor) and (v.is_meta or v.grad_fn is not None)
        ):
            return True
    return False


def _traced_values(now: dict[str, Any], before: dict[str, Any]) -> bool:
    return any(v is not before.get(k, before) and _left_behind(v) for k, v in now.items())


def _changed(items: Any, before: Any) -> bool:
    """Whether a list or dict holds other items than ``before`` (compared by identity: a
    tensor's ``==`` compares values)."""
    if len(items) != len(before):
        return True
    if type(items) is list:
        return any(a is not b for a, b in zip(items, before, strict=True))
    return any(k is not j or items[k] is not before[j] for k, j in zip(items, before, strict=True))


def put_back(kept: Kept) -> None:
    """Restore the state of each kept module where the trace left values of its own there
    (the whole state, so a cache and the key it was made for agree again); a module whose
    forward only wrote plain values (a call count, a flag that hooks are installed, with the
    hooks) is left as the forward left it, as after a real forward."""
    for m, attrs, params, buffers, held in kept.values():
        states = ((m._parameters, params), (m._buffers, buffers), (m.__dict__, attrs))
        if any(_traced_values(now, before) for now, before in states):
            for now, before in states:
                now.clear()
                now.update(before)
        for items, saved in held:
            if _changed(items, saved) and (_left_behind(items) or not items):
                items.clear()  # the same list or dict: whoever holds it sees its items back
                if isinstance(items, list):
                    items.extend(saved)
                else:
                    items.update(saved)
    kept.clear()
