"""Handlers for ops that write values into a tensor's positions: ``copy_``, ``index_put``
(what ``x[idx] = v`` with a tensor index calls), ``index_copy`` / ``index_fill`` /
``index_add`` / ``index_reduce``, ``scatter`` / ``scatter_add`` / ``scatter_reduce``,
``masked_scatter`` and ``put``, and the functional forms of a write through a view
(``slice_scatter``, ``select_scatter``, ``diagonal_scatter``, ``as_strided_scatter``: what
``torch.export`` and functionalization write ``x[:, :, :4] = v`` as); their in-place forms
write into the tensor (and, through a view, into the tensor it views:
:mod:`~stridescope.frontends.pytorch.views`).

Each is one node of the written tensor's shape, made of the tensor and of every traced
operand (the values, a traced index or mask): which position a value lands on is data, so
coverage reads each operand whole. ``copy_`` overwrites every position: its node is made of
the source alone. Writes that add (``index_add``, ``scatter_add``, ``scatter_reduce``,
``index_reduce``, ``index_put`` / ``put`` with ``accumulate=True``) count one MAC per source
element, as an element-wise add counts one per element it adds; the others move data.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Scatter(nn.Module):
...     def forward(self, x):
...         index = torch.zeros(1, 2, 4, dtype=torch.long)
...         return x.new_zeros(1, 2, 4).scatter_add(2, index, x)
>>> g = trace_torch(Scatter(), (1, 2, 4))
>>> [(n.op, n.output_shape, n.macs, n.parents) for n in g.nodes[1:]]
[('new_zeros', (1, 2, 4), 0, ()), ('scatter_add', (1, 2, 4), 8, (1, 0))]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.placements import placed
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["ROWS", "copy", "setitem", "write"]


def copy(t: Tracer, name: str, op: str, input: Any, src: Any, non_blocking: bool = False) -> Any:
    """``x.copy_(src)``: every position of ``x`` now holds ``src``'s value (broadcast; of
    the same shape, each where it was: a reshape that keeps every position)."""
    if type(input) is not ShapeProxy:
        raise NotHandled  # (a real tensor written into is a proxy by now: ``views.promote``)
    if type(src) is ShapeProxy and src.dims == input.dims:  # each value where it was
        return t.proxy(t.builder.reshape(src.node, name, output_shape=src.dims, op=op), input)
    parents = (src.node,) if type(src) is ShapeProxy else ()
    node = t.builder.other(
        parents,
        name,
        kind=OpKind.MOVE,
        output_shape=input.dims,
        params=t.take_params([src]),
        op=op,
    )
    return t.proxy(node, input)


def write(adds: bool) -> Callable[..., Any]:
    """A handler for the writes into positions an index or mask picks; ``adds``: the
    write adds (or reduces) its values into what is there, one MAC per source element
    (``accumulate=True`` makes ``index_put`` / ``put`` one)."""

    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            raise NotHandled
        operands = list(walk_values((args, kwargs)))
        if type(input) is not ShapeProxy:  # a tensor the forward made: traced values land in it
            if not isinstance(input, torch.Tensor) or ShapeProxy not in set(map(type, operands)):
                raise NotHandled
            input = t.constant(input, f"{name}.into")
        proxies = [input, *(v for v in operands if type(v) is ShapeProxy)]
        source = proxies[-1] if len(proxies) > 1 else None  # the values come last
        accumulate = kwargs.get("accumulate", args[-1] if args and args[-1] is True else False)
        macs = math.prod(source.dims) if source is not None and (adds or accumulate) else 0
        node = t.builder.other(
            list(dict.fromkeys(p.node for p in proxies)),
            name,
            kind=OpKind.MOVE,
            output_shape=input.dims,
            params=t.take_params(operands),
            op=op,
            macs=macs,
        )
        return t.proxy(node, input)

    return handler


ROWS = [
    (copy, "Tensor.copy_"),
    (
        write(adds=False),
        "torch.index_put Tensor.index_put Tensor.index_put_ torch.index_copy Tensor.index_copy "
        "torch.index_fill Tensor.index_fill torch.scatter Tensor.scatter torch.masked_scatter "
        "Tensor.masked_scatter torch.put Tensor.put Tensor.put_ torch.slice_scatter "
        "Tensor.slice_scatter torch.select_scatter Tensor.select_scatter torch.diagonal_scatter "
        "Tensor.diagonal_scatter torch.as_strided_scatter Tensor.as_strided_scatter",
    ),
    (
        write(adds=True),
        "torch.index_add Tensor.index_add torch.index_reduce Tensor.index_reduce "
        "torch.scatter_add Tensor.scatter_add torch.scatter_reduce Tensor.scatter_reduce",
    ),
]


def setitem(t: Tracer, name: str, op: str, input: Any, index: Any, value: Any) -> Any:
    """``x[index] = value``: ``x`` keeps its shape, now also made of ``value`` (and of a
    traced index or mask); no MACs; into a canvas the forward made, a pad of ``value``
    (:mod:`~stridescope.frontends.pytorch.placements`). The tracer makes the written proxy
    this node."""
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    if (pad := placed(t, name, op, input, index, value)) is not None:
        return t.proxy(pad, input)
    proxies = [v for v in (input, *_flat(index), value) if isinstance(v, ShapeProxy)]
    parents = list(dict.fromkeys(p.node for p in proxies))
    params = t.take_params([*_flat(index), value])
    node = t.builder.other(
        parents, name, kind=OpKind.MOVE, output_shape=input.dims, params=params, op=op
    )
    return t.proxy(node, input)


def _flat(index: Any) -> tuple[Any, ...]:
    return tuple(index) if isinstance(index, tuple | list) else (index,)
