"""Indexing with index tensors on axes that are not spatial.

``x[:, idx]`` (channels reordered or pruned by a constant index), ``x.index_select(1, idx)``,
and adaptive polyphase sampling written by hand, the phase of largest norm picked by
``stacked[torch.arange(n), best]``, ``torch.gather(stacked, 1, best.expand(...))`` or
``torch.take_along_dim(stacked, best, 1)``: every position of the output is the same
position of the input, wherever the indexing puts the spatial axes.
Each is a data-movement node that records where those axes are
(:meth:`~stridescope.ir.GraphBuilder.other` with ``keeps``), so the receptive field and the
coverage go on through it. A traced index (the argmax of the phases' norms) is a parent: it
chooses, as a max pool's argmax does, so coverage counts what it read and the field is the
data's (autograd reaches the chosen values only). Indexing a spatial axis, a boolean mask,
or a map whose positions are not known (tokens) stays data movement, as before.

``F.embedding(ids, weight)`` (``nn.Embedding``) is such a pick too: a row of the table per
id, at the id's position, the table's axis last; the field of a token is its id's, so the
receptive field and coverage follow the tokens into a text model (a 1-D convolution over
them after a transpose, attention, a causal mask).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers import position_picks
from stridescope.frontends.pytorch.handlers.products import broadcast_shapes
from stridescope.frontends.pytorch.index_bounds import check_indices
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.value_sizes import sized
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import OpKind
from stridescope.ir.axes import expanded_key, known_axes
from stridescope.ir.resample import index_row

__all__ = [
    "SELECTION",
    "advanced",
    "as_slice",
    "check_key",
    "embedding",
    "gather",
    "index_select",
    "sliced_key",
    "take_along_dim",
]


def _positions(t: Tracer, x: ShapeProxy) -> tuple[int, ...]:
    """``x``'s spatial axes where its positions are known (a signal's, or followed from the
    input); else :class:`NotHandled`."""
    nodes = t.builder._nodes
    axes = known_axes(nodes[x.node], t.builder.layout, nodes)
    if axes is None:
        raise NotHandled
    return axes


def _index_shape(index: Any) -> tuple[int, ...]:
    """The shape of an integer index: a traced or real tensor, or a list of ints; else (a
    boolean mask, a float tensor, anything else) :class:`NotHandled`."""
    if isinstance(index, ShapeProxy | torch.Tensor):
        dtype = index.dtype  # (uint8 indexes as a mask, as bool does)
        if dtype.is_floating_point or dtype.is_complex or dtype in (torch.bool, torch.uint8):
            raise NotHandled
        return tuple(index.shape)
    if isinstance(index, list) and index and all(is_int(i) for i in index):
        return (len(index),)
    raise NotHandled


def _select(
    t: Tracer,
    name: str,
    op: str,
    x: ShapeProxy,
    index: Sequence[Any],
    out: Sequence[int],
    at: Sequence[int],
) -> Any:
    parents = [x.node, *[i.node for i in index if type(i) is ShapeProxy]]
    node = t.builder.other(
        parents, name, kind=OpKind.MOVE, output_shape=tuple(out), op=op, keeps=tuple(at)
    )
    return t.proxy(node, x)


def _along(
    t: Tracer, input: Any, dim: Any, index: Any, spread: bool
) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The axis, ``input``'s spatial axes and the index's shape of a pick along ``dim`` that
    keeps positions: ``dim`` is not spatial, and (``spread``: ``gather`` and
    ``take_along_dim``) the index has ``input``'s rank and its spatial sizes, or 1 where
    broadcasting allows; else :class:`NotHandled`."""
    if not isinstance(input, ShapeProxy) or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        raise NotHandled
    axis, axes = dim % input.ndim, _positions(t, input)
    shape = _index_shape(index)
    if axis in axes or (len(shape) != input.ndim if spread else len(shape) > 1):
        raise NotHandled
    return axis, axes, shape


