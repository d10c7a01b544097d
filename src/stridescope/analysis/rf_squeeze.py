"""Receptive fields through a squeeze: a reshape that drops spatial axes holding one position
(a CRNN's ``(N, C, 1, W)`` feature map made ``(N, C, W)`` for its sequence layers, a video
frame picked by ``x[:, :, t]``, each step of Keras's ``TimeDistributed``). The positions of the
axes left are those they were; the dropped axes keep the field they had. A field stays one
per axis of the network's input, so the ops after such a reshape read their windows on the
axes it left (:func:`input_axes_left`), and the summary shows the field on every input axis.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 1, 16, 64), "nchw")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=(16, 2), stride=2)
>>> row = b.reshape(x, "squeeze", output_shape=(1, 4, 32))
>>> g = b.build()
>>> input_axes_left(g, g.nodes[row], g.nodes[x], None)
(1,)
"""

from __future__ import annotations

from typing import Final, Literal

from stridescope.analysis.node_facts import NodeFacts
from stridescope.analysis.rf_state import MERGES, RFState, merged, scattered
from stridescope.geometry import ReceptiveField
from stridescope.ir import Graph, Node, OpKind
from stridescope.ir.axes import axes_window
from stridescope.ir.reshaped_axes import squeezed_axes

__all__ = ["OTHER", "input_axes_left", "partial", "squeezed"]

# what :func:`partial` says of an op it leaves to the receptive field's usual rules
OTHER: Final[Literal["other"]] = "other"
# ops that keep every position (and where the axes are, or record where they went)
_KEEP = frozenset({OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.PERMUTE})
_PLACED = frozenset({OpKind.RESHAPE, OpKind.MOVE})


def input_axes_left(
    graph: Graph, node: Node, parent: Node, parent_kept: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """Which axes of the network's input ``node``'s spatial axes are, in their order (indices
    into a field), where ``node`` is a reshape of ``parent`` that drops spatial axes of size 1
    and nothing else, the axes left landing where ``node``'s spatial axes are
    (:func:`~stridescope.ir.reshaped_axes.squeezed_axes`); ``None`` for any other reshape.
    ``parent_kept``: the same of ``parent`` (``None``: every input axis, in order)."""
    at = graph.spatial_axes_of(parent)
    kept = parent_kept if parent_kept is not None else tuple(range(len(at)))
    if len(kept) != len(at):
        return None
    left = squeezed_axes(parent.output_shape, at, node.output_shape, graph.spatial_axes_of(node))
    return None if left is None else tuple(kept[i] for i in left)


def squeezed(
    graph: Graph, node: Node, states: list[RFState], kept: dict[int, tuple[int, ...]]
) -> RFState:
    """A squeeze's field: its parent's, on every axis of the input, the axes it keeps
    recorded in ``kept`` (:func:`input_axes_left`); ``None`` for another reshape."""
    parent = node.parents[0]
    axes = input_axes_left(graph, node, graph.nodes[parent], kept.get(parent))
    if axes is None:
        return None
    kept[node.id] = axes
    return states[parent]


def partial(
    graph: Graph,
    node: Node,
    parents: tuple[int, ...],
    states: list[RFState],
    kept: dict[int, tuple[int, ...]],
    facts: NodeFacts,
) -> RFState | Literal["other"]:
    """The field of a node whose first parent's spatial axes are some of the input's
    (``kept``, see :func:`squeezed`): ops that keep positions keep it and those axes, a
    window or transposed window composes on those axes alone; :data:`OTHER` for anything
    else, which the caller reads as any node, on a field of every input axis (a window on
    fewer axes than the field has is unknown there, a dense layer makes it whole)."""
    given = [states[p] for p in parents]
    axes, parent, kind = kept[parents[0]], given[0], node.kind
    if kind is OpKind.CONCAT and len(graph.spatial_axes_of(node)) == len(axes) + 1:
        return restacked(given, axes, [kept.get(p) for p in parents])
    same = isinstance(parent, tuple) and node.counted
    same = same and all(kept.get(p) == axes for p in parents)
    same = same and len(graph.spatial_axes_of(node)) == len(axes)
    if not same or not isinstance(parent, tuple):
        return OTHER
    keeps = kind in _KEEP or kind in MERGES
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
    whole = list(parent)
    for i, field in zip(axes, found, strict=True):
        whole[i] = field
    kept[node.id] = axes
    return tuple(whole)


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
