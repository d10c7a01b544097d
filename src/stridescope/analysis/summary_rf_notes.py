"""The notes a summary adds about its receptive fields: where they turn unknown (``?``) and
why, and where they turn ``whole input`` only because positions moved into the batch axis
(window attention), an upper bound; and its one note on input coverage, where the coverage
walk read a node whole without knowing how it moves the positions (:func:`coverage_note`).

>>> from stridescope.analysis.summary_rf import receptive_fields
>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> blocks = b.reshape(b.input, "partition", output_shape=(1, 3, 2, 4, 2, 4))
>>> windows = b.permute(blocks, "permute", dims=(0, 2, 4, 3, 5, 1))
>>> tokens = b.reshape(windows, "windows", output_shape=(4, 16, 3))
>>> g = b.build()
>>> batched_fields_note(g, receptive_fields(g))
'receptive fields say whole input from windows on, an upper bound: it moves the positions of the 2x2 map into the batch axis (as window attention does), and a row sees less until they mix again'
"""

from __future__ import annotations

import math

from stridescope.analysis.coverage_relations import MOVED_AXES
from stridescope.analysis.formatting import axes_text
from stridescope.analysis.node_facts import NodeFacts, node_facts
from stridescope.analysis.summary_rf import MERGES, WHOLE, RFState
from stridescope.analysis.units import plain_number, size_text
from stridescope.ir import Graph, Node, OpKind

__all__ = ["batched_fields_note", "coverage_note", "field_notes", "unknown_fields_note"]

_RESHAPE = OpKind.RESHAPE


def field_notes(graph: Graph, states: list[RFState], facts: NodeFacts | None = None) -> list[str]:
    """The notes on where the fields turn unknown, and where ``whole input`` is a bound."""
    notes = [unknown_fields_note(graph, states), batched_fields_note(graph, states, facts)]
    return [note for note in notes if note is not None]


def unknown_fields_note(graph: Graph, states: list[RFState], most: int = 3) -> str | None:
    """Where the receptive field turns unknown (``?``): the nodes whose field is unknown
    while their parents' are known, with why (up to ``most``); ``None`` where every field is
    known.

    >>> from stridescope.analysis.summary_rf import receptive_fields
    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
    >>> x = b.resize(b.input, "up", kind=OpKind.INTERPOLATE, output_shape=(1, 3, 13, 13),
    ...              interpolation="lanczos3")
    >>> g = b.build()
    >>> unknown_fields_note(g, receptive_fields(g))
    'receptive fields are unknown (?) from up on: a resize without a geometry here (8x8 to 13x13)'
    """
    origins = [
        node
        for node in graph.nodes[1:]
        if states[node.id] is None and all(states[p] is not None for p in node.parents)
    ]
    if not origins:
        return None
    why = "; ".join(
        f"{node.name} on: {_unknown_because(graph, node, states)}" for node in origins[:most]
    )
    more = f" (and {len(origins) - most} more)" if len(origins) > most else ""
    return f"receptive fields are unknown (?) from {why}{more}"


def batched_fields_note(
    graph: Graph, states: list[RFState], facts: NodeFacts | None = None
) -> str | None:
    """Where a reshape moves every position of a map whose field is known into the batch
    axis (window attention's partition: ``(B, nH, nW, 7, 7, C)`` to ``(B·nH·nW, 49, C)``),
    which the fields read as merging them: ``whole input`` from there on is an upper bound
    (the first such reshape is named); ``None`` where there is none. ``facts``: the graph's
    :func:`~stridescope.analysis.node_facts.node_facts`, when the caller has them."""
    sizes = None if facts is None else facts.sizes
    for node in graph.nodes[1:]:
        if node.kind is not _RESHAPE or states[node.id] != WHOLE or not node.parents:
            continue
        parent = node.parents[0]
        if not isinstance(states[parent], tuple):
            continue
        sizes = sizes or node_facts(graph).sizes
        grid, before, after = sizes[parent], node.input_shape[0], node.output_shape[0]
        if not grid or None in grid or not before or not after or after % before:
            continue
        if (after // before) % math.prod([n or 1 for n in grid]) == 0:
            return (
                f"receptive fields say whole input from {node.name} on, an upper bound: it "
                f"moves the positions of the {size_text(grid)} map into the batch axis (as "
                "window attention does), and a row sees less until they mix again"
            )
    return None


def _unknown_because(graph: Graph, node: Node, states: list[RFState]) -> str:
    """Why ``node``'s field is unknown where its parents' are known."""
    fields = [f for f in (states[p] for p in node.parents) if isinstance(f, tuple)]
    jumps = {tuple(r.jump for r in f) for f in fields}
    if node.kind in MERGES and len(jumps) > 1:  # (an upsampling with aligned corners)
        grids = " and ".join(axes_text([plain_number(j) for j in g]) for g in sorted(jumps))
        return f"a merge of maps on different grids (their jumps: {grids})"
    sizes = [graph.spatial(graph.nodes[p].output_shape) for p in node.parents[:1]]
    before, after = (sizes[0] if sizes else ()), graph.spatial(node.output_shape)
    if node.resample is not None and node.resample.mode == "picks":
        return f"{node.op or node.kind} puts the positions out of order (coverage follows them)"
    if node.resample is not None:  # (on axes a permute moved)
        return f"a resize of moved axes ({size_text(before)} to {size_text(after)})"
    if node.scatter is not None:
        return "a transposed window with outputs no input writes"
    if not node.counted:
        return f"an op stridescope does not count ({node.op or node.kind})"
    if node.kind is OpKind.INTERPOLATE:
        return f"a resize without a geometry here ({size_text(before)} to {size_text(after)})"
    return f"how {node.op or node.kind} moves the positions is not known"


def coverage_note(notes: list[str]) -> str | None:
    """The summary's one note on the notes of the coverage walk: the first node it read whole
    without knowing how it moves the positions, and how many more; ``None`` where there are
    none but nodes on axes a permute moved (mostly positions that stay themselves).

    >>> coverage_note(["a (move): not a sliding window; treated as reading every position"])
    'input coverage assumes (an upper bound if wrong): a (move): not a sliding window; treated as reading every position'
    """
    unique = [n for n in dict.fromkeys(notes) if MOVED_AXES not in n]
    if not unique:
        return None
    more = f" (and {len(unique) - 1} more such)" if len(unique) > 1 else ""
    return f"input coverage assumes (an upper bound if wrong): {unique[0]}{more}"
