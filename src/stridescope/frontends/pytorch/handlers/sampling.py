"""Handlers for ops that read positions the data chooses: ``F.grid_sample`` (and the
``F.affine_grid`` that often makes its grid), ``F.max_unpool*d`` and fractional max pooling;
and for ops whose output size depends on tensor values (``masked_select``, ``nonzero``...),
which a trace of shapes cannot follow.

``grid_sample`` reads, per output position, the taps around a position the grid holds: it
counts one MAC per output element and tap (``nearest`` 1, ``bilinear`` 2 per axis,
``bicubic`` 4 per axis) and, as the grid is data, reads every input position. ``max_unpool``
writes each input position into one of its pooling window's positions (which one is data):
the window kept as the node's scatter, so coverage knows which outputs an input can reach.
Fractional max pooling's windows start at random offsets: it counts its window's reads, and
reads every position.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled, data_sized_error
from stridescope.frontends.pytorch.handlers.along import results
from stridescope.frontends.pytorch.handlers.layer_calls import ints
from stridescope.frontends.pytorch.handlers.movement import known_selection
from stridescope.frontends.pytorch.handlers.products import tensor_dims
from stridescope.frontends.pytorch.meta_calls import meta_call, walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import OpKind, Window

__all__ = [
    "affine_grid",
    "data_sized",
    "fractional_max_pool",
    "grid_sample",
    "max_unpool",
    "one_hot",
    "unique",
]

_TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}  # per spatial axis


def _parents(*values: Any) -> list[int]:
    nodes = [v.node for v in values if isinstance(v, ShapeProxy)]
    if not nodes:
        raise NotHandled
    return list(dict.fromkeys(nodes))


def grid_sample(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    grid: Any,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: Any = None,
) -> Any:
    """``F.grid_sample(x, grid)``: ``(N, C, *grid.shape[1:-1])``, MACs per output element
    one per tap."""
    x, g = tensor_dims(input), tensor_dims(grid)
    rank = len(g) - 2
    if len(x) != rank + 2 or g[-1] != rank or mode not in _TAPS or rank < 1:
        raise NotHandled  # torch's own error, from the meta run
    out = (x[0], x[1], *g[1:-1])
    node = t.builder.other(
        _parents(input, grid),
        name,
        kind=OpKind.INTERPOLATE,
        output_shape=out,
        macs=math.prod(out) * _TAPS[mode] ** rank,
        params=t.take_params([input, grid]),
        op=op,
    )
    return ShapeProxy(node, out, input.dtype if isinstance(input, ShapeProxy) else grid.dtype)


def affine_grid(
    t: Tracer, name: str, op: str, theta: Any, size: Any, align_corners: Any = None
) -> Any:
    """``F.affine_grid(theta, size)``: each of the ``N x *size[2:]`` points is ``theta``
    times its homogeneous coordinates, a batched product: ``rank + 1`` MACs per coordinate
    (``FlopCounterMode`` counts none for it)."""
    if not isinstance(theta, ShapeProxy) or not isinstance(size, list | tuple | torch.Size):
        raise NotHandled
    rank = len(size) - 2
    out = (int(size[0]), *(int(s) for s in size[2:]), rank)
    node = t.builder.matmul(
        [theta.node], name, output_shape=out, macs=math.prod(out) * (rank + 1), op=op
    )
    return ShapeProxy(node, out, theta.dtype)


def max_unpool(rank: int) -> Callable[..., Any]:
    """``F.max_unpool{rank}d(x, indices, kernel_size, stride, padding, output_size)``."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        indices: Any,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        output_size: Any = None,
    ) -> Any:
        if not isinstance(input, ShapeProxy) or len(input.dims) != rank + 2:
            raise NotHandled
        k = ints(kernel_size, rank)
        s = k if stride is None else ints(stride, rank)
        p = ints(padding, rank)
        sizes = tuple(
            (n - 1) * si - 2 * pi + ki
            for n, ki, si, pi in zip(input.dims[2:], k, s, p, strict=True)
        )
        scatter: Window | None = Window(k, s, (1,) * rank, tuple((pi, pi) for pi in p))
        if output_size is not None:
            wanted = tuple(int(n) for n in list(output_size)[-rank:])
            scatter = scatter if wanted == sizes else None  # a larger output: not a window's
            sizes = wanted
        out = (*input.dims[:2], *sizes)
        node = t.builder.other(
            _parents(input, indices),
            name,
            kind=OpKind.INTERPOLATE,
            output_shape=out,
            scatter=scatter,
            op=op,
        )
        return ShapeProxy(node, out, input.dtype)

    return handler


