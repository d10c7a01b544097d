"""Which input positions (samples of a signal, pixels of an image, voxels of a volume) can
influence the output: exact coverage maps from geometry.

For every output position ``o`` of the graph's last spatial node (before a final global pool,
which reads every position), its exact receptive set
``S(o)`` is the set of input positions with a path of reads to it (zero padding reads nothing;
reflect, replicate and circular padding read the positions they copy). The map
counts, per input position ``i``, the output positions whose set contains it:
``counts[i] = #{o : i in S(o)}``. A 1x1 stride-2 convolution reads one pixel in four, so its
map is a checkerboard with 25% of the pixels ever read; a 1-tap stride-2 Conv1d reads every
other sample.

How: the relation "output position o reads position p of node v" is propagated backward from
the output through the DAG. Every window in the IR is separable per axis, so along a chain the
relation is a product of one small boolean matrix per axis, ``(outputs on axis j) x (positions
on axis j)``; where branches meet (add, concat), the relations are unions of such products,
kept exact as a short list of product terms (merged where one contains the other, or where
they differ on one axis only). A sliding window is applied to a term with one strided
slice-OR per tap (no matrix product); only adaptive pooling and dense layers use a (small)
boolean matrix. :func:`coverage_fraction` needs only the per-axis unions of the final terms,
so it never builds the count map: its cost does not grow with the number of input positions.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 6, 6), "nchw")
>>> _ = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
>>> cov = coverage_map(b.build())
>>> cov.fraction
0.25
>>> cov.counts[:2, :4].tolist()
[[1, 0, 1, 0], [0, 0, 0, 0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from stridescope.analysis.coverage_full import reads_everything_noted
from stridescope.analysis.coverage_past import dropped_past
from stridescope.analysis.coverage_ranks import (
    lifted_terms,
    live_start,
    past_note,
    squeezed_end,
    token_entry,
)
from stridescope.analysis.coverage_relations import POINTWISE, Relations, passes, relation
from stridescope.analysis.coverage_terms import (
    Term,
    compose_kept,
    merge_terms,
    ones,
    union_counts,
    union_size,
)
from stridescope.analysis.node_facts import NodeFacts, node_facts
from stridescope.analysis.units import position_noun, size_text
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, OpKind

__all__ = ["MAX_ENTRIES", "CoverageMap", "coverage_fraction", "coverage_map", "read_grid"]

MAX_ENTRIES = 2**27  # per-axis relation matrices and count maps larger than this are refused


@dataclass(frozen=True)
class CoverageMap:
    """Per input position, how many output positions of ``output_node`` it can influence
    (``counts`` has the input's spatial shape: ``(L,)``, ``(H, W)`` or ``(D, H, W)``)."""

    input_spatial: tuple[int, ...]
    counts: npt.NDArray[np.int64] = field(compare=False, repr=False)
    fraction: float
    output_node: str = ""
    output_spatial: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def position_unit(self) -> str:
        """``'samples'``, ``'pixels'`` or ``'voxels'``: what the input is made of."""
        return position_noun(len(self.input_spatial))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``counts`` as nested lists, one level per spatial axis;
        ``position_unit`` names what a count is per)."""
        return {
            "input_spatial": list(self.input_spatial),
            "position_unit": self.position_unit,
            "output_node": self.output_node,
            "output_spatial": list(self.output_spatial),
            "fraction": self.fraction,
            "counts": self.counts.tolist(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Terms:
    """The backward walk's result: the relation between the last spatial node and the input."""

    input_spatial: tuple[int, ...]
    output_node: str
    output_spatial: tuple[int, ...]
    everything: bool  # every input position feeds every output position
    terms: list[Term]
    notes: tuple[str, ...]
    start: int = 0  # the node walked from
    refined: bool = False  # the fraction walk is more exact (see ``coverage_ranks``)


def _fraction(walks: list[_Terms]) -> float:
    """The share of input positions some output position of some walk reads."""
    size = math.prod(walks[0].input_spatial)
    if any([w.everything and math.prod(w.output_spatial) > 0 for w in walks]):
        return 1.0
    terms = [term for w in walks for term in w.terms]
    if not terms:
        return 0.0
    # the union over outputs of a product is the product of the per-axis unions
    masks = [tuple(np.asarray(a.any(axis=0)) for a in term) for term in terms]
    return union_size(masks) / size


