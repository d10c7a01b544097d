"""How one node of the IR reads its parents, per spatial axis, for the coverage walk of
:mod:`stridescope.analysis.coverage`: a relation (:mod:`.coverage_terms`) per parent, or
``None`` where the node is not understood (every position then reads every position).

>>> from stridescope.ir import GraphBuilder
>>> from stridescope.analysis.node_facts import node_facts
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> x = b.conv(b.input, "down", out_channels=4, kernel=3, stride=2, padding=1)
>>> y = b.conv(x, "mix", out_channels=4, kernel=1)
>>> g = b.build()
>>> Relations(g, g.nodes[x], node_facts(g), []).of((8, 8))[0]
Slide(kernel=3, stride=2, dilation=1, before=1, n=8, pad_mode='zeros')
>>> passes(g.nodes[y], node_facts(g))  # a 1x1 window keeps every position
True
"""

from __future__ import annotations

import math

import numpy as np

from stridescope.analysis.coverage_blocks import POINTWISE, block_slide_note
from stridescope.analysis.coverage_terms import (
    BoolMatrix,
    Full,
    Relation,
    Scatter,
    Slide,
    Term,
    adaptive_matrix,
    ones,
    spans_matrix,
    union_size,
)
from stridescope.analysis.node_facts import NodeFacts
from stridescope.ir import Graph, Node, OpKind, Window
from stridescope.ir.axes import axes_window

# per-node OpKind members as module names (``OpKind.X`` is slow on Python 3.11: see builder_core)
_ADAPTIVE_AVGPOOL, _ADAPTIVE_MAXPOOL, _INPUT = (
    OpKind.ADAPTIVE_AVGPOOL,
    OpKind.ADAPTIVE_MAXPOOL,
    OpKind.INPUT,
)
_LINEAR, _PERMUTE, _REDUCE, _RESHAPE = OpKind.LINEAR, OpKind.PERMUTE, OpKind.REDUCE, OpKind.RESHAPE
_MOVE, _CONCAT = OpKind.MOVE, OpKind.CONCAT

__all__ = ["MOVED_AXES", "POINTWISE", "Relations", "passes", "relation", "skipped"]

_SLIDES: dict[tuple[object, ...], Relation] = {}


# what a note of a node read whole on axes a permute moved says (channels-last blocks: their
# positions mostly stay themselves; a summary notes only the other nodes read whole)
MOVED_AXES = "works on axes a permute moved"


def skipped(node: Node, terms: list[Term], sizes: tuple[int, ...]) -> list[str]:
    """A note to keep where ``node``, read whole on axes a permute moved, is read only in
    part by the layers after it (``terms``: what the output reads of its ``sizes``
    positions): reading it whole is then an upper bound that may be far off (a strided conv
    after a window taken apart and flattened), where most such nodes, read whole in full,
    lose nothing (their note is not shown: see ``MOVED_AXES``). ``[]`` otherwise (also for
    no terms: a node read whole, every position of it feeding every output)."""
    if not terms:
        return []
    for term in terms:  # (a term of the memoised ones: every position read, as on most)
        if all([m is ones(*m.shape) for m in term]):
            return []
    if any([len(term) != len(sizes) for term in terms]):
        return []
    rows = [tuple(np.logical_or.reduce(m, axis=0) for m in term) for term in terms]
    if union_size(rows) == math.prod(sizes):
        return []
    return [
        f"{node.name} ({node.kind}): on axes a permute moved, of which the layers after it "
        "read part; treated as reading every position"
    ]


def _slides(window: Window, inp: tuple[int, ...]) -> Relation:
    """Per axis, ``window`` sliding over ``inp`` positions, memoised: networks repeat the
    same few (window, size) pairs. Keyed by the window's fields, as hashing and comparing
    the dataclass on every lookup costs more than the lookup; the slides are frozen."""
    w = window
    key = (w.kernel, w.stride, w.dilation, w.padding, w.pad_mode, inp)
    found = _SLIDES.get(key)
    if found is None:
        if len(_SLIDES) >= 4096:
            _SLIDES.clear()
        found = _SLIDES[key] = tuple(
            Slide(k, s, d, p[0], n, w.pad_mode)
            for n, k, s, d, p in zip(inp, w.kernel, w.stride, w.dilation, w.padding, strict=True)
        )
    return found


