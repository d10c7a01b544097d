"""Indexing that keeps every axis, and axis reordering.

``x[:, :, ::2, ::2]``, ``x[..., 1:-1]``, ``narrow``, ``chunk`` and ``split`` become
:meth:`GraphBuilder.slice` nodes, kernel-1 windows, so coverage and the receptive field stay
exact (the CIFAR ResNet "option A" shortcut reads 25 % of its input, like a 1x1 stride-2
conv). ``permute``, ``transpose`` and ``movedim`` become :meth:`GraphBuilder.permute` nodes
that remember where the spatial axes went (ConvNeXt's channels-last LayerNorm and MLP);
``F.glu`` is two slices, a sigmoid and a multiply; a channel shuffle keeps positions.
Integers (``y[:, :, -1]``, ``select``, ``unbind`` along a spatial axis) on a map whose
positions are known are a slice of one position and a reshape that drops the axis. Index
tensors on axes that are not spatial keep positions (:mod:`~stridescope.frontends.pytorch.
handlers.selection`). Indexing with ``None``, other tensors, negative steps, and integers on
tokens stay data movement (:mod:`~stridescope.frontends.pytorch.handlers.movement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers import selection
from stridescope.frontends.pytorch.index_bounds import check_indices
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import OpKind, spatial_axes
from stridescope.ir.axes import Range, index_ranges, picks_positions, slice_axes

__all__ = [
    "channel_shuffle",
    "chunk",
    "getitem",
    "glu",
    "index_select",
    "is_int",
    "movedim",
    "narrow",
    "permute",
    "select",
    "split",
    "transpose",
    "unbind",
]


def _slice_node(t: Tracer, name: str, op: str, x: ShapeProxy, ranges: Sequence[Range]) -> Any:
    axes = slice_axes(t.builder._nodes[x.node], t.builder.layout, t.builder._nodes)
    if not axes:
        raise NotHandled  # no spatial axis: nothing for a window to say
    out = tuple([len(range(*r)) for r in ranges])
    node = t.builder.slice(x.node, name, spatial=[ranges[a] for a in axes], output_shape=out, op=op)
    return t.proxy(node, x)


def getitem(t: Tracer, name: str, op: str, input: Any, item: Any) -> Any:
    """``x[...]`` with slices, ints and one ``...`` (:func:`~stridescope.ir.axes.index_ranges`):
    a slice, or with ints :func:`_picked`; anything else is data movement."""
    if not isinstance(input, ShapeProxy):
        if not _unread_iteration(t, name, item):
            raise NotHandled
        name = t.scoped("getitem")  # (data movement, as the meta run makes it)
        return t.fallback(
            torch.Tensor.__getitem__, (input, item), {}, name=name, kind=OpKind.MOVE, counted=True
        )
    found = index_ranges(item, input.dims, is_int)
    if found is None and (key := selection.sliced_key(item)) is not None:
        selection.check_key(input, item if isinstance(item, tuple) else (item,))
        found = index_ranges(key, input.dims, is_int)  # x[:, :, torch.arange(0, h, 2)]
    if found is None:  # index tensors on other axes, else (an index out of range: torch's
        return selection.advanced(t, name, op, input, item)  # IndexError) the meta run
    ranges, picked = found
    if picked:
        return _picked(t, name, op, input, ranges, picked)
    return _slice_node(t, name, op, input, ranges)


def _unread_iteration(t: Tracer, name: str, item: Any) -> bool:
    """A real tensor indexed by a traced one (``table[ids]``: a buffer looked up at computed
    positions, the lengths ``pad_packed_sequence`` puts back in order): torch's indexing first
    read the index as a sequence (numpy's rule for fewer than 32 items: its first item, then
    all of them, with a warning the trace silences), which traced a pick and an ``unbind`` of
    the index that nothing uses. Those nodes, the last ones made, are dropped, and their
    names (and ``name``, given after them) given again; ``False`` where there are none."""
    if type(item) is not ShapeProxy or not item.dims or not 0 < item.dims[0] < 32:
        return False
    nodes, pieces = t.builder._nodes, item.dims[0]
    first = last = len(nodes) - pieces - 1  # (the pick: one node, or a slice and a reshape)
    if last > item.node and nodes[last].parents not in ((item.node,), (last - 1,)):
        return False
    if nodes[last].parents != (item.node,):
        first = last - 1
    if (
        first <= item.node
        or any(n.op.strip("_") != "getitem" for n in nodes[first : last + 1])
        or nodes[first].parents != (item.node,)
    ):
        return False
    if any(n.op != "unbind" or n.parents != (item.node,) for n in nodes[last + 1 :]):
        return False
    t.forget(name)
    for node in reversed(nodes[first:]):
        t.forget(node.name)
        t.known.pop(node.id, None)
    t.builder.drop_from(first)
    return True


def _picked(
    t: Tracer, name: str, op: str, x: ShapeProxy, ranges: Sequence[Range], picked: Sequence[int]
) -> Any:
    """Indexing with integers (``y[:, :, -1]``, ``x.select(2, t)``) on a map whose positions
    are known (:func:`~stridescope.ir.axes.picks_positions`): a slice of one position on each
    ``picked`` axis, then a reshape that drops those axes, so coverage and the receptive field
    see which positions are read (a causal TCN's last step reads its receptive field, not the
    whole signal). Elsewhere (tokens, a grid rebuilt from them) the axes are a guess: data
    movement, as before; so is dropping only axes of one position (``movement.index``'s
    reshape)."""
    nodes = t.builder._nodes
    if not picks_positions(nodes[x.node], nodes, ranges, x.dims, t.builder.layout):
        raise NotHandled
    return _pick(t, name, op, x, ranges, picked)


def _pick(
    t: Tracer, name: str, op: str, x: ShapeProxy, ranges: Sequence[Range], picked: Sequence[int]
) -> Any:
    """:func:`_picked`'s nodes, once it is decided: the slice and the reshape after it."""
    sliced = _slice_node(t, name, op, x, ranges)
    squeezed = t.builder.squeeze(sliced.node, t.unique(f"{name}.squeeze"), axes=picked, op=op)
    return t.proxy(squeezed, x)