_GLOBAL_POOLS = (OpKind.ADAPTIVE_AVGPOOL, OpKind.ADAPTIVE_MAXPOOL)
_CONCAT = OpKind.CONCAT


def _before_global_pool(graph: Graph, known: list[tuple[int, ...] | None], last: int) -> int:
    """A network that ends in a global pool (then maybe position-wise ops on its 1x1 output)
    is mapped at the pool's input: the pool reads every position, so the coverage is the
    same, and the counts show how the last feature map's windows overlap instead of 1s."""
    node = graph.nodes[last]
    while known[node.id] is not None and all(d == 1 for d in known[node.id] or ()):
        if len(node.parents) != 1:
            break
        parent = node.parents[0]
        if node.kind in _GLOBAL_POOLS and node.counted:
            above = known[parent]
            wide = above is not None and len(above) == len(known[node.id] or ())
            if wide and max(above or (0,)) > 1:
                return parent
            break
        if node.kind not in POINTWISE or node.kind is OpKind.INPUT:
            break
        node = graph.nodes[parent]
    return last


def _check_size(graph: Graph, known: list[tuple[int, ...] | None], last: int) -> None:
    """Refuse a map whose per-axis relations (outputs of node ``last`` x the widest map up
    to it) would exceed :data:`MAX_ENTRIES` entries."""
    input_spatial = known[0] or ()
    rank = len(input_spatial)
    maps = [s for s in known[: last + 1] if s is not None and len(s) == rank]
    for axis, outputs in enumerate(known[last] or ()):
        widest = max([s[axis] for s in maps])
        if outputs * widest > MAX_ENTRIES:
            raise StridescopeError(
                f"coverage of a {size_text(input_spatial)} input is too large to compute: axis "
                f"{axis} relates {outputs:,} outputs of {graph.nodes[last].name!r} to up to "
                f"{widest:,} positions ({outputs * widest:,} > {MAX_ENTRIES:,} entries); "
                "give a smaller --input"
            )


def _full(out_spatial: tuple[int, ...], shape: tuple[int, ...]) -> list[Term]:
    """Every position of ``shape`` feeds every output: one term of ones (none when some
    axis is empty, as that term reads nothing); the term is memoised (read-only matrices)."""
    term = _FULL.get((out_spatial, shape))
    if term is None:
        if 0 in out_spatial or 0 in shape:
            return []
        term = tuple([ones(o, n) for o, n in zip(out_spatial, shape, strict=True)])
        if len(_FULL) >= 1024:
            _FULL.clear()
        _FULL[(out_spatial, shape)] = term
    return [term]


_FULL: dict[tuple[tuple[int, ...], tuple[int, ...]], Term] = {}


class _Begin(NamedTuple):
    """Where a walk starts (see :func:`_start`)."""

    last: int  # the node walked from
    input_spatial: tuple[int, ...]
    past: list[int]  # nodes whose reads reach the output past ``last``: read whole
    lowered: bool  # ``last`` is a map of a lower rank than the input's (coverage_ranks)
    refined: bool  # the fraction walk is more exact than a map's
    notes: list[str]  # the walk's notes so far


def _start(graph: Graph, facts: NodeFacts, for_map: bool, start: int | None = None) -> _Begin:
    """The last spatial node the output needs (see :func:`_walk`), or ``start``; what reaches
    the output past it (:func:`live_start`): the fraction walks from the output where only
    squeezes lie between (a video read as frames), else it is read whole."""
    known = facts.sizes
    input_spatial = known[0]
    if input_spatial is None:
        raise StridescopeError(
            f"coverage needs an input with known spatial sizes; received {graph.input_shape!r} "
            f"({graph.layout})"
        )
    rank, end = len(input_spatial), None
    if start is None:
        last, past = live_start(graph, known, rank)
        end = squeezed_end(graph, known, last, rank)
    else:  # the last node with as many spatial axes (the input is one)
        last, past = start, []
        while known[last] is None or len(known[last] or ()) != rank:
            last -= 1
    refined = bool(past) or end is not None
    if end is not None and not for_map:
        last, past = end, []
    elif for_map:
        last = _before_global_pool(graph, known, last)
    elif (entry := token_entry(graph, known, last, rank)) is not None:
        last, past = entry, []  # (the same fraction: see token_entry)
    _check_size(graph, known, last)
    names = [graph.nodes[p].name for p in past]
    notes = [past_note(names, graph.nodes[last].name)] if past else []
    return _Begin(last, input_spatial, past, end == last, refined, notes)


