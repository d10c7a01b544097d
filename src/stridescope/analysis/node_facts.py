"""What the summary's parts (receptive fields, input coverage, lint, rows) all ask of every
node, computed in one pass over the graph: its spatial sizes, where a permute put them, and
whether that moved them. Each part used to recompute these per node, per question.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 8, 6), "nchw")
>>> p = b.permute(b.input, "p", dims=(0, 2, 3, 1))
>>> f = node_facts(b.build())
>>> f.moved, f.placed, f.sizes, f.layout_sizes, f.parent_moved
([False, True], [(8, 6), (8, 6)], [(8, 6), (8, 6)], [(8, 6), None], [False, False])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from stridescope.ir import Graph, Shape, spatial_axes
from stridescope.ir.axes import signal_axes

__all__ = ["NodeFacts", "node_facts"]

Sizes = tuple[int, ...] | None


@dataclass(frozen=True)
class NodeFacts:
    """Per node id: ``moved``, whether a permute moved the output's spatial axes
    (:meth:`Graph.moved`); ``placed``, their sizes where they are (:meth:`Graph.spatial_of`);
    ``sizes``, ``placed`` when there is at least one and every one is known, as ints, else
    ``None``; ``layout_sizes``, ``sizes`` where the layout puts the axes (``None`` where a
    permute moved them); ``parent_moved``, whether some parent's axes were moved."""

    moved: list[bool]
    placed: list[Shape]
    sizes: list[Sizes]
    layout_sizes: list[Sizes]
    parent_moved: list[bool]


def _facts(graph: Graph, shape: Shape, at: tuple[int, ...] | None) -> tuple[bool, Shape, Sizes]:
    """``moved``, ``placed`` and ``sizes`` of an output of ``shape`` with ``spatial_at``."""
    own = at is not None and at == signal_axes(shape)  # a rank-2 signal: its own layout
    away = at is not None and not own and at != spatial_axes(len(shape), graph.layout)
    where = tuple(shape[a] for a in at) if (away or own) and at else graph.spatial(shape)
    whole = bool(where) and None not in where  # every size known: ints
    return away, where, tuple(map(int, cast(tuple[int, ...], where))) if whole else None


def node_facts(graph: Graph) -> NodeFacts:
    """The facts of every node of ``graph``, in one pass (computed once per distinct output
    shape; nothing is kept between calls: a caller asking several questions hands them on)."""
    seen: dict[tuple[Shape, tuple[int, ...] | None], tuple[bool, Shape, Sizes]] = {}
    found = []
    for node in graph.nodes:
        key = (node.output_shape, node.spatial_at)
        facts = seen.get(key)
        if facts is None:
            facts = seen[key] = _facts(graph, *key)
        found.append(facts)
    moved = [f[0] for f in found]
    if True in moved:  # a permute moved some axes: which nodes read such a node
        moved_ids = {i for i, away in enumerate(moved) if away}
        parent_moved = [not moved_ids.isdisjoint(node.parents) for node in graph.nodes]
    else:
        parent_moved = [False] * len(moved)
    return NodeFacts(
        moved=moved,
        placed=[f[1] for f in found],
        sizes=[f[2] for f in found],
        layout_sizes=[None if f[0] else f[2] for f in found],
        parent_moved=parent_moved,
    )
