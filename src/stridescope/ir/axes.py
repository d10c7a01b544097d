"""Where a node's spatial axes are when they are not where the layout puts them
(:attr:`~stridescope.ir.graph.Node.spatial_at`): a rank-2 input's, axes a permute moved and
the ops that keep them moved, and a window over more axes than its input keeps (the extra
ones of size 1) or over swapped ones, read on those.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 1, 64), "nchw")
>>> row = b.reshape(b.input, "row", output_shape=(1, 1, 1, 64))  # x.unsqueeze(2)
>>> conv = b.conv(row, "conv", out_channels=4, kernel=(1, 3), stride=(1, 2))
>>> node = b.build().nodes[conv]
>>> node.output_shape, node.spatial_at, axes_window(node, "nchw")[0].stride
((1, 4, 1, 31), (3,), (2,))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from stridescope.ir.graph import Layout, Node, OpKind, Shape, Window, spatial_axes
from stridescope.ir.reshaped_axes import frame_source

__all__ = [
    "axes_window",
    "expanded_key",
    "followed",
    "followed_axes",
    "index_ranges",
    "inherited",
    "known_axes",
    "known_positions",
    "narrowed",
    "on_axes",
    "picks_positions",
    "placed",
    "reduced_axes",
    "signal_axes",
    "signal_of",
    "slice_axes",
    "stackable",
]

_KEEP_MOVED = frozenset(
    {OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.ADD, OpKind.MUL, OpKind.PERMUTE}
)
_CONCAT, _LINEAR, _MATMUL, _PAD = OpKind.CONCAT, OpKind.LINEAR, OpKind.MATMUL, OpKind.PAD
_SLICE = OpKind.SLICE
_CUTS = frozenset({OpKind.SLICE, OpKind.PAD})  # (see narrowed)


def signal_axes(shape: Shape) -> tuple[int, ...] | None:
    """Where an input's spatial axes are when the layout has none: a rank-2 input
    ``(batch, samples)`` (a waveform, token ids, features) is a signal along its last axis,
    which a model reads as it likes (``x[:, None]`` into a ``Conv1d``, a dense layer over
    all of it); the layout places every other rank's (``None``).

    >>> signal_axes((1, 16000)), signal_axes((1, 3, 8, 8))
    ((1,), None)
    """
    return (1,) if len(shape) == 2 else None


def signal_of(node: Node) -> tuple[int, ...] | None:
    """``node``'s spatial axes if it is a ``(batch, samples)`` signal (:func:`signal_axes`),
    which the builder's windows read where they are; else ``None``."""
    at = node.spatial_at
    return at if at is not None and at == signal_axes(node.output_shape) else None


def slice_axes(node: Node, layout: Layout, nodes: Sequence[Node] = ()) -> tuple[int, ...]:
    """The axes a slice of ``node`` is a window on: a ``(batch, samples)`` signal's
    (:func:`signal_of`), axes a permute or stack of feature maps moved (:func:`followed`
    on ``nodes``, the graph's so far: ``x.permute(0, 2, 3, 1)[:, ::2, ::2]`` strides the
    rows and columns), else the layout's for its rank (none for a rank-2 tensor that is not
    a signal: token ids made by a layer, ``ids[:, 1:]``).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
    >>> p = b.permute(b.input, "nhwc", dims=(0, 2, 3, 1))
    >>> nodes = b.build().nodes
    >>> slice_axes(nodes[p], "nchw", nodes), slice_axes(nodes[p], "nchw")
    ((1, 2), (2, 3))
    """
    return (
        signal_of(node)
        or followed_axes(node, layout, nodes)
        or spatial_axes(len(node.output_shape), layout)
    )


def followed_axes(node: Node, layout: Layout, nodes: Sequence[Node]) -> tuple[int, ...] | None:
    """``node``'s recorded spatial axes where they are not the layout's for its rank and
    :func:`followed` traces them on ``nodes``; else ``None`` (axes recorded where the layout
    puts them need no walk: followed or not, they are the same axes)."""
    at = node.spatial_at
    if at is None or at == spatial_axes(len(node.output_shape), layout) or not nodes:
        return None
    return at if followed(node, nodes, layout) else None


