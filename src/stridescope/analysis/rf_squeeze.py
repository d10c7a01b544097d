"""Receptive fields through a squeeze: a reshape that drops spatial axes holding one position
(a CRNN's ``(N, C, 1, W)`` feature map made ``(N, C, W)`` for its sequence layers, a video
frame picked by ``x[:, :, t]``, each step of Keras's ``TimeDistributed``). The positions of the
axes left are those they were; the dropped axes keep the field they had. A field stays one
per axis of the network's input, so the ops after such a reshape read their windows on the
axes it left (:func:`kept_axes`), and the summary shows the field on every input axis.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 1, 16, 64), "nchw")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=(16, 2), stride=2)
>>> row = b.reshape(x, "squeeze", output_shape=(1, 4, 32))
>>> g = b.build()
>>> kept_axes(g, g.nodes[row], g.nodes[x], None)
(1,)
"""

from __future__ import annotations

from itertools import combinations
from typing import Final, Literal

from stridescope.analysis.node_facts import NodeFacts
from stridescope.analysis.rf_state import MERGES, RFState, merged, scattered
from stridescope.ir import Graph, Node, OpKind
from stridescope.ir.axes import axes_window

__all__ = ["OTHER", "SQUEEZES", "kept_axes", "partial", "squeezed"]

SQUEEZES = frozenset({OpKind.RESHAPE, OpKind.FLATTEN})  # the kinds a squeeze is built as
OTHER: Final[Literal["other"]] = (
    "other"  # what :func:`partial` says of an op it leaves to the usual rules
)
# ops that keep every position (and where the axes are, or record where they went)
_KEEP = frozenset({OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.PERMUTE})
_PLACED = frozenset({OpKind.RESHAPE, OpKind.MOVE})


def kept_axes(
    graph: Graph, node: Node, parent: Node, parent_kept: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """Which axes of the network's input ``node``'s spatial axes are, in their order (indices
    into a field), where ``node`` is a reshape of ``parent`` that drops spatial axes of size 1
    and nothing else, the axes left landing where ``node``'s spatial axes are; ``None`` for any
    other reshape, and where which axes were dropped is ambiguous. ``parent_kept``: the same
    of ``parent`` (``None``: every input axis, in order)."""
    before, after = parent.output_shape, node.output_shape
    drop = len(before) - len(after)
    if drop < 1 or None in before or None in after:
        return None
    at = graph.spatial_axes_of(parent)
    kept = parent_kept if parent_kept is not None else tuple(range(len(at)))
    if len(kept) != len(at):
        return None
    ones = [a for a in at if before[a] == 1]
    found = None
    for dropped in combinations(ones, drop):
        left = tuple(d for a, d in enumerate(before) if a not in dropped)
        if left != after:
            continue
        if found is not None:
            return None  # two ways to drop them: which axes are left is not known
        found = dropped
    if found is None:
        return None
    # where the axes left land in the output: as many axes fewer as were dropped before them
    landed = tuple(a - sum(d < a for d in found) for a in at if a not in found)
    if not landed or landed != graph.spatial_axes_of(node):
        return None
    return tuple(k for k, a in zip(kept, at, strict=True) if a not in found)


def squeezed(
    graph: Graph, node: Node, states: list[RFState], kept: dict[int, tuple[int, ...]]
) -> RFState:
    """A squeeze's field: its parent's, on every axis of the input, the axes it keeps
    recorded in ``kept`` (:func:`kept_axes`); ``None`` for another reshape."""
    parent = node.parents[0]
    axes = kept_axes(graph, node, graph.nodes[parent], kept.get(parent))
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
            return None  # frames stacked on a new axis: each position reads its own frame
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
