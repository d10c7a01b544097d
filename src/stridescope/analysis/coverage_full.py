"""A fast answer to the coverage fraction's most common question: does every input position
reach the output? (Most networks read every pixel: a 3x3 stride-2 conv reads them all.)

Forward from the input, a node *reads all* when it reads every position of some parent that
reads all: a node that keeps positions (:func:`~.coverage_relations.passes`), one read whole
(uncounted, or a relation not understood), or one whose relation to that parent
(:func:`~.coverage_relations.relation`, the coverage walk's own) reads every position of it
along every axis. Where the walk's start reads all, every input position feeds some output
position: the fraction is 1, without the backward walk and its terms. Where it does not (or
the walk would start below the input's rank), :func:`~.coverage.coverage_fraction` walks as
before. The answer is never "all" where the walk finds less: each step claims "every
position" only where the walk's step from every output position would reach each of them.

>>> from stridescope.ir import GraphBuilder
>>> from stridescope.analysis.node_facts import node_facts
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=3, stride=2, padding=1)
>>> g = b.build()
>>> reads_everything(g, node_facts(g), x)
True
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)  # one pixel in four
>>> g = b.build()
>>> reads_everything(g, node_facts(g), x)
False
"""

from __future__ import annotations

import math
from typing import Any, cast

from stridescope.analysis.axis_reads import slide_reads, window_reads
from stridescope.analysis.coverage_relations import MOVED_AXES, Relations, passes, relation
from stridescope.analysis.coverage_terms import Full, Scatter, Slide, ones
from stridescope.analysis.node_facts import NodeFacts
from stridescope.ir import Graph, Node, OpKind, Window

__all__ = ["reads_everything", "reads_everything_noted"]


def _reads_axis(read: Any, outputs: int) -> bool:
    """Whether ``outputs`` positions related by ``read`` (one axis of a relation) read every
    position of the parent's axis."""
    if read is None or type(read) is Full:  # (identity: the same sizes; dense: every one)
        return True
    if type(read) is Slide:  # (cached reads of a slide, as lint's: networks repeat them)
        r = read
        return (
            slide_reads(r.kernel, r.stride, r.dilation, r.before, r.pad_mode, r.n, outputs).read
            == r.n
        )
    if type(read) is Scatter:
        return bool(read.pull(ones(1, outputs)).all())
    return bool(read.any(axis=0).all())  # a dense boolean matrix (outputs x positions)


def reads_everything(
    graph: Graph, facts: NodeFacts, last: int, notes: list[str] | None = None, strict: bool = False
) -> bool:
    """Whether every input position reaches some position of node ``last`` (see the
    module); ``False`` where that is not shown this way. One chain from ``last`` back to the
    input of nodes each reading all of the next suffices: a depth-first search that tries
    each node's earliest parent first (a residual add's shortcut: it reaches the input in few
    steps), remembering what it found for every node it decided. ``notes``: where to add
    the walk's notes (a node read whole because its relation is not understood); ``strict``:
    such a node counts as not reading every position (an answer that needs no such guess)."""
    known = facts.sizes
    if not known[0] or not math.prod(known[0]) or not math.prod(known[last] or (0,)):
        return False  # (an empty map: the walk's answer, 0)
    nodes, notes = graph.nodes, cast(list[str], []) if notes is None else notes
    decided: dict[int, bool] = {0: True}
    # (a node, the position of the next of its parents to try, whether that one was read)
    stack: list[tuple[int, int, bool]] = [(last, 0, False)]
    while stack:
        node_id, at, read = stack[-1]
        node = nodes[node_id]
        parents = node.parents
        tries = ((0, parents[0]),) if len(parents) == 1 else sorted(enumerate(parents), key=_id)
        descend = None
        while at < len(tries):
            index, parent = tries[at]
            found = decided.get(parent)
            if found is False or not (
                read or _reads_strictly(graph, facts, node, index, notes, strict)
            ):
                at, read = at + 1, False
            elif found:
                decided[node_id] = True
                break
            else:  # (read, undecided: decide the parent first, then take its answer)
                descend = parent
                break
        else:
            decided[node_id] = False
        if descend is not None and descend not in decided:
            stack[-1] = (node_id, at, True)
            stack.append((descend, 0, False))
        else:
            stack.pop()
    return decided[last]


def reads_everything_noted(
    graph: Graph, facts: NodeFacts, last: int, notes: list[str] | None
) -> bool:
    """:func:`reads_everything`; with ``notes``, found without a guess first (a node read
    whole, not knowing how it moves the positions), else with guesses, each added to
    ``notes`` (there "every position" is an upper bound). A search without a guess that
    failed having met none is the answer with guesses too (the same path): not run again."""
    if notes is None:
        return reads_everything(graph, facts, last)
    tried: list[str] = []
    if reads_everything(graph, facts, last, tried, strict=True):
        return True
    if all(MOVED_AXES in n for n in tried):
        notes += tried
        return False
    return reads_everything(graph, facts, last, notes)


def _id(pair: tuple[int, int]) -> int:
    return pair[1]


def _reads_strictly(
    graph: Graph, facts: NodeFacts, node: Node, index: int, notes: list[str], strict: bool
) -> bool:
    """:func:`_reads_parent`, which in a ``strict`` search is no where it guessed (a note not
    about axes a permute moved)."""
    before = len(notes)
    read = _reads_parent(graph, facts, node, index, notes)
    return read and not (strict and any(MOVED_AXES not in n for n in notes[before:]))


def _reads_parent(graph: Graph, facts: NodeFacts, node: Node, index: int, notes: list[str]) -> bool:
    """Whether ``node`` reads every position of its ``index``-th parent: it keeps positions
    or is read whole (uncounted, no sizes, a relation not understood), or its relation reads
    every position along every axis."""
    known = facts.sizes
    out = known[node.id]
    if out is None or not node.counted or passes(node, facts):
        return True
    shape = known[node.parents[index]]
    if len(node.parents) > 1:
        read = Relations(graph, node, facts, notes).of(shape, index)
    else:
        window, moved = node.window, facts.parent_moved[node.id]
        if window is not None and node.spatial_at is None and not moved and node.kind not in _OTHER:
            return _window_reads(graph, node, window, shape, out)
        read = relation(graph, node, out, shape, notes, moved)
    return _reads(read, out)


def _window_reads(
    graph: Graph, node: Node, w: Window, shape: tuple[int, ...] | None, out: tuple[int, ...]
) -> bool:
    """:func:`_reads_parent` of a window where the layout has the axes: its relation is its
    window's slides alone, so each axis's reads are those lint reads (the same memo,
    :func:`~.axis_reads.window_reads`)."""
    if shape is None or not len(w.kernel) == len(shape) == len(out):
        return _reads(relation(graph, node, out, shape, [], False), out)  # (read whole)
    return all([r.read == r.size for r in window_reads(w, shape, out)])


def _reads(read: Any, out: tuple[int, ...]) -> bool:
    return read is None or all([_reads_axis(r, n) for r, n in zip(read, out, strict=True)])


# the kinds with a window whose relation is not their window's alone (see ``relation``)
_OTHER = frozenset({OpKind.INPUT, OpKind.PERMUTE})