def index_select(t: Tracer, name: str, op: str, input: Any, dim: Any, index: Any) -> Any:
    """``x.index_select(dim, idx)``: an index that is an arithmetic progression is the slice
    it equals (:func:`~stridescope.frontends.pytorch.handlers.selection.as_slice`), on any
    axis; else :func:`~stridescope.frontends.pytorch.handlers.selection.index_select`."""
    known = isinstance(input, ShapeProxy) and is_int(dim) and -input.ndim <= dim < input.ndim
    if known and (found := selection.as_slice(index)) is not None:
        check_indices(torch.index_select, (input, dim, index), {})  # (torch's IndexError)
        return getitem(t, name, op, input, (slice(None),) * (dim % input.ndim) + (found,))
    return selection.index_select(t, name, op, input, dim, index)


def select(t: Tracer, name: str, op: str, input: Any, dim: Any, index: Any) -> Any:
    """``torch.select(x, dim, index)``: ``x[..., index, ...]`` on axis ``dim``."""
    if not isinstance(input, ShapeProxy) or not is_int(dim) or not is_int(index):
        raise NotHandled
    if not -input.ndim <= dim < input.ndim:
        raise NotHandled  # torch's own error comes from the meta run
    return getitem(t, name, op, input, (slice(None),) * (dim % input.ndim) + (index,))


def unbind(t: Tracer, name: str, op: str, input: Any, dim: Any = 0) -> Any:
    """``x.unbind(dim)`` along a spatial axis whose positions are known (a clip's frames):
    one :func:`select` per position. Along any other axis (``qkv.unbind(0)``): data
    movement, one node per piece."""
    if not isinstance(input, ShapeProxy) or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        raise NotHandled
    at = dim % input.ndim
    nodes, node = t.builder._nodes, t.builder._nodes[input.node]
    if not input.dims[at] or at not in slice_axes(node, t.builder.layout, nodes):
        raise NotHandled
    pieces = [_along(input, at, k, k + 1) for k in range(input.dims[at])]
    if not picks_positions(node, nodes, pieces[0], input.dims, t.builder.layout):  # (each piece)
        raise NotHandled
    return tuple(
        _pick(t, t.unique(f"{name}[{k}]") if k else name, op, input, r, (at,))
        for k, r in enumerate(pieces)
    )


def _along(x: ShapeProxy, dim: Any, start: int, stop: int) -> list[Range]:
    ranges = [(0, n, 1) for n in x.dims]
    ranges[dim % len(x.dims)] = (start, stop, 1)
    return ranges