def fractional_max_pool(func: Any) -> Callable[..., Any]:
    """``F.fractional_max_pool{2,3}d`` (and its ``_with_indices`` form): shapes from a meta
    run; one MAC per window element read, every position read."""

    def handler(
        t: Tracer, name: str, op: str, input: Any, kernel_size: Any, *args: Any, **kw: Any
    ) -> Any:
        if not isinstance(input, ShapeProxy):
            raise NotHandled
        result = meta_call(func, (input, kernel_size, *args), kw)
        outputs = [r for r in walk_values(result) if isinstance(r, torch.Tensor)]
        if not outputs:
            raise NotHandled
        out = tuple(outputs[0].shape)
        area = math.prod(ints(kernel_size, len(input.dims) - 2))
        node = t.builder.other(
            input.node,
            name,
            kind=OpKind.MAXPOOL,
            output_shape=out,
            macs=math.prod(out) * area,
            op=op,
        )
        return results(t, name, op, node, result)

    return handler


def data_sized(func: Any) -> Callable[..., Any]:
    """``masked_select``, ``nonzero``, ``bincount``...: how many elements they return depends
    on the values, which a trace of shapes does not have: a selection by a traced mask is
    taken at its largest (see ``known_selection``), anything else is a one-line error that
    says so."""
    spelled = getattr(func, "__name__", "this op")

    def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        if not any(isinstance(v, ShapeProxy) for v in walk_values((args, kwargs))):
            raise NotHandled
        if (made := known_selection(t, spelled, name, op, args, kwargs)) is not None:
            return made
        raise data_sized_error(spelled)

    return handler


def unique(func: Any) -> Callable[..., Any]:
    """``unique`` / ``unique_consecutive`` of a traced tensor: as many values as are distinct,
    which is data, so taken at their largest (every value distinct, noted: see
    ``Tracer.bounded``); the inverse indices and counts beside them, where asked."""
    spelled = getattr(func, "__name__", "unique")
    consecutive = spelled == "unique_consecutive"

    def handler(t: Tracer, name: str, op: str, x: Any, *args: Any, **kwargs: Any) -> Any:
        given = dict(zip(_UNIQUE[consecutive:], args, strict=False)) | kwargs
        dim = given.get("dim")
        if type(x) is not ShapeProxy or not set(given) <= set(_UNIQUE):
            raise NotHandled
        if dim is not None and not (is_int(dim) and -len(x.dims) <= dim < len(x.dims)):
            raise NotHandled  # (torch's error, from the meta run)
        whole = (math.prod(x.dims),) if dim is None else (x.dims[dim],)
        shapes = [x.dims if dim is not None else whole]
        shapes += [x.dims if dim is None else whole] * bool(given.get("return_inverse"))
        shapes += [whole] * bool(given.get("return_counts"))
        made = []
        for i, shape in enumerate(shapes):
            label = t.unique(f"{name}[{i}]") if i else name
            node = t.builder.other(x.node, label, kind=OpKind.MOVE, output_shape=shape, op=op)
            t.data_sized.add(node)
            made.append(ShapeProxy(node, shape, x.dtype if not i else torch.int64))
        t.bounded(x.node, spelled, "every value distinct")
        return made[0] if len(made) == 1 else tuple(made)

    return handler


_UNIQUE = ("sorted", "return_inverse", "return_counts", "dim")  # (consecutive: no ``sorted``)


def one_hot(t: Tracer, name: str, op: str, tensor: Any, num_classes: int = -1) -> Any:
    """``F.one_hot(x, n)``: a new last axis of ``n`` (data movement); without ``n`` its size is
    the largest value, which a trace of shapes does not have."""
    if not isinstance(tensor, ShapeProxy):
        raise NotHandled
    if num_classes < 0:
        return data_sized(torch.nn.functional.one_hot)(t, name, op, tensor)
    out = (*tensor.dims, int(num_classes))
    node = t.builder.other(tensor.node, name, kind=OpKind.MOVE, output_shape=out, op=op)
    return ShapeProxy(node, out, torch.int64)
