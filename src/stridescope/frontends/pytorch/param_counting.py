"""Which parameters a traced op counts: each parameter once, at the first op that uses it.

:class:`ParameterCounting` is the part of the
:class:`~stridescope.frontends.pytorch.tracer.Tracer` that keeps :attr:`counted` (parameter ids
already in a node's ``params``) and :attr:`derived` (meta tensors the parameter mode computed
from parameters alone). A tensor computed from parameters in the forward leads back to them
through its autograd graph (the trace runs with autograd on), or through :attr:`derived`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import NO_TORCH_FUNCTION, ShapeProxy
from stridescope.ir import GraphBuilder

__all__ = [
    "PLAIN_TYPES",
    "ParameterCounting",
    "autograd_product",
    "override",
    "own_parameters",
    "values_at",
]

_Parameter = nn.Parameter
# argument types that are never a parameter or a tensor: skipped without ``isinstance``
# (which for ``nn.Parameter`` runs a Python ``__instancecheck__``, ~0.4 µs a call)
PLAIN_TYPES = frozenset({int, float, bool, str, type(None), ShapeProxy, torch.dtype, torch.device})


def own_parameters(module: nn.Module) -> list[nn.Parameter]:
    """A module's own parameters: the direct ones plus those of ``torch.nn.utils.parametrize``
    (``module.parametrizations``), which stand in for the weight they compute."""
    own = [p for p in module._parameters.values() if p is not None]
    # where parametrize puts it (``in``: a compiled module's ``_modules`` has no ``get``)
    if "parametrizations" in module._modules:
        parametrizations = module._modules["parametrizations"]
        own += [] if parametrizations is None else list(parametrizations.parameters())
    return own


def override(counted: int, own: int) -> int | None:
    """``None`` (the builder counts the weight and bias) when the parameters counted are
    exactly the layer's own, else the count (0 for a buffer or weights counted before)."""
    return None if counted == own else counted


