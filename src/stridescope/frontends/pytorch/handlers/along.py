"""Handlers for ops along one axis that are neither position-wise nor pooling: reductions
that also return indices (``argmax``, ``median``, ``mode``, ``kthvalue``...) or are computed
otherwise than a sum (``logsumexp``, ``prod``, ``vector_norm``, ``std_mean``...) (:func:`reduction`),
and ops that keep the axis (scans such as ``cumsum``, ``sort``, ``topk``, ``diff``)
(:func:`along`).

A reduction is the node :meth:`GraphBuilder.reduce` makes (over spatial axes a global pool,
so coverage and the receptive field know it reads every position), one MAC per input element;
its indices are a free node read from it. An op that keeps the axis is one node of one MAC
per input element (``diff``: per output element and order); along a spatial axis it carries
the window of what each output reads there: a scan reads the positions up to its own
(``cumsum``), ``diff`` the next ``n``, and a sort or ``topk`` every position of the axis.
``cumulative_trapezoid`` is two such nodes: a step over pairs (as ``diff``'s) and a scan.
Traced tensors among the other arguments (``trapz``'s sample points, ``quantile``'s ``q``) are
joined to a single result (:func:`~.layer_calls.joined`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.layer_calls import joined
from stridescope.frontends.pytorch.meta_calls import map_values, meta_call, walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind, reduced_shape

__all__ = ["along", "dim_axes", "reduction", "results", "spread_pair"]

_UNSET = object()
_QUANTILES = (torch.quantile, torch.Tensor.quantile, torch.nanquantile, torch.Tensor.nanquantile)


def _argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], at: int, key: str, default: Any
) -> Any:
    """The call's argument ``key``, given by keyword or at position ``at`` (after the input)."""
    if key in kwargs:
        return kwargs[key]
    return args[at] if len(args) > at else default


def dim_axes(dim: Any, rank: int) -> tuple[int, ...] | None:
    """``dim`` as non-negative axes; ``None`` for every axis; :class:`NotHandled` where it is
    not an int or a sequence of ints in range."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else dim
    if isinstance(dims, bool) or not isinstance(dims, Sequence):
        raise NotHandled
    if not all(isinstance(d, int) and not isinstance(d, bool) and -rank <= d < rank for d in dims):
        raise NotHandled
    return tuple(d % rank for d in dims) or None


Handler = Callable[..., Any]


def reduction(
    mode: str, dim_at: int = 0, dim_default: Any = None, k_first: bool = False
) -> Callable[[Any], Handler]:
    """The handler of torch function ``func``, a reduction over ``dim`` (position ``dim_at``
    after the input, default ``dim_default``; ``k_first``: ``kthvalue``'s ``k`` comes before
    it): values (and indices, where torch returns them) as torch returns them."""
    return lambda func: _reduction(func, mode, dim_at, dim_default, k_first)


def spread_pair(func: Any) -> Handler:
    """``torch.var_mean`` / ``torch.std_mean``: a reduction as :func:`reduction` reads it, also
    in the older forms with ``unbiased`` by position, ``(x, unbiased)`` and ``(x, dim,
    unbiased, keepdim)`` (whether it is unbiased changes no shape)."""
    inner = _reduction(func, "avg", 0, None, False)

    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if args and type(args[0]) is bool:
            args = args[1:]
        elif len(args) > 1 and type(args[1]) is bool:
            if len(args) > 2:
                kwargs = {**kwargs, "keepdim": args[2]}
            args = (args[0],)
        return inner(t, name, op, input, *args, **kwargs)

    return handler


def _reduction(func: Any, mode: str, dim_at: int, dim_default: Any, k_first: bool) -> Handler:
    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, ShapeProxy) or "out" in kwargs:
            raise NotHandled
        result = meta_call(func, (input, *args), kwargs)  # shapes, dtypes and the pair type
        at = dim_at + (1 if k_first else 0)
        axes = dim_axes(_argument(args, kwargs, at, "dim", dim_default), len(input.dims))
        keepdim = bool(_argument(args, kwargs, at + 1, "keepdim", False))
        outputs = list(result) if isinstance(result, tuple) else [result]
        if not all(isinstance(r, torch.Tensor) for r in outputs):
            raise NotHandled
        reduced, got = reduced_shape(input.dims, axes, keepdim), tuple(outputs[0].shape)
        per_q = func in _QUANTILES and got[1:] == reduced  # q a vector: one result per value
        if reduced != got and not per_q:
            raise NotHandled  # not the reduction this reads it as: the meta run's shapes
        node = t.builder.reduce(input.node, name, mode=mode, axes=axes, keepdim=keepdim, op=op)
        if per_q and reduced != got:  # (its axis first, as torch puts it)
            node = t.builder.other(
                node, t.unique(f"{name}.q"), kind=OpKind.MOVE, output_shape=got, op=op
            )
        return _with_operands(t, name, results(t, name, op, node, result), args, kwargs)

    return handler


def _with_operands(
    t: Tracer, name: str, out: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``out``, joined to the traced tensors among the other arguments (``trapz``'s sample
    points, ``quantile``'s ``q``), every element of which each output reads."""
    if type(out) is not ShapeProxy:  # (values and indices: left as they are)
        return out
    return joined(t, name, out, (*args, *kwargs.values()), "operands")