def followed(node: Node, nodes: Sequence[Node], layout: Layout | None = None) -> bool:
    """Whether ``node``'s spatial axes were followed from where they are known: up its first
    parents, through the ops that record where the axes went (a permute or stack of feature
    maps) and the ops that keep them where they are, to the input or to a layer that works on
    the layout's axes of a tensor of the input's rank (a convolution, a pool, a resize). Axes
    that start from a reshape that regrouped positions (tokens ``(N, T, C)`` made back into a
    grid, heads split off features) or from a tensor of another rank are the layout's
    default for that rank, a guess. With the ``layout``, a frame picked from the input (a
    map of one spatial axis fewer, :func:`~stridescope.ir.reshaped_axes.frame_source`) is
    followed on from the map it was picked from."""
    rank = len(nodes[0].output_shape)
    while node.kind is not OpKind.INPUT:
        if node.spatial_at is None:
            if len(node.output_shape) != rank:
                found = None if layout is None else frame_source(nodes, node, layout)
                if found is None:
                    return False
                node = found[1]
                continue
            if node.kind in _ON_LAYOUT_AXES:
                return True
            if node.kind not in _KEEP_PLACE and not _picked_in_place(node):
                return False
        if not node.parents:
            return False
        node = nodes[node.parents[0]]
    return True


def _picked_in_place(node: Node) -> bool:
    """Whether ``node`` picks positions along each axis where it is (a flip, a roll, an index
    of constants: ``Resample`` mode ``picks``) and keeps every axis: the axes stay put."""
    sample = node.resample
    return (
        sample is not None
        and sample.mode == "picks"
        and len(node.output_shape) == len(node.input_shape)
    )


Range = tuple[int, int, int]  # start, stop, step, as ``slice.indices`` normalises them


def index_ranges(
    key: Any, shape: Shape, is_int: Callable[[Any], bool]
) -> tuple[list[Range], list[int]] | None:
    """``x[key]`` per axis as ``(start, stop, step)``, as Python slices normalise them, for a
    key of slices with int bounds and positive steps that keep something, ints (one position,
    ``(i, i + 1, 1)``, its axis among those picked: the output drops it) and at most one
    ``...`` (found by identity: ``==`` on a traced index would trace a comparison); ``None``
    for anything else (``None``, a tensor, an index out of range) and for unknown sizes.
    ``is_int``: what the framework takes for an int.

    >>> ints = lambda v: type(v) is int
    >>> index_ranges((slice(None), slice(None, None, 2), Ellipsis), (1, 9, 8, 3), ints)
    ([(0, 1, 1), (0, 9, 2), (0, 8, 1), (0, 3, 1)], [])
    >>> index_ranges((slice(None), -1), (1, 9, 3), ints)
    ([(0, 1, 1), (8, 9, 1), (0, 3, 1)], [1])
    """
    items = expanded_key(key, len(shape))
    if items is None or None in shape:
        return None
    ranges: list[Range] = []
    picked: list[int] = []
    for item, n in zip(items, shape, strict=True):
        size = int(n or 0)
        if is_int(item) and -size <= item < size:
            picked.append(len(ranges))
            ranges.append((item % size, item % size + 1, 1))
            continue
        if not isinstance(item, slice):
            return None
        if not all([v is None or is_int(v) for v in (item.start, item.stop, item.step)]):
            return None
        start, stop, step = item.indices(size)
        if step < 1 or stop <= start:
            return None
        ranges.append((start, stop, step))
    return ranges, picked


def expanded_key(key: Any, rank: int) -> tuple[Any, ...] | None:
    """``key`` as one item per axis of a tensor of ``rank`` axes: its one ``...`` (found by
    identity: ``==`` on a traced index would trace a comparison) made full slices, and full
    slices after the last item; ``None`` for a second ``...`` or more items than axes.

    >>> expanded_key((0, Ellipsis, 1), 4), expanded_key(2, 2), expanded_key((1, 2, 3), 2)
    ((0, slice(None, None, None), slice(None, None, None), 1), (2, slice(None, None, None)), None)
    """
    items = key if isinstance(key, tuple) else (key,)
    dots = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(dots) > 1:
        return None
    if dots:
        at = dots[0]
        items = (*items[:at], *(slice(None),) * (rank - len(items) + 1), *items[at + 1 :])
    if len(items) > rank:
        return None
    return (*items, *(slice(None),) * (rank - len(items)))


def picks_positions(
    node: Node,
    nodes: Sequence[Node],
    ranges: Sequence[Range],
    dims: Shape,
    layout: Layout | None = None,
) -> bool:
    """Whether an integer index of ``node`` (of sizes ``dims``; ``ranges``, per axis, with one
    position where an integer picks) is read as a slice and a reshape that drops the picked
    axes: it leaves something out, and ``node``'s positions are known (a ``(batch,
    samples)`` signal, or axes :func:`followed` from the input). Dropping only axes of one
    position is a plain reshape; on tokens the axes are a guess: data movement."""
    if all([r == (0, n, 1) for r, n in zip(ranges, dims, strict=True)]):
        return False
    return known_positions(node, nodes, layout)


