"""Handlers for element-wise torch calls: activations, norms and dropout
(:func:`pointwise`), math on one tensor (:func:`unary`, :func:`power`) and arithmetic between
tensors (:func:`arith`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.layer_calls import pointwise_node
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["arith", "pointwise", "power", "unary"]


def pointwise(kind: OpKind) -> Callable[..., Any]:
    """Activations, norms, dropout: the extra arguments (slopes, eps, weights) never change
    the shape; parameters among them are counted here."""

    def handler(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
        params = t.take_params([*options, *keywords.values()])
        inplace = bool(keywords.get("inplace", False))
        return pointwise_node(t, name, op, input, kind, params, inplace)

    return handler


def unary(kind: OpKind) -> Callable[..., Any]:
    """Element-wise math on one tensor (``abs``, ``exp``, ``sqrt``, ``clamp`` with number
    bounds, ``F.normalize``...): shape-preserving, 0 MACs like an activation. A second tensor
    among the arguments is not modelled (uncounted)."""

    def handler(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
        if any(isinstance(o, ShapeProxy) for o in (*options, *keywords.values())):
            raise NotHandled
        if isinstance(input, ShapeProxy) and input.dtype.is_complex:
            raise NotHandled  # abs of a complex tensor is real: dtype from the meta run
        return pointwise_node(t, name, op, input, kind, 0)

    return handler


def power(t: Tracer, name: str, op: str, input: Any, exponent: Any, **keywords: Any) -> Any:
    """``x ** 2``, ``torch.pow(x, y)``, ``2 ** x``: with a number, element-wise math on the
    tensor (0 MACs); with two tensors, one MAC per output element like a multiply."""
    tensors = [o for o in (input, exponent) if isinstance(o, ShapeProxy)]
    if keywords or not tensors:
        raise NotHandled
    if len(tensors) == 2:
        return arith(OpKind.MUL)(t, name, op, input, exponent)
    if isinstance(input if tensors[0] is exponent else exponent, torch.Tensor):
        raise NotHandled  # a constant tensor operand: broadcasting, left to the meta run
    return pointwise_node(t, name, op, tensors[0], OpKind.ACTIVATION, 0)


def arith(kind: OpKind) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, other: Any, *options: Any, **keywords: Any
    ) -> Any:
        operands = (input, other)
        proxies = [o for o in operands if isinstance(o, ShapeProxy)]
        if not proxies or any(isinstance(o, ShapeProxy) for o in (*options, *keywords.values())):
            raise NotHandled
        constants: list[tuple[int, ...]] = []
        for o in operands:
            if isinstance(o, torch.Tensor):
                constants.append(tuple(o.shape))
            elif isinstance(o, int | float | bool):
                constants.append(())
            elif not isinstance(o, ShapeProxy):
                raise NotHandled
        params = t.take_params(operands)
        parents = [p.node for p in proxies]
        if len(proxies) == 2 and proxies[0].dims == proxies[1].dims:
            node = t.builder.merge(parents, name, kind=kind, op=op)
        else:
            node = t.builder.elementwise(
                parents, name, kind=kind, operand_shapes=constants, params=params, op=op
            )
        return t.proxy(node, proxies[0])

    return handler
