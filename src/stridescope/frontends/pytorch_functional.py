"""Torch functions, tensor methods and operators that the PyTorch frontend models exactly.

Each handler has the torch function's own signature (after the tracer, the node name and the
torch spelling), computes its node with :class:`~stridescope.ir.GraphBuilder` and returns a
:class:`ShapeProxy`. A handler raises :class:`NotHandled` for arguments it does not model (e.g.
a weight computed from the input); the call then runs on meta tensors and is marked uncounted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch_nodes import (
    adaptive_node,
    conv_node,
    conv_transpose_node,
    expect,
    interpolate_node,
    pad_node,
    pointwise_node,
    pool_node,
    reshape_node,
)
from stridescope.frontends.pytorch_proxy import LayerInputError, NotHandled, ShapeProxy
from stridescope.frontends.pytorch_tracer import Tracer
from stridescope.ir import OpKind

__all__ = [
    "adaptive",
    "arith",
    "avg_pool",
    "by_meta",
    "cat",
    "conv",
    "conv_transpose",
    "extreme",
    "flatten",
    "interpolate",
    "linear",
    "lp_pool",
    "max_pool",
    "or_movement",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "pointwise",
    "power",
    "reduce",
    "same",
    "unary",
    "view",
]


# -- handlers (torch signatures) -----------------------------------------------------------
def conv(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> ShapeProxy:
    if not isinstance(weight, torch.Tensor) or isinstance(bias, ShapeProxy):
        raise NotHandled
    own = weight.numel() + (0 if bias is None else bias.numel())
    params = t.take_weights(weight, bias)
    return conv_node(
        t, name, op, input, tuple(weight.shape), groups=groups, stride=stride, padding=padding,
        dilation=dilation, bias=bias is not None, params=None if params == own else params,
    )  # fmt: skip


def conv_transpose(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> ShapeProxy:
    if not isinstance(weight, torch.Tensor) or isinstance(bias, ShapeProxy):
        raise NotHandled
    own = weight.numel() + (0 if bias is None else bias.numel())
    params = t.take_weights(weight, bias)
    return conv_transpose_node(
        t, name, op, input, tuple(weight.shape), groups=groups, stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation, bias=bias is not None,
        params=None if params == own else params,
    )  # fmt: skip


def linear(t: Tracer, name: str, op: str, input: Any, weight: Any, bias: Any = None) -> Any:
    if not isinstance(input, ShapeProxy) or not isinstance(weight, torch.Tensor):
        raise NotHandled
    if weight.dim() != 2 or input.dims[-1] != weight.shape[1]:
        raise LayerInputError(name, op, f"a last axis of {weight.shape[-1]}", input.dims)
    own = weight.numel() + (0 if bias is None else bias.numel())
    params = t.take_weights(weight, bias)
    node = t.builder.linear(
        input.node, name, out_features=weight.shape[0], bias=bias is not None, op=op,
        params=None if params == own else params,
    )  # fmt: skip
    return t.proxy(node, input)


def max_pool(rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, kernel_size: Any, stride: Any = None,
        padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:  # fmt: skip
        if return_indices:
            raise NotHandled
        return pool_node(
            t, name, op, input, mode="max", rank=rank, kernel=kernel_size, stride=stride,
            padding=padding, dilation=dilation, ceil_mode=ceil_mode,
        )  # fmt: skip

    return handler


def avg_pool(rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, kernel_size: Any, stride: Any = None,
        padding: Any = 0, ceil_mode: bool = False, count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Any:  # fmt: skip
        return pool_node(
            t, name, op, input, mode="avg", rank=rank, kernel=kernel_size, stride=stride,
            padding=padding, ceil_mode=ceil_mode,
        )  # fmt: skip

    return handler


def lp_pool(rank: int) -> Callable[..., Any]:
    """``F.lp_pool*d``: a power-average over the same window as an average pool (no padding;
    counted as one, one MAC per window element)."""

    def handler(
        t: Tracer, name: str, op: str, input: Any, norm_type: Any, kernel_size: Any,
        stride: Any = None, ceil_mode: bool = False,
    ) -> Any:  # fmt: skip
        return pool_node(
            t, name, op, input, mode="avg", rank=rank, kernel=kernel_size, stride=stride,
            padding=0, ceil_mode=ceil_mode,
        )  # fmt: skip

    return handler


def adaptive(mode: str, rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, output_size: Any, return_indices: bool = False
    ) -> Any:
        if return_indices:
            raise NotHandled
        return adaptive_node(t, name, op, input, mode=mode, rank=rank, output_size=output_size)

    return handler


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


def cat(t: Tracer, name: str, op: str, tensors: Sequence[Any], dim: int = 0) -> Any:
    proxies = [x for x in tensors if isinstance(x, ShapeProxy)]
    if not proxies or not all(isinstance(x, ShapeProxy | torch.Tensor) for x in tensors):
        raise NotHandled
    shapes = [tuple(x.shape) for x in tensors]
    axis = dim % len(shapes[0])
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    if len(proxies) == len(tensors) and axis == 1:
        node = t.builder.merge([p.node for p in proxies], name, kind=OpKind.CONCAT, op=op)
    else:
        parents = [p.node for p in proxies]
        node = t.builder.other(parents, name, kind=OpKind.CONCAT, output_shape=tuple(out), op=op)
    return t.proxy(node, proxies[0])


def flatten(
    t: Tracer, name: str, op: str, input: Any, start_dim: int = 0, end_dim: int = -1
) -> Any:
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    rank = max(input.ndim, 1)
    start, end = start_dim % rank, end_dim % rank
    if end == rank - 1:
        node = t.builder.flatten(input.node, name, start_dim=start, op=op)
        return t.proxy(node, input)
    dims = input.dims
    return reshape_node(t, name, op, input, (*dims[:start], math.prod(dims[start : end + 1]), *dims[end + 1 :]))  # fmt: skip


def view(t: Tracer, name: str, op: str, input: Any, *shape: Any) -> Any:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    if not isinstance(input, ShapeProxy) or not all(isinstance(s, int) for s in shape):
        raise NotHandled
    known = math.prod(s for s in shape if s != -1)
    out = tuple(input.numel() // known if s == -1 else s for s in shape)
    if math.prod(out) != input.numel():
        raise LayerInputError(name, op, f"{math.prod(out)} elements for shape {shape}", input.dims)
    return reshape_node(t, name, op, input, out)


def same(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    return input


def pixel_unshuffle(t: Tracer, name: str, op: str, input: Any, downscale_factor: int) -> Any:
    x = expect(input, name, op, 4)
    node = t.builder.pixel_unshuffle(x.node, name, factor=downscale_factor, op=op)
    return t.proxy(node, x)


def pixel_shuffle(t: Tracer, name: str, op: str, input: Any, upscale_factor: int) -> Any:
    x = expect(input, name, op, 4)
    n, c, h, w = x.dims
    r = upscale_factor
    if c % (r * r):
        raise LayerInputError(name, op, f"channels divisible by {r * r}", x.dims)
    out = (n, c // (r * r), h * r, w * r)
    node = t.builder.resize(  # output (h, w) comes from input (h // r, w // r): a scatter
        x.node, name, kind=OpKind.PIXEL_SHUFFLE, output_shape=out, op=op, repeat=(r, r)
    )
    return t.proxy(node, x)


def interpolate(
    t: Tracer, name: str, op: str, input: Any, size: Any = None, scale_factor: Any = None,
    mode: str = "nearest", align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None, antialias: bool = False,
) -> Any:  # fmt: skip
    return interpolate_node(t, name, op, input, size, scale_factor, mode)


def pad(
    t: Tracer, name: str, op: str, input: Any, pad: Sequence[int], mode: str = "constant",
    value: float | None = None,
) -> Any:  # fmt: skip
    return pad_node(t, name, op, input, pad, mode, value)


def reduce(mode: str) -> Callable[..., Any]:
    """``mean`` / ``sum`` (``mode='avg'``) and ``amax`` (``'max'``) over ``dim``; over all
    spatial axes it is a global pool (see :meth:`GraphBuilder.reduce`)."""

    def handler(
        t: Tracer, name: str, op: str, input: Any, dim: Any = None, keepdim: bool = False,
        *, dtype: Any = None, **keywords: Any,
    ) -> Any:  # fmt: skip
        if not isinstance(input, ShapeProxy) or keywords or not isinstance(keepdim, bool):
            raise NotHandled
        if isinstance(dim, torch.dtype):  # Tensor.sum(dtype) spelled positionally
            raise NotHandled
        axes: tuple[int, ...] | None
        if dim is None:
            axes = None
        elif isinstance(dim, int):
            axes = (dim,)
        elif isinstance(dim, Sequence) and all(isinstance(d, int) for d in dim):
            axes = tuple(dim) if dim else None  # torch: an empty dim reduces every axis
        else:
            raise NotHandled
        node = t.builder.reduce(input.node, name, mode=mode, axes=axes, keepdim=keepdim, op=op)
        return t.proxy(node, input)

    return handler


def extreme(word: str) -> Callable[..., Any]:
    """``torch.max`` / ``torch.min`` (and the methods): over all axes a max reduction; with
    ``dim`` a max reduction for ``values`` plus a free ``indices`` node read from it (torch's
    named pair, so ``[0]``, ``.values`` and unpacking work). ``max(a, b)`` is element-wise:
    one MAC per output element, as Keras ``Maximum`` and an add."""

    def handler(
        t: Tracer, name: str, op: str, input: Any, dim: Any = None, keepdim: bool = False,
        **keywords: Any,
    ) -> Any:  # fmt: skip
        if keywords or not isinstance(input, ShapeProxy) or not isinstance(keepdim, bool):
            raise NotHandled
        if dim is None:
            return t.proxy(t.builder.reduce(input.node, name, mode="max", axes=None, op=op), input)
        if isinstance(dim, ShapeProxy | torch.Tensor):  # max(a, b): element-wise, like an add
            return arith(OpKind.ADD)(t, name, op, input, dim)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise NotHandled
        values = t.builder.reduce(input.node, name, mode="max", axes=(dim,), keepdim=keepdim, op=op)
        shape = t.builder.shape(values)
        indices = t.builder.other(
            (values,), t.unique(f"{name}.indices"), kind=OpKind.REDUCE,
            output_shape=shape, counted=True, op=op,
        )  # fmt: skip
        pair = getattr(torch.return_types, word)
        return pair(
            (t.proxy(values, input), ShapeProxy(indices, t.proxy(values).dims, torch.int64))
        )

    return handler


def or_movement(handler: Callable[..., Any], func: Any) -> Callable[..., Any]:
    """``handler``, or :func:`by_meta` data movement where it declines (``NotHandled``)."""

    def either(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(t, name, op, *args, **kwargs)
        except NotHandled:
            return by_meta(func)(t, name, op, *args, **kwargs)

    return either


def by_meta(func: Any) -> Callable[..., Any]:
    """Data movement (permute, flip, stack, integer indexing...): no MACs; the shape comes
    from meta. Positions may move, so the receptive field after it is unknown."""

    def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        return t.fallback(func, args, kwargs, name=name, kind=OpKind.MOVE, counted=True)

    return handler
