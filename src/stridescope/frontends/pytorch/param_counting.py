"""Which parameters a traced op counts: each parameter once, at the first op that uses it.

:class:`ParameterCounting` is the part of the
:class:`~stridescope.frontends.pytorch.tracer.Tracer` that keeps :attr:`counted` (parameter ids
already in a node's ``params``) and :attr:`derived` (meta tensors the parameter mode computed
from parameters alone). A tensor computed from parameters in the forward leads back to them
through its autograd graph (the trace runs with autograd on), or through :attr:`derived`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.ir import GraphBuilder

__all__ = ["PLAIN_TYPES", "ParameterCounting", "override", "own_parameters"]

_Parameter = nn.Parameter
# argument types that are never a parameter or a tensor: skipped without ``isinstance``
# (which for ``nn.Parameter`` runs a Python ``__instancecheck__``, ~0.4 µs a call)
PLAIN_TYPES = frozenset({int, float, bool, str, type(None), ShapeProxy, torch.dtype, torch.device})


def own_parameters(module: nn.Module) -> list[nn.Parameter]:
    """A module's own parameters: the direct ones plus those of ``torch.nn.utils.parametrize``
    (``module.parametrizations``), which stand in for the weight they compute."""
    own = [p for p in module._parameters.values() if p is not None]
    parametrizations = module._modules.get("parametrizations")  # where parametrize puts it
    if parametrizations is not None:
        own += list(parametrizations.parameters())
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
    # meta tensors computed from parameters alone, by id: (tensor, its parameters)
    derived: dict[int, tuple[torch.Tensor, list[nn.Parameter]]]
    owners: list[nn.Module | None]  # the modules whose forwards are running, innermost last

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
                    total += self.take_params(_sources(value.grad_fn))
        return total

    def take_own(self, module: nn.Module) -> int:
        """:meth:`take_params` of :func:`own_parameters`, without building the list."""
        total = 0
        own = module._parameters
        if own:
            counted = self.counted
            for p in own.values():
                if p is not None and (key := id(p)) not in counted:
                    counted[key] = None
                    total += p.numel()
        children = module._modules
        if children and (parametrizations := children.get("parametrizations")) is not None:
            total += self.take_params(parametrizations.parameters())
        return total

    def take_leftover(self, out: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Parameters among a call's arguments (or computed from) that its handler did not
        count (``torch.cat([cls_token.expand(n, -1, -1), x])``): counted at its output."""
        values = []
        for a in args:
            cls = type(a)
            if cls in PLAIN_TYPES:
                continue
            if cls is list or cls is tuple:  # torch.cat([cls_token, x])
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

        A weight computed in the forward (neither a parameter nor a buffer, e.g. a
        standardised weight) takes the calling module's own parameters not counted yet."""
        params = self.take_params([weight, bias])
        owner = self.owners[-1]
        computed = not isinstance(weight, nn.Parameter)
        if owner is not None and computed and all(weight is not b for b in owner._buffers.values()):
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


def _sources(grad_fn: Any) -> list[nn.Parameter]:
    """The parameters an autograd graph starts from (its ``AccumulateGrad`` nodes)."""
    found: list[nn.Parameter] = []
    seen = {id(grad_fn)}
    stack = [grad_fn]
    while stack:
        fn = stack.pop()
        variable = getattr(fn, "variable", None)
        if isinstance(variable, nn.Parameter):
            found.append(variable)
        for parent, _ in fn.next_functions:
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return found
