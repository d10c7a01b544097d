"""What happens past the node input coverage is measured at.

Coverage is measured at the last node with the input's spatial rank that the output needs
(:func:`~stridescope.analysis.coverage_ranks.live_start`); the nodes past it (tokens, a
flattened map, a head) are taken to read every value of it. That holds for a classifier's
head and for attention, which mixes every token into each, but not where a node past it
keeps part of its input with nothing mixing the rest back in: a ``select`` of one row of a
flattened map, a strided convolution over tokens, a resize that skips positions. There the
coverage is an upper bound, and :func:`dropped_past` names such a node for the summary's note.
Where a product comes before ``last`` (a token tensor that happens to have the input's rank,
after attention), each value of ``last`` may already read every position: no note, as before.

First, forward from ``last``: a product met before any node that keeps part (pieces of a
cut aside) ends the question, as attention mixes every token back in (a vision
transformer's class token, picked at its end: no pass over its blocks). Otherwise the
question is answered backwards from the output over the nodes past ``last``, in one pass in
reverse order: each needs every value of its output (``_ALL``), only some (``_SOME``), or none.
A node that keeps part of its first parent (:func:`_keeps_part`) needs only some of it, unless
such nodes together take as many values as it has (``chunk``, ``split``, ``unbind``: the
pieces); a product (attention's ``q @ k`` and ``weights @ v``, a fused attention) is taken
to need every value of its operands, as one output row reads a whole operand (taken so of a
product with weights too: the note stays for what is known to drop); every other node needs
of its parents what is needed of it.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 1, 18, 23), "nchw")
>>> flat = b.reshape(b.input, "flat", output_shape=(1, 18, 23))
>>> row = b.other([flat], "row", kind="move", output_shape=(1, 23), op="select")
>>> dropped_past(b.build(), 0)
'row (select) past input, where input coverage is measured, keeps part of its input; treated as reading all of it'
"""

from __future__ import annotations

import math
from typing import cast

from stridescope.analysis.axis_reads import window_reads
from stridescope.ir import Graph, Node, OpKind

__all__ = ["dropped_past"]

_SOME, _ALL = 1, 2
_MATMUL = OpKind.MATMUL
_PARTS = (OpKind.SLICE, OpKind.MOVE)
_UNWINDOWED = (OpKind.INPUT, OpKind.PERMUTE)  # (a window that is not one of its reads)


def dropped_past(graph: Graph, last: int) -> str | None:
    """The note on the first node past ``last`` that keeps part of what the output needs of
    ``last`` (see the module), ``None`` where every value of ``last`` is needed."""
    nodes = graph.nodes
    i, end = last + 1, len(nodes)
    while i < end:  # to the first node that keeps part, not a piece (see ``_pieces``)
        node = nodes[i]
        if node.kind is _MATMUL:
            return None  # (attention before what keeps part: it mixes every token back in)
        if (node.kind in _PARTS or node.window is not None or node.resample is not None) and (
            _keeps_part(graph, node)
        ):
            if not (cut := _pieces(graph, i)):
                break
            i += cut
        else:
            i += 1
    else:
        return None
    if any(n.kind is _MATMUL for n in nodes[: last + 1]):
        return None  # (attention before ``last``: each of its values may read every token)
    kept = {j for j in range(i, end) if _keeps_part(graph, nodes[j])}
    need = _needs(graph, last, kept)
    if need[last] != _SOME:
        return None
    node = next(nodes[j] for j in sorted(kept) if need[j])
    return (
        f"{node.name} ({node.op}) past {nodes[last].name}, where input coverage is measured, "
        "keeps part of its input; treated as reading all of it"
    )


def _pieces(graph: Graph, first: int) -> int:
    """How many nodes from ``first`` on cut one parent into pieces that are each read and
    together hold every value of it (``chunk``, ``split``, ``unbind``: made one after the
    other); 0 where ``first`` does not begin such a cut."""
    nodes = graph.nodes
    parent = nodes[first].parents[0]
    cut, size, whole = first, 0, _size(nodes[parent].output_shape)
    while cut < len(nodes) and nodes[cut].kind in _PARTS and nodes[cut].parents[:1] == (parent,):
        size += _size(nodes[cut].output_shape)
        cut += 1
    if size < whole or not all(_used(graph, j) for j in range(first, cut)):
        return 0
    return cut - first


def _used(graph: Graph, node: int) -> bool:
    """Whether some node reads ``node`` (looked for from the next one on) or it is returned."""
    nodes = graph.nodes
    if node == len(nodes) - 1 or node in graph.returned:
        return True
    return any(node in nodes[i].parents for i in range(node + 1, len(nodes)))  # (soon after)


def _needs(graph: Graph, last: int, kept: set[int]) -> bytearray:
    """Per node from ``last`` on, what the output needs of it: ``_ALL``, ``_SOME`` or
    nothing (0), decided backwards (see the module)."""
    nodes = graph.nodes
    end = len(nodes)
    need = bytearray(end)
    need[end - 1] = _ALL
    for r in graph.returned:
        need[r] = _ALL
    taken: dict[int, int] = {}  # per node: its values taken by pieces that need all of theirs
    for i in range(end - 1, last - 1, -1):
        now = need[i]
        if not now:
            continue
        if now == _SOME and i in taken and taken[i] >= _size(nodes[i].output_shape):
            now = need[i] = _ALL
        if i == last:
            break
        node = nodes[i]
        parents = node.parents
        if i in kept:
            first = parents[0]
            if now == _ALL and node.kind in _PARTS:  # (a piece: as many values as it holds)
                taken[first] = taken.get(first, 0) + _size(node.output_shape)
            if not need[first]:
                need[first] = _SOME
            parents = parents[1:]
        elif node.kind is _MATMUL:
            now = _ALL  # (a product: attention, whose rows each read every token)
        for p in parents:
            if need[p] < now:
                need[p] = now
    return need


def _size(shape: tuple[int | None, ...]) -> int:
    return -1 if None in shape else math.prod(shape)  # type: ignore[arg-type]


def _keeps_part(graph: Graph, node: Node) -> bool:
    """Whether ``node`` reads only part of its first parent: a slice or a move to fewer
    values, a strided window or a resize that skips some positions (on the axes the layout
    has, where a permute left them)."""
    if not node.parents:
        return False
    kind = node.kind
    if kind in _PARTS:
        return 0 <= _size(node.output_shape) < _size(graph.nodes[node.parents[0]].output_shape)
    if node.spatial_at is not None:
        return False
    spatial, out = graph.spatial(node.input_shape), graph.spatial(node.output_shape)
    if None in spatial or None in out:
        return False
    window = node.window
    if window is not None and kind not in _UNWINDOWED:
        if window.stride.count(1) == len(window.stride) and not window.crops:
            return False  # (every position read: the common case, without the sums)
        if not len(window.kernel) == len(spatial) == len(out):
            return False
        sizes, outs = cast(tuple[int, ...], spatial), cast(tuple[int, ...], out)
        return any(r.read < r.size for r in window_reads(window, sizes, outs))
    if node.resample is not None and kind is OpKind.INTERPOLATE:
        resample = node.resample
        if not len(spatial) == len(out) == len(resample.scales or resample.picks):
            return False  # (axes the resize does not name: left alone, as the rows leave it)
        read = resample.read_fraction(spatial, out)
        return read is not None and read < 1
    return False