def known_positions(node: Node, nodes: Sequence[Node], layout: Layout | None = None) -> bool:
    """Whether ``node``'s positions are known: a ``(batch, samples)`` signal's, or axes
    :func:`followed` from the input (not a grid rebuilt from tokens, whose axes are a
    guess; with the ``layout``, frames picked from it are followed: see :func:`followed`)."""
    return signal_of(node) is not None or followed(node, nodes, layout)


def known_axes(node: Node, layout: Layout, nodes: Sequence[Node]) -> tuple[int, ...] | None:
    """``node``'s spatial axes (:func:`slice_axes`) where it has some and its positions are
    known (:func:`known_positions`); else ``None`` (picks along other axes keep them only
    then: ``x[:, idx]``, ``keras.ops.take`` of channels)."""
    axes = slice_axes(node, layout, nodes)
    return axes if axes and known_positions(node, nodes, layout) else None


# ops on a tensor of the input's rank that work on the layout's spatial axes, and ops that
# leave them where they are (``followed``)
_ON_LAYOUT_AXES = frozenset(
    {
        OpKind.CONV,
        OpKind.CONV_TRANSPOSE,
        OpKind.MAXPOOL,
        OpKind.AVGPOOL,
        OpKind.ADAPTIVE_MAXPOOL,
        OpKind.ADAPTIVE_AVGPOOL,
        OpKind.POLYPHASE,
        OpKind.PIXEL_SHUFFLE,
        OpKind.PIXEL_UNSHUFFLE,
        OpKind.INTERPOLATE,
    }
)
_KEEP_PLACE = _KEEP_MOVED | {OpKind.CONCAT, OpKind.PAD, OpKind.SLICE}


def _axes_of(node: Node, layout: Layout) -> tuple[int, ...]:
    """``node``'s spatial axes: where they were moved, a signal's, or the layout's."""
    return node.spatial_at or spatial_axes(len(node.output_shape), layout)


def reduced_axes(
    node: Node, layout: Layout, reduced: Sequence[int], keepdim: bool
) -> tuple[int, ...] | None:
    """Where ``node``'s spatial axes are after a reduction over ``reduced`` (its axes, in
    order) that are none of them: the batch, the channels, or an axis a model added (the
    branches SKNet and ResNeSt stack, then sum); ``()`` when it reduces all of them (a
    global pool, wherever a permute put them), ``None`` when it reduces some.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 8, 6, 6), "nchw")
    >>> split = b.reshape(b.input, "split", output_shape=(1, 2, 4, 6, 6))
    >>> node = b.build().nodes[split]
    >>> [reduced_axes(node, "nchw", r, False) for r in ([1], [3], [1, 3, 4])]
    [(2, 3), None, ()]
    """
    at = _axes_of(node, layout)
    if at and set(at) <= set(reduced):
        return ()
    if not at or not set(at).isdisjoint(reduced):
        return None
    return at if keepdim else tuple(a - sum(r < a for r in reduced) for a in at)


def stackable(nodes: Sequence[Node]) -> bool:
    """Whether ``nodes`` can be stacked keeping every position
    (:meth:`GraphBuilder.stack`): one or more, of one shape, their spatial axes in one
    place; else a stack of them is data movement."""
    first = nodes[0] if nodes else None
    return first is not None and all(
        n.output_shape == first.output_shape and n.spatial_at == first.spatial_at for n in nodes
    )


def placed(
    nodes: Sequence[Node],
    kind: OpKind,
    parents: tuple[int, ...],
    out: Shape,
    layout: Layout,
    window: Window | None,
    scatter: Window | None,
) -> tuple[Window | None, Window | None, tuple[int, ...] | None]:
    """A new node's windows and ``spatial_at``, its first parent's axes not the layout's:
    :func:`narrowed` for a node with a window, else :func:`inherited`."""
    if window is not None or scatter is not None:
        return narrowed(nodes[parents[0]], out, layout, window, scatter, kind)
    return window, scatter, inherited(nodes, kind, parents, out)


