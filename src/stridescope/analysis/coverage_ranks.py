"""Coverage past a change of spatial rank (see :mod:`.coverage`): a model that takes a
volume and reads it as frames (a frame selected, its size-1 axis squeezed away, 2-D layers
on it, the frames stacked again, as a loop over a video's frames or Keras's
``TimeDistributed`` does), or a map with an axis of size 1 squeezed.

The coverage walk starts at the last node with the input's spatial rank. Where the output
is a map of a lower rank whose sizes come from the input's through squeezes only (every
node on the way has meaningful sizes: each keeps its parents' rank, or drops or adds axes
of size 1), the fraction walk starts at the output instead, and a squeeze passes each term
through with the axis added back (:func:`through_rank`). Otherwise, what
reaches the output without passing through that last node is read whole
(:func:`live_start`): an upper bound, never less than what is read.

>>> squeeze_axes((16, 16), (1, 16, 16))  # the parent's first axis is the one squeezed
[None, 0, 1]
>>> squeeze_axes((16, 8), (16, 4, 2)) is None  # not a squeeze: positions merge
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from stridescope.analysis.coverage_relations import relation
from stridescope.analysis.coverage_terms import Term, compose_kept, ones, reads_any
from stridescope.ir import Graph, Node, OpKind, spatial_axes
from stridescope.ir.reshaped_axes import frame_axis, sized_alike

__all__ = [
    "dropped_axes",
    "folded_axes",
    "lifted_terms",
    "live_start",
    "past_note",
    "restacked_terms",
    "squeeze_axes",
    "squeezed_end",
    "through_rank",
    "token_entry",
]

Sizes = tuple[int, ...] | None
_SHAPE_ONLY = (OpKind.RESHAPE, OpKind.MOVE)
_CONCAT = OpKind.CONCAT


def live_start(graph: Graph, known: Sequence[Sizes], rank: int) -> tuple[int, list[int]]:
    """The last node with the input's spatial ``rank`` that reaches the output (or a
    returned tensor after it), and the nodes before it that a node after it reads on the
    way there: what they read reaches the output past it (a loop over a video's frames, 2-D
    layers on each, then a stack: the frames it does not hold count too). A node the output
    does not need is passed over (``x.unbind(2)[0]``: the other pieces)."""
    nodes = graph.nodes
    last = len(nodes) - 1
    live = {last, *graph.returned}
    add = live.update
    while last > 0:
        if last in live:
            sizes = known[last]
            if sizes is not None and len(sizes) == rank:
                break
            add(nodes[last].parents)
        last -= 1
    if last == 0 and 0 not in live:  # an output made without the input: as before
        last = max(i for i, sizes in enumerate(known) if sizes is not None and len(sizes) == rank)
        return last, []
    return last, sorted(p for p in live if p < last and p not in graph.returned)


def token_entry(graph: Graph, known: Sequence[Sizes], last: int, rank: int) -> int | None:
    """Where the fraction walk from ``last`` may start instead: the parent of the first node
    whose sizes are not of the input's spatial ``rank`` (``flatten`` into tokens), where that
    node has one parent and every node after it reads only it or later ones. Every path from
    the output to the input then passes through it, and the walk from ``last`` (LeViT's and
    XCiT's are token tensors of four axes, hundreds of nodes on) and past it would reach the
    input there only, reading that parent whole, as a walk from the parent does: the same
    fraction, without the walk through the tokens. ``None`` where there is no such node."""
    try:  # (map and count at C speed: a network of maps alone is let go here)
        ranks = list(map(len, cast(Sequence[tuple[int, ...]], known[: last + 1])))
        if ranks.count(rank) == len(ranks):
            return None
        first = next(i for i, n in enumerate(ranks) if n != rank)
    except TypeError:  # a node without spatial sizes
        first = next(i for i, s in enumerate(known[: last + 1]) if s is None or len(s) != rank)
    nodes = graph.nodes
    parents = nodes[first].parents
    if len(parents) != 1 or _squeeze(nodes[first]) or first >= last:
        return None
    for node in nodes[first + 1 :]:
        for p in node.parents:
            if p < first:
                return None  # (a residual around it, as in Swin's blocks)
    return parents[0]


def squeeze_axes(out: tuple[int, ...], inp: tuple[int, ...]) -> list[int | None] | None:
    """Per parent spatial axis (sizes ``inp``), the node's axis (sizes ``out``) it is, or
    ``None`` for an axis of size 1 the node does not have; ``None`` overall unless the node
    only drops or adds axes of size 1."""
    axes: list[int | None] = []
    i = j = 0
    while i < len(inp) or j < len(out):
        if i < len(inp) and j < len(out) and inp[i] == out[j]:
            axes.append(j)
            i, j = i + 1, j + 1
        elif i < len(inp) and inp[i] == 1:
            axes.append(None)
            i += 1
        elif j < len(out) and out[j] == 1:
            j += 1  # an axis of size 1 the parent does not have
        else:
            return None
    return axes


def _squeeze(node: Node) -> bool:
    """Whether ``node`` only drops or adds axes of size 1 (``x[:, :, 0]``'s squeeze,
    ``unsqueeze``, ``unbind``'s pieces): its whole shape, 1s left out, is its parent's."""
    if node.kind not in _SHAPE_ONLY or len(node.parents) != 1 or node.scatter is not None:
        return False
    return sized_alike(node.input_shape, node.output_shape)


def _reads_as_rank(graph: Graph, node: Node, parent: int, sizes: Sizes, above: Sizes) -> bool:
    """Whether ``node`` reads ``parent`` across a change of rank by axes of size 1, or by
    frames folded into the batch (see :func:`through_rank`)."""
    if _squeeze(node):
        return sizes is not None and above is not None and squeeze_axes(sizes, above) is not None
    if folded_axes(graph, node, graph.nodes[parent]) is not None:
        return True
    view = graph.spatial(node.input_shape)
    return (
        len(node.parents) == 1
        and sizes is not None
        and len(view) == len(sizes)
        and dropped_axes(graph, node, graph.nodes[parent], above) is not None
    )


def squeezed_end(graph: Graph, known: Sequence[Sizes], last: int, rank: int) -> int | None:
    """The output node, where it is a map of a lower rank than the input's (``rank``) whose
    sizes come from the input's through squeezes only (see the module), else ``None``."""
    tail = len(known) - 1
    end = known[tail]
    if tail == last or end is None or len(end) >= rank:
        return None
    meaningful = [False] * len(known)
    meaningful[0] = True
    for node in graph.nodes[1:]:
        sizes = known[node.id]
        if sizes is None:
            continue
        for p in node.parents:
            above = known[p]
            if not meaningful[p] or above is None:
                break
            if len(above) != len(sizes) and not _reads_as_rank(graph, node, p, sizes, above):
                break
        else:
            meaningful[node.id] = True
    return tail if meaningful[tail] else None


def dropped_axes(graph: Graph, node: Node, above: Node, sizes: Sizes) -> list[int | None] | None:
    """Where ``node`` (not a reshape) reads its parent ``above`` (spatial ``sizes``, placed
    at ``above.spatial_at``) as a map of its own layout's rank: per parent axis, the node's
    spatial axis at the same place, or ``None`` for an axis of size 1 at a place the node
    does not take as spatial (a frame's axis, indexed at the batch's place: ``y[t]`` after
    ``permute(2, 0, ...)``, Keras's ``TimeDistributed``); ``None`` overall for another
    reading."""
    at = above.spatial_at
    if not at or sizes is None or len(at) != len(sizes) or node.kind in _SHAPE_ONLY:
        return None
    if node.input_shape != above.output_shape:
        return None
    own = spatial_axes(len(node.input_shape), graph.layout)
    axes: list[int | None] = []
    for place, size in zip(at, sizes, strict=True):
        if place in own:
            axes.append(own.index(place))
        elif size == 1 or place == 0:  # (frames folded into the batch, read as the batch)
            axes.append(None)
        else:
            return None
    return axes if sorted(a for a in axes if a is not None) == list(range(len(own))) else None


def folded_axes(graph: Graph, node: Node, above: Node) -> list[int | None] | None:
    """Where a reshape that folds the axis after the batch into the batch, ``(B, F, *rest)``
    to ``(B * F, *rest)`` with ``F`` a spatial axis (a video's frames, for 2-D layers on
    each: ``x.transpose(1, 2).reshape(b * t, c, h, w)``), puts its parent's spatial axes: the
    node's own for the rest, ``None`` for ``F``; ``None`` for any other node.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((2, 3, 4, 8, 8), "nchw")
    >>> frames = b.permute(b.input, "frames", dims=(0, 2, 1, 3, 4))
    >>> folded = b.reshape(frames, "fold", output_shape=(8, 3, 8, 8))
    >>> g = b.build()
    >>> folded_axes(g, g.nodes[folded], g.nodes[frames])
    [None, 0, 1]
    """
    shape, out = above.output_shape, node.output_shape
    if node.kind is not OpKind.RESHAPE or len(shape) != len(out) + 1 or None in shape:
        return None
    if out[0] != cast(int, shape[0]) * cast(int, shape[1]) or out[1:] != shape[2:]:
        return None
    at = above.spatial_at or spatial_axes(len(shape), graph.layout)
    own = node.spatial_at or spatial_axes(len(out), graph.layout)
    if 1 not in at or sorted(p - 1 for p in at if p != 1) != sorted(own):
        return None
    return [None if p == 1 else own.index(p - 1) for p in at]


def through_rank(
    graph: Graph,
    node: Node,
    parent: int,
    terms: list[Term],
    known: Sequence[Sizes],
    notes: list[str],
) -> list[Term] | None:
    """``terms`` of ``node`` as terms of ``parent`` where their ranks differ by axes of size
    1 (rows of one output each, as the fraction walk keeps): through a squeeze
    (:func:`squeeze_axes`), or through a layer that takes its parent's axes of size 1 as
    the batch (:func:`dropped_axes`: its own relation on the rest); ``None`` otherwise. An
    axis the parent has alone reads its one position; one the node has alone is dropped, and
    a term that reads nothing on it reads nothing."""
    out, inp = known[node.id], known[parent]
    if out is None or inp is None or len(out) == len(inp):
        return None
    axes = (
        squeeze_axes(out, inp) if _squeeze(node) else folded_axes(graph, node, graph.nodes[parent])
    )
    if axes is None and len(node.parents) == 1:
        axes = dropped_axes(graph, node, graph.nodes[parent], inp)
        view = cast(tuple[int, ...], graph.spatial(node.input_shape))  # (the parent's, known)
        read = None if axes is None else relation(graph, node, out, view, notes, False)
        if read is None:
            return None
        pulled = [compose_kept(term, read) for term in terms]
        terms, out = [t for t in pulled if t is not None], view
    if axes is None:
        return None
    kept = set(axes)
    dropped = [j for j in range(len(out)) if j not in kept]
    return [
        # (an axis the parent has alone: every position, its one of a squeeze, every frame of
        # frames folded into the batch, as the layers after read each)
        tuple(ones(1, inp[i]) if j is None else term[j] for i, j in enumerate(axes))
        for term in terms
        if all(reads_any(term[j]) for j in dropped)
    ]


def past_note(names: list[str], last: str) -> str:
    """The map's note on what reaches the output past its last node, read whole."""
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return (
        f"{names[0]}{more} reach the output past {last}: counted as reading every position "
        "(an upper bound)"
    )


def restacked_terms(
    graph: Graph, node: Node, index: int, terms: list[Term], known: Sequence[Sizes]
) -> list[Term] | None:
    """``terms`` of ``node`` as terms of its ``index``-th parent where ``node`` stacks frames
    picked from the input back on the axis they were picked along
    (:func:`~stridescope.ir.reshaped_axes.restacked_axes`): the terms that read that part's
    position on the axis, the axis left out (the part has one position there: its squeeze
    puts it back, :func:`through_rank`); ``None`` for any other node. Each term keeps one row
    per axis (the fraction's walk: rows of outputs per frame are not kept apart here)."""
    if node.kind is not _CONCAT or not node.parents:
        return None
    out, part = known[node.id], known[node.parents[index]]
    if out is None or part is None or len(part) != len(out) - 1:
        return None
    axis = frame_axis(graph.nodes, graph.nodes[node.parents[0]], graph.layout)
    if axis is None:
        return None
    return [term[:axis] + term[axis + 1 :] for term in terms if term[axis][:, index].any()]


def lifted_terms(
    graph: Graph,
    node: Node,
    index: int,
    terms: list[Term],
    known: Sequence[Sizes],
    notes: list[str],
    walk: tuple[bool, bool, bool],
) -> tuple[list[Term] | None, bool, bool]:
    """The coverage walk's ``terms`` of ``node`` as terms of its ``index``-th parent across a
    change of rank, and the walk's ``lowered`` and ``refined`` after it (``walk``: those
    two, then whether it walks for a count map): :func:`through_rank` in a walk from a
    lower rank, else frames stacked back (:func:`restacked_terms`), which lower the rest of
    the walk (their squeezes); a count map reads those whole (its counts an upper bound,
    its note says so; its fraction is the fraction walk's, exact). ``None``: no change of
    rank understood here."""
    lowered, refined, for_map = walk
    parent = node.parents[index]
    lifted = through_rank(graph, node, parent, terms, known, notes) if lowered else None
    if lifted is not None:
        return lifted, lowered, refined
    if (
        node.kind is not _CONCAT
        or (lifted := restacked_terms(graph, node, index, terms, known)) is None
    ):
        return None, lowered, refined
    if not for_map:
        return lifted, True, refined
    note = f"the frames {node.name} stacks are counted as reading every position (an upper bound)"
    if note not in notes:
        notes.append(note)
    return None, lowered, True
