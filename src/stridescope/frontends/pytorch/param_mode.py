"""Computations on the model's parameters alone run on meta tensors while a trace runs.

A forward may compute a tensor from parameters before a traced input meets it (a standardised
convolution weight, ``gain * scale``, ``cls_token.expand(n, -1, -1)``). Those ops touch no
:class:`~stridescope.frontends.pytorch.proxy.ShapeProxy`, so without help they would run real
kernels on real weights. :class:`ParameterMode`, a torch function mode, sees every torch call:

- a call with a proxy among its arguments goes straight to the tracer;
- a call with a model parameter (or a tensor computed from one here) runs on meta tensors; the
  result is remembered with the parameters it came from (:attr:`Tracer.derived`), so the op
  that takes it counts them; a product among such calls (``one_hot @ table``, ``a @ b`` of
  two weights) is a node of its own without parents, with its MACs and the parameters it
  uses (:mod:`computed_products`);
- anything else (a mask built from ``torch.zeros``, a buffer's arithmetic) runs as usual.

A forward that reads the values of such a tensor cannot run on meta tensors; ``trace_torch``
then traces again without this mode (real kernels, autograd on), so results never change.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from stridescope.frontends.pytorch.aten_calls import aten_function
from stridescope.frontends.pytorch.computed_products import product_macs
from stridescope.frontends.pytorch.meta_calls import meta_call, walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import QUERIES, Written
from stridescope.ir import OpKind

__all__ = ["ParameterMode"]


class ParameterMode(TorchFunctionMode):
    """Routes proxy calls to ``tracer`` and runs parameter-only computations on meta tensors."""

    def __init__(self, tracer: Tracer, parameters: set[int], real: bool = False) -> None:
        """``parameters``: the ids of the model's parameters. ``real``: the exact run's mode,
        which computes on real kernels (the forward reads values) and only keeps track of
        what each tensor was computed from (``p.detach()``, ``p.data``, ops under
        ``torch.no_grad()`` or on frozen parameters leave autograd nothing to find)."""
        super().__init__()
        self.tracer = tracer
        self.ids = parameters
        self.real = real
        self.saved: Saved = {}  # see save_owners

    def save_owners(self) -> None:
        """Save the state of each module whose forward is running, the first time a tensor is
        computed on meta inside it (before any such tensor can be stored on it)."""
        saved = self.saved
        for m in self.tracer.owners:
            if m is not None and id(m) not in saved:
                saved[id(m)] = (m, m.__dict__.copy(), m._buffers.copy())

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if ShapeProxy in types or Written in types:  # (a tensor written into: ``views``)
            return self.tracer.call_function(func, args, dict(kwargs) if kwargs else {})
        kw = kwargs if kwargs else _NONE  # (only read here: never changed)
        query = func in QUERIES or getattr(func, "__name__", "") == "__get__"
        if query:  # .shape, .device, .T: the tensor's own answer
            result = func(*args, **kw)
            if not isinstance(result, torch.Tensor):
                return result
        sources = self.sources(walk_values((args, kw)) if kw else walk_values(args))
        if not sources:  # (``None``: a proxy in a list: torch unpacks, then asks)
            return result if query and sources is not None else func(*args, **kw)
        self.save_owners()
        if not query:
            result = func(*args, **kw) if self.real else meta_call(func, args, kw)
            self.tracer.mode_calls += 1
            self.book_product(func, args, kw, result)
        made = [v for v in walk_values(result) if isinstance(v, torch.Tensor)]
        if not made and result is not None:
            if not self.real:  # a question answered on meta: ask the real one
                return func(*args, **kw)
            if func in _VALUE_READS:
                self.book_read(func, sources)
        for tensor in made:
            self.tracer.derived[id(tensor)] = (tensor, sources)
        return result

    def book_product(
        self, func: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any], result: Any
    ) -> None:
        """A product on parameters alone (``one_hot @ table``) gets a node of its own, with
        its MACs and the parameters it uses (counted there: the op that takes its result
        counts none of them again); anything else computed here makes no node."""
        tracer = self.tracer
        spec = tracer.functions.get(func)
        if spec is None and (found := aten_function(tracer.functions, func)) is not None:
            args, kw = found[1](args, kw)  # an ATen overload (an exported graph's): its function
            spec = tracer.functions.get(found[0])
        if spec is None or not isinstance(result, torch.Tensor):
            return
        macs = product_macs(spec.handler, args, kw, result.shape)
        if macs is None:
            return
        operands = [v for v in walk_values((args, kw)) if isinstance(v, torch.Tensor)]
        tracer.builder.computed(
            tracer.scoped(spec.name),
            output_shape=tuple(result.shape),
            macs=macs,
            params=tracer.take_params(operands),
            op=spec.op,
        )

    def book_read(self, func: Callable[..., Any], sources: list[nn.Parameter]) -> None:
        """A value read from parameters (``float(self.gate)``, ``if self.scale > 0``: the
        exact run's) is where those not counted before are first used: a node of its own,
        without parents or MACs, counts them."""
        tracer = self.tracer
        if params := tracer.take_params(sources):
            name = str(getattr(func, "__name__", "value")).strip("_") or "value"
            tracer.builder.computed(
                tracer.scoped(name), output_shape=(), macs=0, params=params, op=name, kind=_MOVE
            )

    def sources(self, values: list[Any]) -> list[nn.Parameter] | None:
        """The parameters among ``values``, and those ``values`` were computed from; ``None``
        where a traced tensor is among them."""
        found: list[nn.Parameter] = []
        derived = self.tracer.derived
        ids = self.ids
        for value in values:
            if not isinstance(value, torch.Tensor):
                if type(value) is ShapeProxy:
                    return None
                continue
            if (key := id(value)) in ids:
                found.append(value)  # type: ignore[arg-type]
            elif (seen := derived.get(key)) is not None:
                found += seen[1]
        return found


_MOVE = OpKind.MOVE
_NONE: dict[str, Any] = {}  # no keyword arguments (never written to)
# what reads a tensor's values into Python (a number, a bool, a list, an array, text); not
# what asks about the tensor itself (``data_ptr``, ``element_size``)
_READS: tuple[str, ...] = ("__bool__", "__float__", "__int__", "__index__", "__complex__")
_READS += ("__nonzero__", "__array__", "__format__", "__repr__", "item", "tolist", "numpy")
_VALUE_READS = frozenset(
    getattr(torch.Tensor, n) for n in (*_READS, "is_nonzero", "equal", "allclose")
)
_VALUE_READS |= {torch.equal, torch.allclose, torch.is_nonzero}

# references to a tensor of ``derived`` when nothing else holds it: its (tensor, sources) entry
# and ``getrefcount``'s own argument
_HELD_HERE = 2

# per module id: the module, its attributes and its buffers (shallow copies)
Saved = dict[int, tuple[nn.Module, dict[str, Any], dict[str, Any]]]


def _stored(derived: Mapping[int, Any]) -> bool:
    """Whether a tensor of ``derived`` is referenced from anywhere but ``derived``."""
    return any(sys.getrefcount(entry[0]) > _HELD_HERE for entry in derived.values())


def undo_writes(saved: Saved, derived: Mapping[int, Any], modules: list[Any]) -> None:
    """Take the tensors computed on meta out of the model's state again.

    They are looked for in the modules whose state was saved (those whose forwards were
    running when a tensor was first computed on meta: a forward caches on its own module or
    an enclosing one), as an attribute, a buffer, or an entry of a public dict or list
    attribute (a cache such as ``self.bias_cache[str(device)] = table[index]``). Such entries
    are taken out, and such a module gets its attributes and buffers back as they were saved;
    the other modules are left as the forward left them, as after a forward that stored
    nothing. Only if a tensor is still referenced after that is every module of ``modules``
    ((path, module) pairs) looked at, where such an attribute or buffer becomes ``None`` (its
    value before the forward was not saved)."""
    if not derived or not _stored(derived):  # (nothing computed on meta, or none stored)
        return
    for m, attrs, buffers in saved.values():
        if _take_out(m, derived):
            m.__dict__.clear()
            m.__dict__.update(attrs)
            m._buffers.clear()
            m._buffers.update(buffers)
    if _stored(derived):
        for _, m in modules:
            if id(m) not in saved and _take_out(m, derived):
                for where in (m.__dict__, m._buffers):
                    for k in [k for k, v in where.items() if id(v) in derived]:
                        where[k] = None


def _take_out(m: nn.Module, derived: Mapping[int, Any]) -> bool:
    """Whether ``m`` holds a tensor of ``derived``; entries of its dict and list attributes
    that are such tensors are taken out."""
    held = any(id(v) in derived for v in m._buffers.values())
    for k, v in m.__dict__.items():
        if id(v) in derived:
            held = True
        elif type(v) is dict and not k.startswith("_"):
            for key in [key for key, item in v.items() if id(item) in derived]:
                del v[key]
                held = True
        elif type(v) is list and any(id(item) in derived for item in v):
            v[:] = [item for item in v if id(item) not in derived]
            held = True
    return held