def _seed(out_spatial: tuple[int, ...], for_map: bool) -> tuple[tuple[int, ...], Term]:
    """Per axis, the rows a term keeps (every output for a map; one, "some output", for the
    fraction, none where the output is empty) and the last node's relation to itself."""
    if for_map:
        return out_spatial, tuple(np.eye(n, dtype=bool) for n in out_spatial)
    rows = tuple(min(n, 1) for n in out_spatial)
    return rows, tuple(ones(r, n) for r, n in zip(rows, out_spatial, strict=True))


def _walks(
    graph: Graph, facts: NodeFacts | None, for_map: bool, begin: _Begin | None = None
) -> list[_Terms]:
    """:func:`_walk` from the output, then from each other tensor the model returns that is
    a map of the input's rank (a feature pyramid's maps, an auxiliary head's mask): the
    input positions any of them reads are read."""
    facts = node_facts(graph) if facts is None else facts
    walks = [_walk(graph, facts, for_map, begin or _start(graph, facts, for_map))]
    rank, known = len(walks[0].input_spatial), facts.sizes
    for node in graph.returned:
        sizes = known[node]
        if sizes is not None and len(sizes) == rank and node not in [w.start for w in walks]:
            walks.append(_walk(graph, facts, for_map, _start(graph, facts, for_map, node)))
    return walks


def _walk(graph: Graph, facts: NodeFacts, for_map: bool, begin: _Begin) -> _Terms:
    """The relation between ``begin``'s node (:func:`_start`) and the input. Every term kept
    reads something. Without ``for_map`` (what :func:`coverage_fraction` needs) three things
    a count map needs are skipped, none of which changes the fraction: a final global pool is
    not stepped over (same coverage, larger map), the notes on nodes read whole anyway
    (which relation was not understood) are not worked out, and each term keeps one row per
    axis, the union over the outputs (a row of ``a @ M`` is the union of rows of ``a``
    pulled through ``M``, so the union of the rows can be pulled instead of the rows)."""
    nodes, known, moved = graph.nodes, facts.sizes, facts.parent_moved
    last, input_spatial, past, lowered, refined, notes = begin
    out_spatial = known[last] or ()
    rows, identity = _seed(out_spatial, for_map)
    pending: dict[int, list[Term]] = {last: [] if 0 in out_spatial else [identity]}
    everything: set[int] = set(past)  # nodes whose every position feeds every output
    for node in reversed(nodes[1 : last + 1]):
        whole = node.id in everything
        found = pending.pop(node.id, None)  # (no list made for nodes nothing reached)
        if not found and not whole:
            continue
        terms = (merge_terms(found) if len(found) > 1 else found) if found else []
        if not whole and passes(node, facts):
            for parent_id in node.parents:
                pending.setdefault(parent_id, []).extend(terms)
            continue
        if not node.counted:
            notes.append(f"{node.name} is uncounted: treated as reading every position")
        unread = not node.counted or (whole and not for_map)  # read whole (a map: see why)
        many = len(node.parents) > 1 and not unread
        relations = Relations(graph, node, facts, notes, terms) if many else None
        for index, parent_id in enumerate(node.parents):
            shape = known[parent_id]
            lifted = None
            if lowered or node.kind is _CONCAT:  # (a change of rank: see coverage_ranks)
                lifted, lowered, refined = lifted_terms(
                    graph, node, index, terms, known, notes, (lowered, refined, for_map)
                )
            if lifted is not None and not whole and node.counted:  # (see coverage_ranks)
                pending.setdefault(parent_id, []).extend(lifted)
                continue
            if unread:
                read = None
            elif relations is None:  # one parent: its relation, without the memo per size
                read = relation(graph, node, known[node.id], shape, notes, moved[node.id], terms)
            else:
                read = relations.of(shape, index)
            if read is None or whole:
                if shape is None or (not lowered and len(shape) != len(input_spatial)):
                    everything.add(parent_id)
                else:  # (past a squeeze, one row per axis of its own: see coverage_ranks)
                    own = rows if len(shape) == len(rows) else (1,) * len(shape)
                    pending.setdefault(parent_id, []).extend(_full(own, shape))
                continue
            into = pending.setdefault(parent_id, [])
            if all([m is None for m in read]):  # identity: the terms pass unchanged
                into.extend(terms)
                continue
            into.extend([c for term in terms if (c := compose_kept(term, read)) is not None])
    return _Terms(
        input_spatial,
        nodes[last].name,
        tuple(out_spatial),
        0 in everything,
        [] if 0 in everything else merge_terms(pending.get(0, [])),
        tuple(notes),
        last,
        refined,
    )