def relation(
    graph: Graph,
    node: Node,
    out: tuple[int, ...] | None,
    inp: tuple[int, ...] | None,
    notes: list[str],
    moved: bool,
    terms: list[Term] | None = None,
) -> Relation | None:
    """Per axis, the matrix (node positions x parent positions, spatial sizes ``out`` and
    ``inp``); ``None`` on an axis means identity. ``None`` overall: not understood, every
    position reads every position. ``moved``: a permute moved some parent's spatial axes.
    ``terms``: what the output reads of the node, where known (see :func:`skipped`)."""
    if out is None or inp is None or len(out) != len(inp):
        return None
    kept = (node.kind is _RESHAPE or node.kind is _MOVE) and node.spatial_at is not None
    # an op that keeps the axes where a permute put them: positions stay themselves, or
    # (a recurrent layer along one of them) read the window it has
    along = moved and node.spatial_at is not None
    if node.kind is _PERMUTE or kept or (along and node.window is None):
        if out == inp:  # positions stay themselves while a permute has the axes elsewhere
            return (None,) * len(out)
    elif moved and not along:
        notes.append(f"{node.name} ({node.kind}): {MOVED_AXES}; treated as reading every position")
        notes += [] if terms is None else skipped(node, terms, out)
        return None
    window, scatter = node.window, node.scatter
    if node.spatial_at is not None:  # a layer's window on the axes where they are
        window, scatter = axes_window(node, graph.layout)
        if window is not node.window:  # narrowed: does it slide along a block's positions?
            notes += block_slide_note(graph, node)
    if window is not None and node.kind is not _INPUT:
        if window.identity and out == inp and len(window.kernel) == len(inp):
            # a 1x1 window: every position stays itself (what its slides would compute)
            return (None,) * len(out)
        return _slides(window, inp)
    if scatter is not None:
        return tuple(
            Scatter(k, s, d, p[0], n)
            for n, k, s, d, p in zip(
                inp, scatter.kernel, scatter.stride, scatter.dilation, scatter.padding, strict=True
            )
        )
    if node.resample is not None and node.spatial_at is None:
        reads = node.resample.reads(inp, out)  # a resize through its source coordinates
        if reads is not None:
            return tuple(spans_matrix(axis, n) for axis, n in zip(reads, inp, strict=True))
    if node.kind in (_ADAPTIVE_AVGPOOL, _ADAPTIVE_MAXPOOL):
        return tuple(adaptive_matrix(o, n) for o, n in zip(out, inp, strict=True))
    same_rank = len(node.input_shape) == len(node.output_shape)
    over_others = same_rank or node.spatial_at is not None  # (where the builder put them)
    if node.kind is _REDUCE and over_others and out == inp:  # over batch / channels
        return (None,) * len(out)
    if node.kind in POINTWISE and node.counted and out == inp:
        return (None,) * len(out)
    if node.kind is _LINEAR and out[:-1] == inp[:-1]:
        if graph.layout == "nhwc" and out == inp:  # features are the channel axis
            return (None,) * len(out)
        return (*(None,) * (len(out) - 1), Full(inp[-1]))
    notes.append(
        f"{node.name} ({node.kind}): not a sliding window; treated as reading every position"
    )
    return None


