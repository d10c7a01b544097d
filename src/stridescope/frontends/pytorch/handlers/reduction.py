"""Handlers for reductions: ``mean`` / ``sum`` / ``amax`` / ``amin`` over ``dim``
(:func:`reduce`) and ``torch.max`` / ``torch.min`` with their ``(values, indices)`` pair
(:func:`extreme`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.elementwise import arith
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["extreme", "indices_of", "linalg_norm", "norm", "reduce", "spread", "sum_to_size"]


def reduce(mode: str) -> Callable[..., Any]:
    """``mean`` / ``sum`` (``mode='avg'``) and ``amax`` (``'max'``) over ``dim``; over all
    spatial axes it is a global pool (see :meth:`GraphBuilder.reduce`)."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        dim: Any = None,
        keepdim: bool = False,
        *,
        dtype: Any = None,
        **keywords: Any,
    ) -> Any:
        if not isinstance(input, ShapeProxy) or keywords or not isinstance(keepdim, bool):
            raise NotHandled
        if isinstance(dim, torch.dtype) or not isinstance(dtype, torch.dtype | None):
            raise NotHandled  # (Tensor.sum(dtype) spelled positionally)
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
        out = t.proxy(node, input)
        if dtype is not None:
            out.dtype = dtype
        elif op.endswith("sum") and not (input.dtype.is_floating_point or input.dtype.is_complex):
            out.dtype = torch.int64  # (torch sums bools and integers as int64: a mask's count)
        return out

    return handler


def sum_to_size(t: Tracer, name: str, op: str, input: Any, *size: Any) -> Any:
    """``x.sum_to_size(*size)``: a sum over the leading axes ``size`` lacks and the axes it
    has as 1 (where ``x`` has more), to exactly ``size``; ``x`` itself where none is."""
    target = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
    lead = len(input.dims) - len(target) if isinstance(input, ShapeProxy) else -1
    if lead < 0 or not all(type(d) is int for d in target):
        raise NotHandled
    dims = input.dims[lead:]
    axes = (*range(lead), *(lead + i for i, d in enumerate(target) if d == 1 != dims[i]))
    if not axes:
        return input
    node = t.builder.reduce(input.node, name, mode="avg", axes=axes, keepdim=True, op=op)
    if lead:  # (the leading axes dropped, as a view)
        node = t.builder.reshape(node, t.unique(f"{name}.view"), output_shape=target, op=op)
    return t.proxy(node, input)


def extreme(word: str) -> Callable[..., Any]:
    """``torch.max`` / ``torch.min`` (and the methods): over all axes a max reduction; with
    ``dim`` a max reduction for ``values`` plus a free ``indices`` node read from it (torch's
    named pair, so ``[0]``, ``.values`` and unpacking work). ``max(a, b)`` is element-wise:
    one MAC per output element, as Keras ``Maximum`` and an add."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        dim: Any = None,
        keepdim: bool = False,
        **keywords: Any,
    ) -> Any:
        if keywords or not isinstance(input, ShapeProxy) or not isinstance(keepdim, bool):
            raise NotHandled
        if dim is None:
            return t.proxy(t.builder.reduce(input.node, name, mode="max", axes=None, op=op), input)
        if isinstance(dim, ShapeProxy | torch.Tensor):  # max(a, b): element-wise, like an add
            return arith(OpKind.ADD)(t, name, op, input, dim)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise NotHandled
        values = t.builder.reduce(input.node, name, mode="max", axes=(dim,), keepdim=keepdim, op=op)
        pair = getattr(torch.return_types, word)
        return pair((t.proxy(values, input), indices_of(t, values, name, op)))

    return handler


def indices_of(t: Tracer, values: int, name: str, op: str) -> ShapeProxy:
    """The int64 indices beside a max reduction's or max pool's ``values`` node: a free node
    of its shape read from it, ``<name>.indices``."""
    shape = t.builder.shape(values)
    node = t.builder.other(
        values, t.unique(f"{name}.indices"), kind=OpKind.REDUCE, output_shape=shape, op=op
    )
    return ShapeProxy(node, t.proxy(values).dims, torch.int64)


def norm(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    p: Any = "fro",
    dim: Any = None,
    keepdim: bool = False,
    out: Any = None,
    dtype: Any = None,
) -> Any:
    """``torch.norm(x, p, dim, keepdim)`` (ConvNeXt V2's global response norm): a sum of
    powers over ``dim``, counted as :func:`reduce` counts a sum."""
    if isinstance(p, ShapeProxy | torch.Tensor) or out is not None:
        raise NotHandled
    return reduce("avg")(t, name, op, input, dim, keepdim)


# matrix norms of singular values: not counted, as ``svd`` is not (an iteration)
_SPECTRAL = ("nuc", 2, -2)


def linalg_norm(
    t: Tracer,
    name: str,
    op: str,
    A: Any,
    ord: Any = None,
    dim: Any = None,
    keepdim: bool = False,
    *,
    out: Any = None,
    dtype: Any = None,
) -> Any:
    """``torch.linalg.norm`` and ``torch.linalg.matrix_norm`` (OWL-ViT's embeddings): a vector
    norm over ``dim`` (every axis where none is given) is a sum of powers, counted as
    :func:`reduce` counts a sum (a max for ``ord=inf``); a matrix norm over two axes
    (``'fro'``, 1, inf: sums of the entries) likewise. The nuclear and spectral norms (``'nuc'``,
    2, -2 over two axes) are sums of singular values: not handled, so uncounted, as ``svd``."""
    if (
        not isinstance(A, ShapeProxy)
        or out is not None
        or isinstance(ord, ShapeProxy | torch.Tensor)
    ):
        raise NotHandled
    if op.endswith("matrix_norm"):
        dim, ord = (-2, -1) if dim is None else dim, "fro" if ord is None else ord
    elif dim is None and ord is not None and A.ndim == 2:
        dim = (-2, -1)  # (torch: a 2-D input with an order is a matrix)
    matrix = isinstance(dim, Sequence) and len(dim) == 2
    if matrix and ord in _SPECTRAL:
        raise NotHandled
    mode = "max" if not matrix and ord in (math.inf, -math.inf) else "avg"
    return reduce(mode)(t, name, op, A, dim, keepdim, dtype=dtype)


def spread(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Any:
    """``var`` / ``std`` over ``dim`` (a hand-written LayerNorm): counted as :func:`reduce`
    counts a mean; ``unbiased`` / ``correction`` change no shape."""
    if isinstance(dim, bool):  # x.var(False): the old unbiased-only form
        dim = None
    return reduce("avg")(t, name, op, input, dim, keepdim)