def narrow(t: Tracer, name: str, op: str, input: Any, dim: Any, start: Any, length: Any) -> Any:
    if not (isinstance(input, ShapeProxy) and is_int(dim) and is_int(start) and is_int(length)):
        raise NotHandled
    if not -input.ndim <= dim < input.ndim or length < 1:
        raise NotHandled
    n = input.dims[dim]
    first = start + n if start < 0 else start
    if not 0 <= first <= n - length:
        raise NotHandled  # torch raises its own error from the meta run
    return _slice_node(t, name, op, input, _along(input, dim, first, first + length))


def _piece_sizes(func: Any, n: int, how: Any) -> list[int] | None:
    """Torch's sizes of the pieces of an axis of ``n``: ``chunk(how)`` makes pieces of
    ``ceil(n / how)`` and ``split(how)`` of ``how``, the last one shorter; ``split`` with a
    list takes the sizes it names. ``None`` where torch would refuse or return empty
    pieces, and for ``tensor_split`` (sections of ``ceil`` and ``floor`` sizes, or split
    points): then torch itself is asked.

    >>> _piece_sizes(torch.chunk, 7, 3), _piece_sizes(torch.split, 7, 3)
    ([3, 3, 1], [3, 3, 1])
    >>> _piece_sizes(torch.chunk, 5, 4), _piece_sizes(torch.split, 7, [2, 5])
    ([2, 2, 1], [2, 5])
    """
    if n < 1 or func is torch.tensor_split:  # (its own rule: asked of torch)
        return None
    if not is_int(how):
        sizes = [int(v) for v in how]
        return sizes if sum(sizes) == n and min(sizes, default=0) > 0 else None
    if how < 1:
        return None
    size = -(-n // how) if func is torch.chunk else how
    count = -(-n // size)
    return [size] * (count - 1) + [n - size * (count - 1)]


def _pieces(
    t: Tracer, name: str, op: str, func: Any, input: Any, args: tuple[Any, ...], dim: Any
) -> Any:
    """``chunk`` / ``split`` / ``tensor_split``: torch (on meta) says the sizes, each piece
    is a slice."""
    if not isinstance(input, ShapeProxy) or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        raise NotHandled
    if any(isinstance(a, ShapeProxy) for a in args):
        raise NotHandled
    sizes = _piece_sizes(func, input.dims[dim], args[0])
    if sizes is None:  # what torch says, errors included, from a run on meta
        pieces_on_meta = func(torch.empty(input.dims, device="meta"), *args, dim=dim)
        sizes = [p.shape[dim] for p in pieces_on_meta]
    if not all(sizes):
        raise NotHandled  # an empty piece: no window to draw
    pieces = []
    offset = 0
    for i, size in enumerate(sizes):
        label = name if i == 0 else t.unique(f"{name}[{i}]")
        pieces.append(_slice_node(t, label, op, input, _along(input, dim, offset, offset + size)))
        offset += size
    return tuple(pieces)


def chunk(t: Tracer, name: str, op: str, input: Any, chunks: Any, dim: Any = 0) -> Any:
    if not is_int(chunks):
        raise NotHandled
    return _pieces(t, name, op, torch.chunk, input, (chunks,), dim)


def split(
    t: Tracer,
    name: str,
    op: str,
    tensor: Any,
    split_size_or_sections: Any = None,
    dim: Any = 0,
    *,
    split_size: Any = None,
) -> Any:
    sizes = split_size if split_size_or_sections is None else split_size_or_sections
    if not (is_int(sizes) or (isinstance(sizes, Sequence) and all(map(is_int, sizes)))):
        raise NotHandled
    return _pieces(t, name, op, torch.split, tensor, (sizes,), dim)


def tensor_split(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    indices_or_sections: Any = None,
    dim: Any = 0,
    *,
    indices: Any = None,
    sections: Any = None,
) -> Any:
    """``torch.tensor_split(x, 3, dim)`` (sections) or ``(x, (1, 5), dim)`` (split points):
    each piece a slice, with the sizes torch gives on meta."""
    how = next((h for h in (indices_or_sections, indices, sections) if h is not None), None)
    if not (is_int(how) or (isinstance(how, Sequence) and all(map(is_int, how)))):
        raise NotHandled  # a tensor of indices: data movement, by the meta run
    return _pieces(t, name, op, torch.tensor_split, input, (how,), dim)


def _permuted(t: Tracer, name: str, op: str, x: Any, order: Sequence[int]) -> Any:
    node = t.builder.permute(x.node, name, dims=order, op=op)
    return t.proxy(node, x)


def permute(t: Tracer, name: str, op: str, input: Any, *dims: Any) -> Any:
    """``x.permute(0, 2, 3, 1)``, ``x.permute((0, 2, 3, 1))``, ``torch.permute(x, dims)``:
    a :meth:`GraphBuilder.permute` node that remembers where the spatial axes went."""
    one = len(dims) == 1 and type(dims[0]) is not int  # (ints skip the ABC's check)
    order = dims[0] if one and isinstance(dims[0], Sequence) else dims
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    rank = len(input.dims)
    axes = []
    for d in order:  # (a loop: no frame per list, a permute per channels-last detour)
        if type(d) is not int and not is_int(d):
            raise NotHandled
        axes.append(d % rank)
    if sorted(axes) != list(range(rank)):
        raise NotHandled  # torch's own error comes from the meta run
    return _permuted(t, name, op, input, axes)


def transpose(t: Tracer, name: str, op: str, input: Any, dim0: Any, dim1: Any) -> Any:
    """``x.transpose(1, 3)`` / ``torch.swapaxes``: a permute of two axes."""
    if not (isinstance(input, ShapeProxy) and is_int(dim0) and is_int(dim1)):
        raise NotHandled
    rank = len(input.dims)
    if not (-rank <= dim0 < rank and -rank <= dim1 < rank):
        raise NotHandled
    order = list(range(rank))
    order[dim0 % rank], order[dim1 % rank] = order[dim1 % rank], order[dim0 % rank]
    return _permuted(t, name, op, input, order)


def movedim(t: Tracer, name: str, op: str, input: Any, source: Any, destination: Any) -> Any:
    """``x.movedim(1, -1)``: torch (on meta) says the order of the axes."""
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    values = [source, destination]
    if not all(is_int(v) or (isinstance(v, Sequence) and all(map(is_int, v))) for v in values):
        raise NotHandled
    probe = torch.empty([2 + i for i in range(input.ndim)], device="meta")  # distinct sizes
    moved = torch.movedim(probe, source, destination)
    return _permuted(t, name, op, input, [d - 2 for d in moved.shape])


def glu(t: Tracer, name: str, op: str, input: Any, dim: Any = -1) -> Any:
    """``F.glu``: the first half of ``dim`` times the sigmoid of the second: two slices, a
    sigmoid and a multiply (one MAC per output element), so the output shape is halved."""
    if not isinstance(input, ShapeProxy) or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        raise NotHandled
    n = input.dims[dim]
    if n % 2:
        raise NotHandled  # torch's own error comes from the meta run
    halves = []
    for part, (start, stop) in (("a", (0, n // 2)), ("b", (n // 2, n))):
        if spatial_axes(input.ndim, t.builder.layout):
            halves.append(
                _slice_node(t, f"{name}.{part}", op, input, _along(input, dim, start, stop)).node
            )
        else:  # features only: no window to draw
            shape = tuple(n // 2 if a == dim % input.ndim else d for a, d in enumerate(input.dims))
            halves.append(
                t.builder.other(
                    input.node, f"{name}.{part}", kind=OpKind.SLICE, output_shape=shape, op=op
                )
            )
    gate = t.builder.pointwise(halves[1], f"{name}.sigmoid", kind=OpKind.ACTIVATION, op=op)
    node = t.builder.merge([halves[0], gate], name, kind=OpKind.MUL, op=op)
    return t.proxy(node, input)


def channel_shuffle(t: Tracer, name: str, op: str, input: Any, groups: Any) -> Any:
    """``nn.ChannelShuffle`` (ShuffleNet): reorders channels, keeps every position."""
    if not isinstance(input, ShapeProxy) or not is_int(groups) or input.ndim < 3:
        raise NotHandled
    if groups < 1 or input.dims[1] % groups:
        raise NotHandled  # torch's own error comes from the meta run
    node = t.builder.other(input.node, name, kind=OpKind.PERMUTE, output_shape=input.dims, op=op)
    return t.proxy(node, input)