def spatial_concat(node: Node, facts: NodeFacts) -> tuple[int, tuple[int, ...]] | None:
    """A concatenation along a spatial axis: that axis and where each parent (in the order
    of ``node.parents``) starts on it; ``None`` for any other node, a concatenation along
    another axis, or one whose sizes do not tell the axis (the axis whose sizes add up to
    the output's, every other axis equal).

    >>> from stridescope.ir import GraphBuilder
    >>> from stridescope.analysis.node_facts import node_facts
    >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
    >>> left = b.slice(b.input, "left", spatial=[(0, 8, 1), (0, 2, 1)],
    ...                output_shape=(1, 3, 8, 2))
    >>> cat = b.other([b.input, left], "cat", kind=OpKind.CONCAT, output_shape=(1, 3, 8, 8))
    >>> g = b.build()
    >>> spatial_concat(g.nodes[cat], node_facts(g))  # along W: the input at 0, the slice at 6
    (1, (0, 6))
    """
    known = facts.sizes
    out = known[node.id]
    if node.kind is not _CONCAT or not node.counted or out is None or len(node.parents) < 2:
        return None
    if facts.parent_moved[node.id] and node.spatial_at is None:  # sizes where they are not
        return None
    sizes = [known[p] for p in node.parents]
    if any(s is None or len(s) != len(out) for s in sizes):
        return None
    axes = [
        j
        for j in range(len(out))
        if sum(s[j] for s in sizes if s) == out[j]
        and all(s[k] == out[k] for s in sizes if s for k in range(len(out)) if k != j)
    ]
    if len(axes) != 1:
        return None
    starts, at = [], 0
    for s in sizes:
        starts.append(at)
        at += s[axes[0]] if s else 0
    return axes[0], tuple(starts)


class Relations:
    """:func:`relation` of one node, computed once per distinct parent size (a
    concatenation of many equally sized parents asks the same question for each); the
    notes of a relation are repeated for every parent that asks, as computed afresh. A
    concatenation along a spatial axis places each parent at its own offset on that axis
    (:func:`spatial_concat`): output position ``o`` reads the parent's ``o - start``."""

    def __init__(
        self,
        graph: Graph,
        node: Node,
        facts: NodeFacts,
        notes: list[str],
        terms: list[Term] | None = None,
    ) -> None:
        self.graph, self.node, self.out, self.notes = graph, node, facts.sizes[node.id], notes
        self.terms = terms  # (what the output reads of the node: see :func:`skipped`)
        self.moved = facts.parent_moved[node.id]
        self.seen: dict[tuple[int, ...] | None, tuple[Relation | None, list[str]]] = {}
        self.placed = spatial_concat(node, facts)

    def of(self, inp: tuple[int, ...] | None, index: int = 0) -> Relation | None:
        """The relation to the parent of size ``inp``, the ``index``-th of the node's."""
        if self.placed is not None and inp is not None:
            axis, starts = self.placed
            shifted: list[BoolMatrix | Slide | Scatter | Full | None] = [None] * len(inp)
            shifted[axis] = Slide(1, 1, 1, starts[index], inp[axis])
            return tuple(shifted)
        if inp in self.seen:
            found, added = self.seen[inp]
            self.notes.extend(added)
            return found
        start = len(self.notes)
        found = relation(self.graph, self.node, self.out, inp, self.notes, self.moved, self.terms)
        self.seen[inp] = (found, self.notes[start:])
        return found


def passes(node: Node, facts: NodeFacts) -> bool:
    """Whether ``node`` keeps every position of each parent where it is (a counted norm,
    activation, merge or 1x1 window of equally sized, unmoved parents): the identity
    relation :func:`relation` would give, decided without building one."""
    known, moved = facts.sizes, facts.moved
    out = known[node.id]
    if out is None or not node.counted or node.scatter is not None:
        return False
    window = node.window
    if window is None:
        if node.kind not in POINTWISE:
            return False
    elif not window.identity or node.kind is _INPUT or len(window.kernel) != len(out):
        return False
    parents = node.parents
    if len(parents) == 1:  # most nodes: without the list's frame
        return known[parents[0]] == out and not moved[parents[0]]
    return all([known[p] == out and not moved[p] for p in parents])