class ParameterCounting:
    """Parameter bookkeeping for one trace (the base of the tracer)."""

    builder: GraphBuilder
    # ids of parameters already counted at a node, in the order counted (values unused)
    counted: dict[int, None]
    paths: Mapping[int, str]  # the model's modules' paths, by id
    # meta tensors computed from parameters alone, by id: (tensor, its parameters)
    derived: dict[int, tuple[torch.Tensor, list[nn.Parameter]]]
    owners: list[nn.Module | None]  # the modules whose forwards are running, innermost last
    mode: AbstractContextManager[Any] | None  # the parameter mode (see ``param_mode``)
    # autograd nodes of computations on parameters already read (see :meth:`take_params`)
    walked: dict[int, Any]
    scoped: Callable[[str], str]
    in_mode: bool  # whether it is on the torch function mode stack
    parameters: list[Any]  # the model's (None where a slot is empty)
    aliases: dict[int, list[Any]] | None  # the parameters by their memory (alias_of)
    buffer_ids: set[int] | None  # the ids of :attr:`buffers` (alias_of)
    buffers: list[Any]  # the model's buffers (``None`` among them)

    def switch_mode(self, on: bool) -> None:
        """Put :attr:`mode` on the torch function mode stack, or take it off (it is on top)."""
        assert self.mode is not None
        if on:
            self.mode.__enter__()
        else:
            self.mode.__exit__(None, None, None)
        self.in_mode = on

    def handed(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether a call's arguments hold a tensor of :attr:`derived` (computed on parameters
        under the mode: a forward handed one computes on it under the mode too), or a
        parameter of the model itself (a parametrization's forward, handed its original)."""
        if not kwargs and len(args) == 1 and type(args[0]) is ShapeProxy:
            return False  # (the common call, module(x), without walking its arguments)
        derived, ids = self.derived, getattr(self.mode, "ids", ())  # (the model's parameters)
        return any(
            [
                id(v) in derived or id(v) in ids
                for v in walk_values((args, kwargs))
                if type(v) is not ShapeProxy
            ]
        )

    def take_params(self, values: Iterable[Any]) -> int:
        """Elements of the parameters among ``values`` not yet counted, and of those a tensor
        among them was computed from (``cls_token.expand(...)``, ``table[index]``: the
        trace runs with autograd on, so such a tensor's ``grad_fn`` leads to them, or it is a
        meta tensor the parameter mode made from them); marks them counted."""
        total = 0
        counted = self.counted
        for value in values:
            cls = type(value)
            if cls in PLAIN_TYPES:
                continue
            if cls is _Parameter or (
                getattr(value, "_is_param", False)
                if cls is torch.Tensor  # a buffer, a mask: nn.Parameter's own test, quicker
                else isinstance(value, nn.Parameter)
            ):
                if id(value) not in counted:
                    counted[id(value)] = None
                    total += value.numel()
            elif isinstance(value, torch.Tensor):
                if (made := self.derived.get(id(value))) is not None:
                    total += self.take_params(made[1])
                elif value.grad_fn is not None:
                    total += self.take_params(self._sources(value.grad_fn))
                elif (source := self.alias_of(value)) is not None:  # p.detach(), p.data
                    total += self.take_params([source])
        return total

    def _sources(self, grad_fn: Any) -> list[nn.Parameter]:
        """The parameters an autograd graph starts from (its ``AccumulateGrad`` nodes); the
        products in it not read before (a bias table looked up by ``einsum`` with a one-hot
        buffer, run on real kernels outside the parameter mode) each get a node of their own
        with their MACs, as the mode gives one (:meth:`ParameterMode.book_product`)."""
        found: list[nn.Parameter] = []
        products = []
        walked = self.walked
        stack = [grad_fn]
        while stack:
            fn = stack.pop()
            if id(fn) in walked:
                continue
            walked[id(fn)] = fn  # (held: an id is not reused while the trace runs)
            variable = getattr(fn, "variable", None)
            if isinstance(variable, nn.Parameter):
                found.append(variable)
            elif (product := autograd_product(fn)) is not None:
                products.append(product)
            stack += [parent for parent, _ in fn.next_functions if parent is not None]
        for op, shape, macs in reversed(products):  # (found from the last computed)
            self.builder.computed(self.scoped(op), output_shape=shape, macs=macs, op=op)
        return found

    def ir_leaf(self, module: nn.Module, method: Any, name: str, parent: int) -> int:
        """The nodes a ``stridescope_ir`` leaf's method adds on ``parent``; called again (a
        shared layer), its parameters were counted at its first call: not again, and its
        nodes name it (``shares``)."""
        start = self.builder.size
        fresh = self.take_params(module.parameters())
        node = int(method(self.builder, parent, name))
        if not fresh:
            self.builder.params_counted_before(start, self.paths.get(id(module)) or name)
        return node

    def take_own(self, module: nn.Module) -> int:
        """:meth:`take_params` of :func:`own_parameters`, without building the list. A
        tensor computed from parameters in a parameter's place (``functional_call``'s, as an
        ensemble hands each member a slice of stacked parameters) counts what it was
        computed from (:meth:`take_params`), not itself: it lives only for that call."""
        total = 0
        own = module._parameters
        if own:
            counted = self.counted
            for p in own.values():
                if p is None or (key := id(p)) in counted:
                    continue
                if (
                    type(p) is not _Parameter
                    and not isinstance(p, nn.Parameter)
                    and (p.grad_fn is not None or key in self.derived)
                ):
                    total += self.take_params([p])
                    continue
                if type(p) is not _Parameter and (source := self.alias_of(p)) is not None:
                    key = id(source)  # (its own values, detached: a state_dict's tensor)
                    if key in counted:
                        continue
                counted[key] = None
                total += p.numel()
        children = module._modules
        if children and (parametrizations := children.get("parametrizations")) is not None:
            total += self.take_params(parametrizations.parameters())
        return total

    def alias_of(self, tensor: torch.Tensor) -> nn.Parameter | None:
        """The model's parameter whose values ``tensor`` is (the same memory, shape and
        strides: ``p.detach()``, ``p.data``, a ``state_dict()``'s tensor handed to
        ``functional_call``), else ``None``. (Asked without the parameter mode: each
        ``data_ptr`` of a parameter would be a computation on it there.)"""
        if self.buffer_ids is None:  # (a buffer is none: answered before the rest)
            self.buffer_ids = set(map(id, self.buffers))
        if id(tensor) in self.buffer_ids:
            return None
        with NO_TORCH_FUNCTION():
            if tensor.is_meta:
                return None
            if self.aliases is None:  # (once per trace, where a module holds such a tensor)
                self.aliases = {}
                for p in self.parameters:
                    if p is not None and not p.is_meta:
                        self.aliases.setdefault(p.data_ptr(), []).append(p)
            for p in self.aliases.get(tensor.data_ptr(), ()):
                if values_at(p) == values_at(tensor) and not isinstance(tensor, nn.Parameter):
                    return p  # type: ignore[no-any-return]
            return None

    def take_leftover(self, out: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Parameters among a call's arguments (or computed from) that its handler did not
        count (``torch.cat([cls_token.expand(n, -1, -1), x])``): counted at its output."""
        values = []
        for a in args:
            cls = type(a)
            if cls in PLAIN_TYPES:
                continue
            if cls is list or cls is tuple or isinstance(a, list | tuple):  # cat([token, x])
                values += [
                    v for v in a if type(v) not in PLAIN_TYPES and isinstance(v, torch.Tensor)
                ]
            elif isinstance(a, torch.Tensor):
                values.append(a)
        if kwargs:
            values += [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
        if not values:
            return
        made = (  # the output's (first) proxy: most calls return one
            out
            if type(out) is ShapeProxy
            else next((v for v in walk_values(out) if isinstance(v, ShapeProxy)), None)
        )
        if made is not None and (extra := self.take_params(values)):
            self.builder.add_params(made.node, extra)

    def take_weights(self, weight: Any, bias: Any) -> int:
        """Parameter elements of a conv / linear weight and bias, not counted yet.

        A weight computed in the forward from parameters counts those (its ``grad_fn`` or the
        parameter mode tells which); one computed where neither tells (under ``no_grad``, from
        ``.data``) takes the calling module's own parameters not counted yet, unless it is a
        buffer (a fixed filter)."""
        params = self.take_params([weight, bias])
        owner = self.owners[-1]
        if owner is None or isinstance(weight, nn.Parameter) or type(weight) is ShapeProxy:
            return params
        if id(weight) in self.derived or weight.grad_fn is not None:
            return params
        if all(weight is not b for b in owner._buffers.values()):
            params += self.take_params(own_parameters(owner))
        return params

    def weight_params(self, weight: Any, bias: Any) -> int | None:
        """:meth:`take_weights` for a function's weight and bias, as the builder's ``params``
        override: ``None`` when they are exactly the weight's and the bias's elements."""
        own = weight.numel() + (0 if bias is None else bias.numel())
        return override(self.take_weights(weight, bias), own)

    def module_params(self, module: nn.Module, own: int) -> int | None:
        """A leaf module's own parameters not counted yet (marked counted now), as the
        builder's ``params`` override: ``None`` when they are ``own`` elements."""
        return override(self.take_own(module), own)


def _inner(fn: Any, first: str, second: str, sizes: bool = False) -> int:
    """The summed-over size of a product's autograd node: the last axis of its first operand
    (its sizes, or the tensor if autograd saved it), else the second's second-to-last."""
    if sizes:
        return int(getattr(fn, f"_saved_{first}_sym_sizes")[-1])
    saved = getattr(fn, f"_saved_{first}")
    if saved is not None:
        return int(saved.shape[-1])
    other = getattr(fn, f"_saved_{second}")
    return int(other.shape[-2] if other.dim() > 1 else other.shape[0])


def autograd_product(fn: Any) -> tuple[str, tuple[int, ...], int] | None:
    """``(op, output shape, MACs)`` of an autograd node that is a product (``mm``, ``addmm``,
    ``bmm``, ``baddbmm``, ``mv``, ``dot``, a convolution), else ``None``.

    >>> a = torch.ones(2, 3, 4, requires_grad=True)
    >>> autograd_product(torch.bmm(a, torch.ones(2, 4, 5)).grad_fn)
    ('bmm', (2, 3, 5), 120)
    """
    name = type(fn).__name__
    if name not in _PRODUCTS:
        return None
    out = tuple(fn._input_metadata[0].shape)
    if name == "ConvolutionBackward0":
        weight, x = fn._saved_weight.shape, fn._saved_input.shape
        per = math.prod(weight[1:])
        return "convolution", out, math.prod(x if fn._saved_transposed else out) * per
    first, second, sizes = _PRODUCTS[name]
    return name[: -len("Backward0")].lower(), out, math.prod(out) * _inner(fn, first, second, sizes)


# per product's autograd node: its operands' saved names, and whether the first's sizes are
# saved whatever requires grad (else the tensors are saved only where a gradient needs them)
_PRODUCTS = {
    "MmBackward0": ("self", "mat2", True),
    "AddmmBackward0": ("mat1", "mat2", True),
    "BmmBackward0": ("self", "mat2", False),
    "BaddbmmBackward0": ("batch1", "batch2", False),
    "MvBackward0": ("self", "vec", False),
    "DotBackward0": ("self", "tensor", False),
    "ConvolutionBackward0": ("input", "weight", False),
}


def values_at(tensor: torch.Tensor) -> tuple[Any, ...]:
    """Where a tensor's values are: its memory (offset included), shape, strides and dtype;
    two tensors with the same hold the same values (``p.detach()``, ``p.data`` of ``p``)."""
    return (tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