def index_select(t: Tracer, name: str, op: str, input: Any, dim: Any, index: Any) -> Any:
    """``x.index_select(dim, idx)`` along an axis that is not spatial; along a spatial one,
    a constant index's picks (:mod:`.position_picks`)."""
    try:
        axis, axes, shape = _along(t, input, dim, index, spread=False)
    except NotHandled:
        return position_picks.index_along(t, name, op, input, dim, index)
    check_indices(torch.index_select, (input, dim, index), {})
    out = list(input.dims)
    out[axis] = shape[0] if shape else 1
    return _select(t, name, op, input, [index], out, axes)


def gather(
    t: Tracer, name: str, op: str, input: Any, dim: Any, index: Any, *, sparse_grad: Any = False
) -> Any:
    """``torch.gather(x, dim, idx)`` along an axis that is not spatial, the index as large
    as ``x`` on every spatial axis (one pick per position); along a spatial axis, a constant
    index the same at every position of the other axes (:func:`_spatial_picks`)."""
    if (picked := _spatial_picks(t, name, op, input, dim, index, torch.gather)) is not None:
        return picked
    _, axes, shape = _along(t, input, dim, index, spread=True)
    if any(shape[a] != input.dims[a] for a in axes):
        raise NotHandled
    check_indices(torch.gather, (input, dim, index), {})
    return _select(t, name, op, input, [index], shape, axes)


def take_along_dim(t: Tracer, name: str, op: str, input: Any, indices: Any, dim: Any = None) -> Any:
    """``torch.take_along_dim(x, idx, dim)`` along an axis that is not spatial, the index of
    ``x``'s rank, as large as ``x`` on every spatial axis or of size 1 there (broadcast);
    along a spatial axis as :func:`gather`."""
    found = _spatial_picks(t, name, op, input, dim, indices, torch.take_along_dim, spread=True)
    if found is not None:
        return found
    axis, axes, shape = _along(t, input, dim, indices, spread=True)
    if any(shape[a] not in (1, input.dims[a]) for a in axes):
        raise NotHandled
    check_indices(torch.take_along_dim, (input, indices, dim), {})
    sizes = zip(shape, input.dims, strict=True)
    out = [k if a == axis else max(k, n) for a, (k, n) in enumerate(sizes)]
    return _select(t, name, op, input, [indices], out, axes)


def _spatial_picks(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    dim: Any,
    index: Any,
    func: Any,
    spread: bool = False,
) -> Any:
    """A gather along a spatial axis by a constant index of ``input``'s rank that is the same
    at every position of the other axes, which it spans as ``input`` does (``spread``: or is
    of size 1 there, broadcast): the picks of that one row of values
    (:func:`~.position_picks.along`: coverage reads which positions it takes). ``None`` for
    anything else: a pick that differs along another axis stays data movement."""
    if type(input) is not ShapeProxy or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        return None
    if type(index) is not torch.Tensor or index.dim() != input.ndim or index.is_meta:
        return None
    axis = dim % input.ndim
    if axis not in _positions(t, input) or index.dtype is not torch.int64:
        return None
    with torch._C.DisableTorchFunction():
        values = index_row(index.detach().cpu().numpy(), axis, input.dims, broadcast=spread)
    if values is None:
        return None
    args = (input, dim, index) if func is torch.gather else (input, index, dim)
    return position_picks.along(
        t, name, op, input, axis, values, lambda: check_indices(func, args, {})
    )


def embedding(t: Tracer, name: str, op: str, input: Any, weight: Any, *args: Any, **kw: Any) -> Any:
    """``F.embedding(ids, weight)`` on traced ids whose positions are known: a row per id at
    the id's position (the table's parameters counted here, as a meta run counts them)."""
    if type(input) is not ShapeProxy or not isinstance(weight, ShapeProxy | torch.Tensor):
        raise NotHandled
    if input.dtype not in (torch.int32, torch.int64) or weight.ndim != 2:
        raise NotHandled  # (torch's own error for float ids comes from the meta run)
    if not (axes := _positions(t, input)):
        raise NotHandled
    params = t.take_params(walk_values((weight, args, kw)))
    parents = [input.node] + ([weight.node] if type(weight) is ShapeProxy else [])
    out = (*input.dims, int(weight.shape[1]))
    node = t.builder.other(
        parents, name, kind=OpKind.MOVE, output_shape=out, params=params, op=op, keeps=axes
    )
    made = ShapeProxy(node, out, weight.dtype)
    sized(t, made, node)
    return made