def results(t: Tracer, name: str, op: str, node: int, result: Any) -> Any:
    """``result`` (a meta run's tensor, or torch's tuple of them) with its first tensor
    standing for ``node`` and each further one (indices) for a free node read from it."""
    outputs = [r for r in walk_values(result) if isinstance(r, torch.Tensor)]
    made = {id(outputs[0]): ShapeProxy(node, tuple(outputs[0].shape), outputs[0].dtype)}
    for i, extra in enumerate(outputs[1:], start=1):
        shape = tuple(extra.shape)
        more = t.builder.other(
            node, t.unique(f"{name}[{i}]"), kind=OpKind.REDUCE, output_shape=shape, op=op
        )
        made[id(extra)] = ShapeProxy(more, shape, extra.dtype)
    return map_values(result, lambda r: made.get(id(r), r))


def along(how: str, dim_at: int = 0, dim_default: Any = _UNSET) -> Callable[[Any], Handler]:
    """The handler of torch function ``func``, an op along ``dim`` (position ``dim_at`` after
    the input) that keeps every axis: ``how`` is ``'scan'``, ``'diff'`` or ``'whole'`` (see
    :meth:`GraphBuilder.along`)."""
    return lambda func: _along(func, how, dim_at, dim_default)


def _padded_diff(t: Tracer, func: Any, input: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``diff(x, n, dim, prepend, append)``, as torch defines it: the diff of
    ``cat([prepend, x, append], dim)``, so what is put before and after is read too."""
    meta_call(func, (input, *args), kwargs)  # torch's own error for edges that do not fit
    n, dim = _argument(args, kwargs, 0, "n", 1), _argument(args, kwargs, 1, "dim", -1)
    edges = [_argument(args, kwargs, at, key, None) for at, key in ((2, "prepend"), (3, "append"))]
    parts = [edge for edge in (edges[0], input, edges[1]) if edge is not None]
    whole = t.call_function(torch.cat, (parts, dim), {})
    return t.call_function(func, (whole, n, dim), {})


def _along(func: Any, how: str, dim_at: int, dim_default: Any) -> Handler:
    pairs = func is torch.cumulative_trapezoid  # a step over pairs, as diff's, then a scan

    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, ShapeProxy) or "out" in kwargs:
            raise NotHandled
        if (
            how == "diff"
            and not pairs
            and _argument(args, kwargs, 0, "n", 1) != 0  # (torch ignores the edges then)
            and (
                _argument(args, kwargs, 2, "prepend", None) is not None
                or _argument(args, kwargs, 3, "append", None) is not None
            )
        ):
            return _padded_diff(t, func, input, args, kwargs)
        dim = _argument(args, kwargs, dim_at, "dim", dim_default)
        if dim is _UNSET:
            raise NotHandled
        rank = len(input.dims)
        axes = dim_axes(dim, rank)
        if axes is None or len(axes) != 1:
            raise NotHandled
        result = meta_call(func, (input, *args), kwargs)
        outputs = list(result) if isinstance(result, tuple) else [result]
        if not all(isinstance(r, torch.Tensor) and r.dim() == rank for r in outputs):
            raise NotHandled
        out = tuple(int(d) for d in outputs[0].shape)
        order = input.dims[axes[0]] - out[axes[0]] if how == "diff" else 1
        macs = math.prod(out) * order if how == "diff" else math.prod(input.dims)
        node = t.builder.along(
            input.node,
            t.unique(f"{name}.pairs") if pairs else name,
            axes=axes,
            output_shape=out,
            how=how,
            macs=macs,
            op=op,
        )
        if pairs:  # the running sum of the pairs' areas
            size = math.prod(out)
            node = t.builder.along(
                node, name, axes=axes, output_shape=out, how="scan", macs=size, op=op
            )
        return _with_operands(t, name, results(t, name, op, node, result), args, kwargs)

    return handler
