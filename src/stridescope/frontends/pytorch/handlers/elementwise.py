"""Handlers for element-wise torch calls: activations, norms and dropout
(:func:`pointwise`), math on one tensor (:func:`unary`, :func:`power`) and arithmetic between
tensors (:func:`arith`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled, data_sized_error
from stridescope.frontends.pytorch.handler_specs import counts_all
from stridescope.frontends.pytorch.handlers.fits import function_fits
from stridescope.frontends.pytorch.handlers.layer_calls import (
    joined,
    pointwise_node,
    standing_in,
)
from stridescope.frontends.pytorch.handlers.movement import known_selection
from stridescope.frontends.pytorch.handlers.products import broadcast
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["arith", "bucket", "float_power", "fused", "isin", "pointwise", "polygamma", "power"]
__all__ += ["select", "unary"]


def pointwise(kind: OpKind) -> Callable[..., Any]:
    """Activations, norms, dropout: the extra arguments (slopes, eps, weights) never change
    the shape; parameters among them are counted here. A weight the forward computed (a
    conditional norm's scale, a PReLU slope made per sample) is joined to the output
    (:func:`~.layer_calls.joined`). Every parameter among the arguments is counted here
    (an input that is one, on the node standing for it: :func:`~.layer_calls.standing_in`)."""

    @counts_all
    def handler(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
        if kind is OpKind.NORM:
            function_fits(op, name, input, options, keywords)
        extras = [*options, *keywords.values()] if options or keywords else ()
        params = t.take_params(extras) if extras else 0
        inplace = bool(keywords.get("inplace", False))
        traced, dtype = False, None
        for value in extras:  # (one pass, as a norm's weights are given in every block)
            if type(value) is ShapeProxy:
                traced = True
            elif type(value) is torch.dtype:  # softmax(x, dim, dtype=torch.float32)
                dtype = value
        if type(input) is not ShapeProxy and traced:
            input = standing_in(t, name, input, extras)
        out = pointwise_node(t, name, op, input, kind, params, inplace)
        if inplace:
            return out
        if dtype is not None:  # computed in that dtype
            out.dtype = dtype
        return joined(t, name, out, extras) if traced else out

    return handler


def unary(kind: OpKind) -> Callable[..., Any]:
    """Element-wise math on one tensor (``abs``, ``exp``, ``sqrt``, ``clamp`` with number
    bounds, ``F.normalize``...): shape-preserving, 0 MACs like an activation. A second tensor
    among the arguments (``clamp(x, min=lo)``) broadcasts as in :func:`select`."""

    def handler(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
        if any(isinstance(o, torch.Tensor | ShapeProxy) for o in (*options, *keywords.values())):
            return select()(t, name, op, input, *options, **keywords)
        if isinstance(input, ShapeProxy) and input.dtype.is_complex and op in _TO_REAL:
            node = t.builder.pointwise(input.node, name, kind=kind, op=op)
            return ShapeProxy(node, input.dims, input.dtype.to_real())  # |z| of a complex z
        return pointwise_node(t, name, op, input, kind, 0)

    return handler


_TO_REAL = frozenset(("abs", "__abs__", "angle"))


def power(t: Tracer, name: str, op: str, input: Any, exponent: Any, **keywords: Any) -> Any:
    """``x ** 2``, ``torch.pow(x, y)``, ``2 ** x``: with a number, element-wise math on the
    tensor (0 MACs); with two tensors (traced, or a parameter or constant tensor such as a
    learned exponent), one MAC per output element like a multiply, broadcast as one."""
    tensors = [o for o in (input, exponent) if isinstance(o, torch.Tensor | ShapeProxy)]
    if keywords or not any(isinstance(o, ShapeProxy) for o in tensors):
        raise NotHandled
    if len(tensors) == 2:
        return arith(OpKind.MUL)(t, name, op, input, exponent)
    return pointwise_node(t, name, op, tensors[0], OpKind.ACTIVATION, 0)


def arith(kind: OpKind) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, other: Any, *options: Any, **keywords: Any
    ) -> Any:
        if (
            type(input) is ShapeProxy
            and type(other) is ShapeProxy
            and input.dims == other.dims
            and input.dtype is other.dtype
            and not options
            and not keywords
        ):  # the common merge, x + y: what the rest decides for it
            node = t.builder.merge([input.node, other.node], name, kind=kind, op=op)
            return t.proxy(node, input)
        operands = (input, other)
        proxies = [o for o in operands if isinstance(o, ShapeProxy)]
        if not proxies or (
            (options or keywords)
            and any(isinstance(o, ShapeProxy) for o in (*options, *keywords.values()))
        ):
            raise NotHandled
        constants: list[tuple[int, ...]] = []
        for o in operands:
            if isinstance(o, torch.Tensor):
                constants.append(tuple(o.shape))
            elif isinstance(o, int | float | bool | complex):
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
        made = t.proxy(node, proxies[0])
        if type(input) is complex or type(other) is complex:  # 1j * x: a complex result
            made.dtype = torch.promote_types(made.dtype, torch.complex64)
        elif (
            not (dtype := made.dtype).is_floating_point
            or getattr(input, "dtype", dtype) is not dtype
            or getattr(other, "dtype", dtype) is not dtype
        ):  # a mask + 0 (int64), ids * 0.5 (float32), bf16 + float32 tensors: torch's rule
            made.dtype = _result_dtype(input, other)
        return made

    return handler


def float_power(t: Tracer, name: str, op: str, input: Any, exponent: Any, **kw: Any) -> Any:
    """``torch.float_power``: a power priced as a division is, computed in double precision
    (complex where either operand is)."""
    made = arith(OpKind.MUL)(t, name, op, input, exponent, **kw)
    made.dtype = torch.complex128 if made.dtype.is_complex else torch.float64
    return made


def _result_dtype(a: Any, b: Any) -> torch.dtype:
    """The dtype torch gives ``a`` op ``b`` (tensors, traced or not, and Python numbers), by
    its promotion of meta stand-ins that keep whether each has dimensions.

    >>> mask = ShapeProxy(0, (2, 3), torch.bool)
    >>> _result_dtype(mask, 0), _result_dtype(mask, 0.5), _result_dtype(torch.ones(()), mask)
    (torch.int64, torch.float32, torch.float32)
    """

    def stand_in(v: Any) -> Any:
        if isinstance(v, ShapeProxy | torch.Tensor):
            dims = (1,) if len(v.shape) else ()
            return torch.empty(dims, dtype=v.dtype, device="meta")
        return v

    with torch._C.DisableTorchFunction():
        return torch.result_type(stand_in(a), stand_in(b))


def _operand_dims(value: Any) -> tuple[int, ...]:
    if isinstance(value, ShapeProxy):
        return value.dims
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, int | float | bool | complex):
        return ()
    raise NotHandled


def select(dtype: torch.dtype | None = None) -> Callable[..., Any]:
    """Element-wise ops that pick or compare, with broadcasting and no MACs: ``masked_fill``,
    ``where``, ``clamp`` with tensor bounds, comparisons and logical ops (``dtype``: what they
    return, e.g. ``torch.bool``; ``None`` keeps the first traced operand's). Operands are
    traced tensors, constant tensors (a mask made in the forward) or Python numbers."""

    def handler(t: Tracer, name: str, op: str, *args: Any, **keywords: Any) -> Any:
        if "out" in keywords:
            raise NotHandled
        operands = [a for a in (*args, *keywords.values()) if a is not None]
        proxies = [o for o in operands if isinstance(o, ShapeProxy)]
        if not proxies:
            raise NotHandled
        if op == "where" and len(operands) == 1:  # where(condition): its nonzero positions
            if (made := known_selection(t, "where", name, op, tuple(operands), {})) is not None:
                return made  # (a condition of a known value: all of them, or none)
            raise data_sized_error("torch.where(condition) with no values to pick")
        out: tuple[int, ...] | None = ()
        for o in operands:
            out = None if out is None else broadcast(out, _operand_dims(o))
        if out is None:
            raise NotHandled  # torch's own error comes from the meta run
        parents = list(dict.fromkeys(p.node for p in proxies))
        node = t.builder.other(
            parents,
            name,
            kind=OpKind.ACTIVATION,
            output_shape=out,
            params=t.take_params(operands),
            op=op,
        )
        first: ShapeProxy | torch.Tensor = next(
            (a for a in args if isinstance(a, ShapeProxy)), proxies[0]
        )
        if op.startswith("masked_fill") and isinstance(args[0], torch.Tensor):
            first = args[0]  # (a real tensor filled where a traced mask says: its dtype)
        kept = first.dtype if dtype is None else dtype
        if op == "where" and len(args) == 3:  # where(cond, x, y): the values' promoted dtype,
            kept = _result_dtype(args[1], args[2])  # not the condition's (nor x's alone)
        return ShapeProxy(node, out, kept)

    return handler


def fused(
    t: Tracer, name: str, op: str, input: Any, tensor1: Any, tensor2: Any, **keywords: Any
) -> Any:
    """``torch.addcmul(x, a, b)`` / ``addcdiv``: ``x + value * a * b`` with broadcasting, as
    one node of two MACs per output element (one per operand beyond the first)."""
    operands = (input, tensor1, tensor2)
    proxies = [o for o in operands if isinstance(o, ShapeProxy)]
    if not proxies or any(isinstance(v, ShapeProxy) for v in keywords.values()):
        raise NotHandled
    first = proxies[0]
    constants = [_operand_dims(o) for o in operands if not isinstance(o, ShapeProxy)]
    node = t.builder.elementwise(
        [p.node for p in proxies],  # x + a * a: both operands count
        name,
        kind=OpKind.MUL,
        operand_shapes=constants,
        params=t.take_params(operands),
        op=op,
    )
    return t.proxy(node, first)


def bucket(values_at: int) -> Callable[..., Any]:
    """``torch.bucketize(x, boundaries)`` (``values_at=0``) and ``torch.searchsorted(sorted,
    x)`` (``1``): per element of ``x``, the index of its bucket; position-wise, no MACs, an
    int64 (with ``out_int32``, int32) tensor of ``x``'s shape. Traced boundaries are joined
    (:func:`~.layer_calls.joined`): every bucket depends on all of them."""

    def handler(t: Tracer, name: str, op: str, *args: Any, **keywords: Any) -> Any:
        x = args[values_at] if len(args) > values_at else None
        if not isinstance(x, ShapeProxy) or keywords.get("out") is not None:
            raise NotHandled
        node = t.builder.pointwise(x.node, name, kind=OpKind.ACTIVATION, op=op)
        out = ShapeProxy(node, x.dims, torch.int32 if keywords.get("out_int32") else torch.int64)
        others = [v for v in (*args, *keywords.values()) if v is not x]
        return joined(t, name, out, others, "boundaries")

    return handler


def polygamma(t: Tracer, name: str, op: str, first: Any, second: Any, **keywords: Any) -> Any:
    """``torch.polygamma(n, x)`` and ``x.polygamma(n)``: element-wise math on ``x`` (the
    order is a number), 0 MACs."""
    x, n = (second, first) if isinstance(first, int) else (first, second)
    if keywords or not isinstance(n, int) or not isinstance(x, ShapeProxy):
        raise NotHandled
    return unary(OpKind.ACTIVATION)(t, name, op, x)


def isin(t: Tracer, name: str, op: str, elements: Any, test_elements: Any, **keywords: Any) -> Any:
    """``torch.isin(x, values)``: per element of ``x``, whether it is among ``values`` (a
    bool tensor of ``x``'s shape; position-wise, no MACs). Traced ``values`` are read whole
    (:func:`~.layer_calls.joined`)."""
    if not isinstance(elements, ShapeProxy) or "out" in keywords:
        raise NotHandled
    node = t.builder.pointwise(elements.node, name, kind=OpKind.ACTIVATION, op=op)
    return joined(t, name, ShapeProxy(node, elements.dims, torch.bool), [test_elements], "values")
