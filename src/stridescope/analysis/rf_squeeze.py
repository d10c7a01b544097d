"""Receptive fields through a squeeze or a fold: a reshape that drops spatial axes holding
one position (a CRNN's ``(N, C, 1, W)`` feature map made ``(N, C, W)`` for its sequence
layers, a video frame picked by ``x[:, :, t]``, each step of Keras's ``TimeDistributed``), or
that folds spatial axes into the channels and leaves the others where the layout has them (a
CRNN's ``(N, C, H, W)`` made ``(N, C*H, W)``, Keras's ``(N, W, H, C)`` made ``(N, W, H*C)``).
The positions of the axes left are those they were; a dropped axis keeps the field it had, a
folded one the union of the fields of its positions (every channel of the fold reads one of
them). A field stays one per axis of the network's input, so the ops after such a reshape read
their windows on the axes it left (:func:`input_axes_left`), and the summary shows the field on
every input axis. A fold after a permute (speech's ``(N, T, C, F)`` made ``(N, T, C*F)``) leaves
its axes where the graph records none (axes a permute moved are a guess inside attention, where
a fold is not one): the whole input, as any reshape that merges positions.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 1, 16, 64), "nchw")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=(16, 2), stride=2)
>>> row = b.reshape(x, "squeeze", output_shape=(1, 4, 32))
>>> g = b.build()
>>> input_axes_left(g, g.nodes[row], g.nodes[x], None)
(1,)
"""

from __future__ import annotations

import dataclasses
from typing import Final, Literal

from stridescope.analysis.node_facts import NodeFacts
from stridescope.analysis.rf_state import MERGES, RFState, merged, scattered
from stridescope.geometry import ReceptiveField
from stridescope.ir import Graph, Node, OpKind, Shape
from stridescope.ir.axes import axes_window
from stridescope.ir.graph import channel_axis, spatial_axes
from stridescope.ir.reshaped_axes import folded_axes, squeezed_axes

__all__ = [
    "OTHER",
    "Walk",
    "channel_fold",
    "folded",
    "input_axes_left",
    "partial",
    "per_sample",
    "squeezed",
]

# what :func:`partial` says of an op it leaves to the receptive field's usual rules
OTHER: Final[Literal["other"]] = "other"
# ops that keep every position (and where the axes are, or record where they went)
_KEEP = frozenset({OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.PERMUTE})
_PLACED = frozenset({OpKind.RESHAPE, OpKind.MOVE})
# a global pool or a reduction: over every axis left, the union of their fields
_POOLS = frozenset({OpKind.REDUCE, OpKind.ADAPTIVE_AVGPOOL, OpKind.ADAPTIVE_MAXPOOL})


