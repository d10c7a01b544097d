"""What feeds a node: for tests that a traced input reaches a layer through writes and ops."""

from __future__ import annotations

from stridescope.ir import Graph


def ancestors(graph: Graph, node: int) -> set[int]:
    """``node`` and every node it is computed from, through parents."""
    seen: set[int] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph.nodes[n].parents)
    return seen