def inherited(
    nodes: Sequence[Node], kind: OpKind, parents: tuple[int, ...], out: Shape
) -> tuple[int, ...] | None:
    """Spatial axes moved by a permute stay moved through ops that keep every position:
    normalisation, activation, dropout, element-wise merges of equally moved tensors, a
    concatenation of them along another axis, and a dense layer (or a product with a
    weight) on a last axis that is not spatial (ConvNeXt's channels-last MLP)."""
    if not parents:
        return None
    rank = len(out)
    at = nodes[parents[0]].spatial_at
    for p in parents:  # (a loop, not a generator: this runs for every node)
        if at is None or nodes[p].spatial_at != at or len(nodes[p].output_shape) != rank:
            return None
    dense = kind is _LINEAR or (kind is _MATMUL and len(parents) == 1)
    if kind in _KEEP_MOVED or (dense and rank - 1 not in (at or ())):  # (at: not None)
        return at
    if kind is _CONCAT and at is not None:  # along another axis: every position stays
        first = nodes[parents[0]].output_shape  # (Sequencer2D's channels-last features)
        return at if all(out[a] == first[a] for a in at) else None
    return None


def narrowed(
    parent: Node,
    out: Shape,
    layout: Layout,
    window: Window | None,
    scatter: Window | None,
    kind: OpKind,
) -> tuple[Window | None, Window | None, tuple[int, ...] | None]:
    """A window (or a transposed one, ``scatter``) on a ``parent`` whose spatial axes sit
    on the layout's in another order (``transpose(2, 3)``) or are fewer (``(1, k)`` kernels
    on a signal made ``(N, C, 1, L)``), the layout's other axes of size 1, or any size for a
    layer not a slice or pad (``kind``: a ``Conv2d`` on a spectrogram ``(N, T, F)`` made
    ``(N, 1, T, F)``, ``T`` holding no input position; LeViT's tokens viewed as ``(N, H, W,
    C)`` have the channels' axis recorded): the windows as they are (:func:`axes_window`
    reads them per spatial axis) and the parent's spatial axes; else ``None`` for those."""
    at, shape = parent.spatial_at, parent.output_shape
    laid = spatial_axes(len(shape), layout)
    # (no axis recorded, ``()``: a map of one position, where the layout's axes are all of
    # size 1; the window is read on them, as node facts read that map's sizes)
    if not at or at == laid or len(out) != len(shape) or not set(at) <= set(laid):
        return window, scatter, None
    if kind in _CUTS and any(shape[a] != 1 or out[a] != 1 for a in laid if a not in at):
        return window, scatter, None
    return window, scatter, at


def axes_window(node: Node, layout: Layout) -> tuple[Window | None, Window | None]:
    """``node``'s window and scatter per spatial axis it keeps, in their order, as the
    analyses read them: a node :func:`narrowed` placed holds the layer's own windows, on the
    layout's axes (what ``fix`` rebuilds and lint describes), read here on its spatial axes
    (``(1, 3)`` on ``(N, C, 1, L)`` is ``(3,)`` on ``L``; one on H and W swapped, reordered).
    A pad or a slice on axes a permute moved holds its window where they are already (until
    2026-12-06 a slice's was reordered too: ``x.transpose(2, 3)[:, :, :, 5:6]`` read 11 of
    the 16 positions of the row it picks), unless :func:`narrowed` placed it (a pad of a
    signal unsqueezed to ``(N, C, 1, L)``, which failed until then).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 1, 64), "nchw")
    >>> row = b.reshape(b.input, "row", output_shape=(1, 1, 1, 64))
    >>> conv = b.conv(row, "conv", out_channels=4, kernel=(1, 3), stride=(1, 2))
    >>> node = b.build().nodes[conv]
    >>> node.window.kernel, axes_window(node, "nchw")[0].kernel
    ((1, 3), (3,))
    """
    at, window, scatter = node.spatial_at, node.window, node.scatter
    either = window or scatter
    if not at or either is None:  # (``()``: on the layout's axes)
        return window, scatter
    if (node.kind is _PAD or node.kind is _SLICE) and len(either.kernel) == len(at):
        return window, scatter  # (one per axis where they are already)
    laid = spatial_axes(len(node.output_shape), layout)
    if at == laid or len(either.kernel) != len(laid):
        return window, scatter
    if not set(at) <= set(laid):
        return window, scatter
    kept = [laid.index(a) for a in at]
    return on_axes(window, kept), on_axes(scatter, kept)


def on_axes(window: Window | None, axes: Sequence[int]) -> Window | None:
    """``window`` on ``axes`` of its own only."""
    if window is None:
        return None
    return dataclasses.replace(
        window,
        kernel=tuple(window.kernel[a] for a in axes),
        stride=tuple(window.stride[a] for a in axes),
        dilation=tuple(window.dilation[a] for a in axes),
        padding=tuple(window.padding[a] for a in axes),
    )