@dataclasses.dataclass(slots=True)
class Walk:
    """What the receptive field's walk (:func:`~.summary_rf.receptive_fields`) carries from
    node to node: the field of each node so far; where a squeeze, a fold or a pool left
    fewer spatial axes, which input axes a node's are (``kept``); and the nodes whose field
    is a fold's or a global pool's, or follows from one (``folds``: where it is lost, the
    whole input, what a merge of positions said before such fields were followed); and those
    whose batch axis holds a spatial axis's positions, one per sample (``batched``: see
    :func:`per_sample`)."""

    graph: Graph
    facts: NodeFacts
    states: list[RFState] = dataclasses.field(default_factory=list)
    kept: dict[int, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    folds: set[int] = dataclasses.field(default_factory=set)
    batched: set[int] = dataclasses.field(default_factory=set)


def input_axes_left(
    graph: Graph, node: Node, parent: Node, parent_kept: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """Which axes of the network's input ``node``'s spatial axes are, in their order (indices
    into a field), where ``node`` is a reshape of ``parent`` that drops spatial axes of size 1
    (:func:`~stridescope.ir.reshaped_axes.squeezed_axes`) or folds spatial axes into the
    channels (:func:`~stridescope.ir.reshaped_axes.folded_axes`) and keeps the others whole,
    the axes left landing where ``node``'s spatial axes are; ``None`` for any other reshape.
    ``parent_kept``: the same of ``parent`` (``None``: every input axis, in order)."""
    at = graph.spatial_axes_of(parent)
    kept = parent_kept if parent_kept is not None else tuple(range(len(at)))
    if len(kept) != len(at):
        return None
    left = _left(parent.output_shape, at, node.output_shape, graph.spatial_axes_of(node))
    return None if left is None else tuple(kept[i] for i in left)


def _left(
    shape: Shape, at: tuple[int, ...], out: Shape, out_at: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Which of ``at`` a squeeze or a fold keeps (indices into ``at``), landing at ``out_at``."""
    left = squeezed_axes(shape, at, out, out_at)
    if left is not None:
        return left
    folded = folded_axes(shape, at, out)
    if folded is None or tuple([q for q in folded if q is not None]) != out_at:
        return None
    return tuple([i for i, q in enumerate(folded) if q is not None])


def squeezed(walk: Walk, node: Node) -> RFState:
    """A squeeze's or a fold's field: its parent's, on every axis of the input, each folded
    axis's the union of its positions' (:func:`folded`), the axes it keeps recorded in
    ``walk.kept`` (:func:`input_axes_left`), a fold's node in ``walk.folds``; ``None`` for
    another reshape."""
    graph, kept, folds = walk.graph, walk.kept, walk.folds
    parent = node.parents[0]
    above = graph.nodes[parent]
    was = kept.get(parent)
    axes = input_axes_left(graph, node, above, was)
    if axes is None:
        return None
    kept[node.id] = axes
    field = walk.states[parent]
    if not isinstance(field, tuple):
        return field
    at = graph.spatial_axes_of(above)
    whole = list(field)
    for i, a in enumerate(at):
        axis = was[i] if was is not None else i
        n = above.output_shape[a]
        if axis not in axes and isinstance(n, int) and n > 1:
            whole[axis] = folded(field[axis], n)
            folds.add(node.id)
    return tuple(whole) if node.id in folds else field


def per_sample(walk: Walk, node: Node) -> RFState:
    """A window on the axes past the batch where the batch axis holds a spatial axis (a
    clip's frames folded into a batch of one, ``(T, C, H, W)``: the builder keeps ``T`` at
    the batch's place), each sample one position of it: the window composes on the other
    axes, that axis keeps its field (each sample reads its own frame) and is dropped from the
    node's axes on (as a squeeze drops it); ``None`` for any other node.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 4, 16, 16), "nchw")
    >>> frames = b.permute(b.input, "t_first", dims=(0, 2, 1, 3, 4))
    >>> frames = b.reshape(frames, "fold", output_shape=(4, 3, 16, 16))
    >>> conv = b.conv(frames, "conv", out_channels=2, kernel=3, stride=2)
    >>> from stridescope.analysis.node_facts import node_facts
    >>> g = b.build()
    >>> walk = Walk(g, node_facts(g), [(ReceptiveField(),) * 3] * 3)
    >>> [r.size for r in per_sample(walk, g.nodes[conv])], walk.kept, walk.batched
    ([1, 3, 3], {3: (1, 2)}, {3})
    """
    graph, window = walk.graph, node.window
    if window is None or len(node.parents) != 1 or node.spatial_at is not None:
        return None
    parent = graph.nodes[node.parents[0]]
    at, field = parent.spatial_at, walk.states[parent.id]
    if not at or at[0] != 0 or not isinstance(field, tuple):
        return None
    inputs = _inputs(walk, parent.id, len(at))
    rank = len(parent.output_shape)
    if len(inputs) != len(at) or at[1:] != spatial_axes(rank, graph.layout):
        return None
    if len(window.kernel) != len(at) - 1:
        return None
    axes = inputs[1:]
    walk.kept[node.id] = axes
    walk.batched.add(node.id)
    return _replaced(field, axes, window.receptive(tuple(field[i] for i in axes)))


def channel_fold(walk: Walk, node: Node) -> RFState:
    """A window on the layout's axes (or a dense layer on channels last) whose input holds a
    spatial axis where the layout has its channels (``(N, 1, H, W)`` made ``(N, H, W)``,
    which the builder reads as both axes kept, then a ``Conv1d``: the rows are its
    channels): that axis folded, as a reshape that folds it into the channels does
    (:func:`folded`), the window composing on the others, recorded in ``walk.kept``;
    ``None`` for any other node.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 1, 16, 32), "nchw")
    >>> rows = b.reshape(b.input, "squeeze", output_shape=(1, 16, 32))
    >>> conv = b.conv(rows, "conv", out_channels=4, kernel=3, padding=1)
    >>> from stridescope.analysis.node_facts import node_facts
    >>> g = b.build()
    >>> walk = Walk(g, node_facts(g), [(ReceptiveField(),) * 2] * 2)
    >>> [r.size for r in channel_fold(walk, g.nodes[conv])], walk.kept
    ([16, 3], {2: (1,)})
    """
    graph, window = walk.graph, node.window
    if len(node.parents) != 1 or node.spatial_at is not None:
        return None
    parent = graph.nodes[node.parents[0]]
    at, field, rank = parent.spatial_at, walk.states[parent.id], len(parent.output_shape)
    channels = channel_axis(rank, graph.layout)
    if not at or channels not in at or not isinstance(field, tuple):
        return None
    if window is None and (node.kind is not OpKind.LINEAR or channels != rank - 1):
        return None  # (a window, or a dense layer on channels last: Keras's Dense)
    inputs = _inputs(walk, parent.id, len(at))
    n = parent.output_shape[channels]
    if len(inputs) != len(at) or not isinstance(n, int):
        return None
    left = [(a, i) for a, i in zip(at, inputs, strict=True) if a != channels]
    if tuple([a for a, _ in left]) != spatial_axes(rank, graph.layout):
        return None
    axes = tuple([i for _, i in left])
    if window is not None and len(window.kernel) != len(axes):
        return None
    gone = inputs[at.index(channels)]
    whole = _replaced(field, (gone,), (folded(field[gone], n),))
    walk.kept[node.id] = axes  # (not a fold of ``walk.folds``: where lost, ``?`` as before)
    if window is None:
        return whole
    return _replaced(whole, axes, window.receptive(tuple(field[i] for i in axes)))


def _inputs(walk: Walk, parent: int, count: int) -> tuple[int, ...]:
    """Which input axes the ``count`` spatial axes of node ``parent`` are (``walk.kept``,
    else every input axis, in order)."""
    was = walk.kept.get(parent)
    return was if was is not None else tuple(range(count))


def _replaced(
    field: tuple[ReceptiveField, ...], axes: tuple[int, ...], found: tuple[ReceptiveField, ...]
) -> tuple[ReceptiveField, ...]:
    """``field`` with ``found``'s fields on the input axes ``axes``."""
    whole = list(field)
    for i, one in zip(axes, found, strict=True):
        whole[i] = one
    return tuple(whole)


def folded(field: ReceptiveField, n: int) -> ReceptiveField:
    """The field of ``n`` neighbouring positions together (an axis folded into the channels:
    each output reads all of them), from the first one's start to the furthest end.

    >>> folded(ReceptiveField(10, 4, -1), 8)
    ReceptiveField(size=38, jump=4, start=-1)
    """
    spans = (
        [field.span(i) for i in range(n)] if field.phases else [field.span(0), field.span(n - 1)]
    )
    start = min([a for a, _ in spans])
    return ReceptiveField(max([b for _, b in spans]) - start, field.jump, start)


def partial(walk: Walk, node: Node, parents: tuple[int, ...]) -> RFState | Literal["other"]:
    """The field of a node whose first parent's spatial axes are some of the input's
    (``walk.kept``, see :func:`squeezed`): ops that keep positions keep it and those axes, a
    window or transposed window composes on those axes alone, a global pool makes each of
    them the union of its positions' (recorded in ``walk.folds``, as a fold is);
    :data:`OTHER` for anything else, which the caller reads as any node, on a field of every
    input axis (a window on fewer axes than the field has is unknown there, a dense layer
    makes it whole)."""
    graph, states, kept, facts = walk.graph, walk.states, walk.kept, walk.facts
    given = [states[p] for p in parents]
    axes, parent, kind = kept[parents[0]], given[0], node.kind
    if kind is OpKind.CONCAT and len(graph.spatial_axes_of(node)) == len(axes) + 1:
        return restacked(given, axes, [kept.get(p) for p in parents])
    if kind in _POOLS and len(parents) == 1 and isinstance(parent, tuple) and node.counted:
        pooled = _pooled(node, parent, axes, facts)
        if pooled is not None:  # (to one position: a map of one, or none left)
            kept[node.id] = axes if node.spatial_at != () else ()
            walk.folds.add(node.id)
            return pooled
    same = isinstance(parent, tuple) and node.counted
    same = same and all(kept.get(p) == axes for p in parents)
    same = same and len(graph.spatial_axes_of(node)) == len(axes)
    if not same or not isinstance(parent, tuple):
        return OTHER
    keeps = kind in _KEEP or kind in MERGES or _dense_beside(graph, node)
    if keeps or (kind in _PLACED and node.spatial_at is not None):
        if kind is OpKind.CONCAT and any(facts.placed[p] != facts.placed[node.id] for p in parents):
            return None  # joined along a spatial axis: positions shift (as _step says)
        rank = len(graph.nodes[parents[0]].output_shape)
        if kind is OpKind.CONCAT and len(node.output_shape) > rank and len(set(given)) > 1:
            return None  # stacked on a new axis: each position reads its own part
        kept[node.id] = axes
        return parent if len(given) == 1 else merged(given)
    window, scatter = node.window, node.scatter
    if node.spatial_at is not None:
        window, scatter = axes_window(node, graph.layout)
    if window is None and scatter is None:
        return OTHER
    part = tuple(parent[i] for i in axes)
    found: RFState
    if window is not None:
        found = window.receptive(part) if len(window.kernel) == len(axes) else None
    else:
        found = scattered(scatter, part)  # type: ignore[arg-type]  # (one of them is set)
    if not isinstance(found, tuple):
        return None
    kept[node.id] = axes
    return _replaced(parent, axes, found)


def _pooled(
    node: Node, parent: tuple[ReceptiveField, ...], axes: tuple[int, ...], facts: NodeFacts
) -> RFState:
    """A pool or a reduction over every spatial axis left (``axes`` of the input), to one
    position: each of those axes's field the union of its positions' (:func:`folded`), a
    dropped one's as it was (a frame picked, a 2-D network on it, a global pool: that one
    frame's field); ``None`` for any other."""
    sizes, out = facts.sizes[node.parents[0]], facts.sizes[node.id]
    if sizes is None or len(sizes) != len(axes) or None in sizes:
        return None
    if not (node.spatial_at == () or (out is not None and all([d == 1 for d in out]))):
        return None
    whole = list(parent)
    for axis, n in zip(axes, sizes, strict=True):
        whole[axis] = folded(parent[axis], n)
    return tuple(whole)


def _dense_beside(graph: Graph, node: Node) -> bool:
    """A dense layer on a last axis that is not spatial (a linear layer on each step's
    channels, channels last: Keras's ``Dense`` after a fold, a projection after a squeeze
    and a permute): positions stay."""
    if node.kind is not OpKind.LINEAR:
        return False
    return len(node.output_shape) - 1 not in graph.spatial_axes_of(node)


def restacked(
    given: list[RFState], axes: tuple[int, ...], kept: list[tuple[int, ...] | None]
) -> RFState:
    """The field of frames stacked back on the axis they were picked along (see
    :func:`~stridescope.ir.reshaped_axes.restacked_axes`): the k-th part's field on that
    axis the first's moved on by k times one step, its other fields the first's, each
    position of the stack reading its own frame (a field with that step as its jump); else
    unknown (frames out of order, or parts that differ otherwise)."""
    fields = [g for g in given if isinstance(g, tuple)]
    missing = [i for i in range(len(fields[0]) if fields else 0) if i not in axes]
    if len(fields) != len(given) or len(missing) != 1 or any(k != axes for k in kept):
        return None
    axis, first = missing[0], fields[0]
    along = [f[axis] for f in fields]
    step = along[1].start - along[0].start if len(along) > 1 else 1
    for k, (field, one) in enumerate(zip(fields, along, strict=True)):
        if (one.size, one.jump, one.phases) != (along[0].size, along[0].jump, ()):
            return None
        if one.start != along[0].start + k * step or field[:axis] + field[axis + 1 :] != (
            first[:axis] + first[axis + 1 :]
        ):
            return None
    if step < 1:
        return None
    return (*first[:axis], ReceptiveField(along[0].size, step, along[0].start), *first[axis + 1 :])
