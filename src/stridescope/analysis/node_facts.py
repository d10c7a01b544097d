"""What the summary's parts (receptive fields, input coverage, lint, rows) all ask of every
node, computed in one pass over the graph: its spatial sizes, where a permute put them, and
whether that moved them. Each part used to recompute these per node, per question.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 8, 6), "nchw")
>>> p = b.permute(b.input, "p", dims=(0, 2, 3, 1))
>>> f = node_facts(b.build())
>>> f.spatial, f.moved, f.placed, f.sizes, f.parent_moved
([(8, 6), (6, 3)], [False, True], [(8, 6), (8, 6)], [(8, 6), (8, 6)], [False, False])
>>> f.known(0), f.known(1)  # where the layout puts them: the permute's are elsewhere
((8, 6), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from stridescope.ir import Graph, Shape, spatial_axes

__all__ = ["NodeFacts", "node_facts"]


@dataclass(frozen=True)
class NodeFacts:
    """Per node id: ``spatial``, the output's spatial sizes where the layout puts them
    (:meth:`Graph.spatial`); ``moved``, whether a permute moved them (:meth:`Graph.moved`);
    ``placed``, the sizes where they are (:meth:`Graph.spatial_of`); ``sizes``, ``placed``
    when there is at least one and every one is known, as ints, else ``None``;
    ``parent_moved``, whether some parent's axes were moved."""

    spatial: list[Shape]
    moved: list[bool]
    placed: list[Shape]
    sizes: list[tuple[int, ...] | None]
    parent_moved: list[bool]

    def known(self, node_id: int) -> tuple[int, ...] | None:
        """``sizes``, except ``None`` where a permute moved the axes."""
        return None if self.moved[node_id] else self.sizes[node_id]


def node_facts(graph: Graph) -> NodeFacts:
    """The facts of every node of ``graph`` (one pass, no caching: a caller that asks
    several questions computes them once and hands them on)."""
    spatial: list[Shape] = []
    moved: list[bool] = []
    placed: list[Shape] = []
    sizes: list[tuple[int, ...] | None] = []
    parent_moved: list[bool] = []
    layout, moved_ids = graph.layout, set[int]()
    for node in graph.nodes:
        shape, at = node.output_shape, node.spatial_at
        here = graph.spatial(shape)
        away = at is not None and at != spatial_axes(len(shape), layout)
        where = tuple(shape[a] for a in at) if away and at is not None else here
        spatial.append(here)
        moved.append(away)
        placed.append(where)
        whole = bool(where) and None not in where  # every size known: ints
        sizes.append(tuple(map(int, cast(tuple[int, ...], where))) if whole else None)
        parent_moved.append(bool(moved_ids) and not moved_ids.isdisjoint(node.parents))
        if away:
            moved_ids.add(node.id)
    return NodeFacts(spatial, moved, placed, sizes, parent_moved)