def advanced(t: Tracer, name: str, op: str, x: ShapeProxy, item: Any) -> Any:
    """``x[key]`` where ``key`` holds full slices, at most one ``...`` and integer index
    tensors (or lists) on axes that are not spatial: torch's advanced indexing, the broadcast
    index shape in place of adjacent indexed axes, else in front."""
    items = expanded_key(item, x.ndim)
    if items is None:
        raise NotHandled
    rank = x.ndim
    picked = [a for a, v in enumerate(items) if not _full(v)]
    try:
        axes = _positions(t, x)
    except NotHandled:  # (positions not followed: the layout's, for a pick along them)
        axes = ()
    if not axes or not picked or not set(picked).isdisjoint(axes):
        return position_picks.key_picks(t, name, op, x, items)  # (a spatial axis: picks)
    try:
        shape = tuple(broadcast_shapes(*[_index_shape(items[a]) for a in picked]))
    except RuntimeError:
        raise NotHandled from None
    check_key(x, items)
    rest = [a for a in range(rank) if a not in picked]
    if picked == list(range(picked[0], picked[-1] + 1)):  # adjacent: in their place
        first = picked[0]
        order: list[int | None] = [*range(first), *[None] * len(shape), *rest[first:]]
    else:
        order = [*[None] * len(shape), *rest]
    out, indexed = [], iter(shape)
    for a in order:
        out.append(next(indexed) if a is None else x.dims[a])
    return _select(t, name, op, x, [items[a] for a in picked], out, [order.index(a) for a in axes])


def check_key(x: ShapeProxy, items: Sequence[Any]) -> None:
    """Torch's ``IndexError`` where an index tensor (or list) of ``x[items]`` points outside
    its axis (:func:`~stridescope.frontends.pytorch.index_bounds.check_indices`)."""
    tensors = [torch.tensor(v) if isinstance(v, list) else v for v in items]
    check_indices(torch.Tensor.__getitem__, (x, tuple(tensors)), {})


def as_slice(index: Any) -> slice | None:
    """A constant index that is an arithmetic progression with a positive step, as the slice
    it equals (``torch.arange(0, n, 2)`` is ``0:n:2``, ``[1]`` is ``1:2``): a real 1-D integer
    tensor or a list of ints, from 0 up; ``None`` for anything else (a traced index, a
    reversal, a permutation, negative values)."""
    values = position_picks.constants(index)
    if values is None:
        return None
    step = values[1] - values[0] if len(values) > 1 else 1
    if len(values) > 2 and values[2] - values[1] != step:  # (most are not: no range built)
        return None
    if values[0] < 0 or step < 1 or values != list(range(values[0], values[-1] + 1, step)):
        return None
    return slice(values[0], values[-1] + 1, step)


def sliced_key(item: Any) -> tuple[Any, ...] | None:
    """``item`` with its one index tensor (or list) made the slice it equals
    (:func:`as_slice`), the rest slices and at most one ``...``; else ``None`` (with ints or
    a second index, torch's advanced indexing places the axes otherwise)."""
    items = item if isinstance(item, tuple) else (item,)
    plain = [v is Ellipsis or isinstance(v, slice) for v in items]
    if plain.count(False) != 1:
        return None
    at = plain.index(False)
    found = as_slice(items[at])
    return None if found is None else (*items[:at], found, *items[at + 1 :])


def _full(item: Any) -> bool:
    """Whether an index item is a plain ``:`` (a slice with no bounds and no step)."""
    return isinstance(item, slice) and item == slice(None)


# the handlers of this module, as the function table registers them (data movement where
# they decline)
SELECTION: list[tuple[Callable[..., Any], str]] = [
    (gather, "torch.gather Tensor.gather"),
    (take_along_dim, "torch.take_along_dim Tensor.take_along_dim"),
    (embedding, "F.embedding"),
    *position_picks.ROWS,
]