def coverage_fraction(
    graph: Graph, facts: NodeFacts | None = None, notes: list[str] | None = None
) -> float:
    """Share of ``graph``'s input positions that can influence its last spatial node: the
    ``fraction`` of :func:`coverage_map`, exactly, without building the count map
    (``facts``: the graph's :func:`node_facts`, when the caller has them; ``notes``: a list
    the walk adds its notes to, such as a node it read whole, not knowing how it moves the
    positions: there the fraction is an upper bound).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 2048, 2048), "nchw")
    >>> _ = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
    >>> coverage_fraction(b.build())
    0.25
    """
    facts = node_facts(graph) if facts is None else facts
    begin = _start(graph, facts, for_map=False)  # (every position read: no walk needed)
    if notes is not None and (past := dropped_past(graph, begin.last)) is not None:
        notes.append(past)
    if not begin.lowered and reads_everything_noted(graph, facts, begin.last, notes):
        return 1.0
    walks = _walks(graph, facts, for_map=False, begin=begin)
    if notes is not None:
        notes += [note for walk in walks for note in walk.notes]
    return _fraction(walks)


def coverage_map(graph: Graph) -> CoverageMap:
    """The exact coverage map of ``graph``'s input by its last spatial node, and by the other
    maps the model returns (``Graph.returned``: their counts add up)."""
    walks = _walks(graph, None, for_map=True)
    walk = walks[0]
    if math.prod(walk.input_spatial) > MAX_ENTRIES:
        raise StridescopeError(
            f"a coverage map of a {size_text(walk.input_spatial)} input has more than "
            f"{MAX_ENTRIES:,} {position_noun(len(walk.input_spatial))}; give a smaller --input "
            "(the summary's input coverage needs no map)"
        )
    counts = np.zeros(walk.input_spatial, dtype=np.int64)
    for each in walks:
        if each.everything:
            counts += math.prod(each.output_spatial)
        elif each.terms:
            counts += union_counts(each.terms)
    notes = [note for each in walks for note in each.notes]
    if (past := dropped_past(graph, walk.start)) is not None:  # (see coverage_past)
        notes.append(past)
    if len(walks) > 1:
        others = ", ".join(each.output_node for each in walks[1:])
        notes.append(f"the other maps the model returns are counted too: {others}")
    return CoverageMap(
        walk.input_spatial,
        counts,
        coverage_fraction(graph) if walk.refined else _fraction(walks),  # (see coverage_ranks)
        walk.output_node,
        walk.output_spatial,
        tuple(dict.fromkeys(notes)),
    )


def read_grid(cov: CoverageMap, size: int = 8) -> list[list[bool]]:
    """Which positions of the top-left ``size x size`` window are read: the first ``size``
    samples (one row) of a 1-D input, the first slice along the leading axis of a 3-D one.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 1, 4, 4), "nchw")
    >>> _ = b.conv(b.input, "c", out_channels=1, kernel=1, stride=2)
    >>> read_grid(coverage_map(b.build()), size=2)
    [[True, False], [False, False]]
    """
    read = cov.counts > 0
    if read.ndim == 1:
        return [[bool(v) for v in read[:size]]]
    while read.ndim > 2:
        read = read[0]
    return [[bool(v) for v in row[:size]] for row in read[:size]]
