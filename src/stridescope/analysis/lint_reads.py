"""Which input positions a layer reads, per axis, and which outputs of the layers before it
nothing reads: the geometry behind DS101 (skipped input) and DS201 (dropped border).

A sliding window reads a product of per-axis sets: on each axis, the positions some tap of
some output touches (:class:`~stridescope.analysis.coverage_terms.Slide`, the same relation
the coverage map is built from). On one axis, unread positions *between* read ones are
skipped input; unread positions before the first or after the last read one, in a run longer
than any gap between read ones, are a dropped border (one axis's reads: :mod:`.axis_reads`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stridescope.analysis.axis_reads import (
    AxisReads,
    AxisWindow,
    axis_reads,
    mask_reads,
    slide_reads,
    window_reads,
)
from stridescope.analysis.coverage_terms import BoolVector, union_size
from stridescope.analysis.lint_base import LintContext
from stridescope.ir import Node, OpKind
from stridescope.ir.axes import axes_window, slice_axes

# per-node OpKind members as module names (``OpKind.X`` is slow on Python 3.11: see builder_core)
_INPUT, _PAD, _SLICE = OpKind.INPUT, OpKind.PAD, OpKind.SLICE

__all__ = [
    "AxisReads",
    "AxisWindow",
    "Producer",
    "axis_reads",
    "keeps_positions",
    "layer_reads",
    "polyphase",
    "producers",
    "read_terms",
    "split_roots",
    "unpadded_reads",
    "windowed",
]

_KEEP_KINDS = frozenset(
    {OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.ADD, OpKind.MUL, OpKind.CONCAT}
)
_IDENTITY_WINDOWS = frozenset({OpKind.CONV, OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.PAD})


def unpadded_reads(ctx: LintContext, node: Node) -> tuple[AxisReads, ...] | None:
    """:func:`layer_reads`, of the positions an explicit pad before ``node`` did not add
    (BlurPool's reflect pad, BiT's ``ConstantPad2d`` before its max pool): a window that
    never reads a padded row drops nothing, as with the same padding inside the layer."""
    reads = layer_reads(ctx, node)
    if reads is None:
        return None
    parent = ctx.graph.nodes[node.parents[0]]
    if parent.kind is not _PAD or parent.window is None or parent.spatial_at is not None:
        return reads
    pads = parent.window.padding
    if len(pads) != len(reads) or any(b < 0 or a < 0 for b, a in pads):
        return reads  # (a crop drops what it says)
    return tuple(mask_reads(r.mask[b : r.size - a]) for r, (b, a) in zip(reads, pads, strict=True))


def layer_reads(ctx: LintContext, node: Node) -> tuple[AxisReads, ...] | None:
    """Per axis, what ``node``'s sliding window reads of its input; ``None`` without a window
    or when a size is unknown (or a permute moved the axes). See :func:`windowed`."""
    return windowed(ctx).get(node.id)


def windowed(ctx: LintContext) -> dict[int, tuple[AxisReads, ...]]:
    """:func:`layer_reads` of every node that has them, by node id in graph order: computed
    once per context, so a rule looking at windows visits only the nodes that have one."""
    found: dict[int, tuple[AxisReads, ...]] | None = ctx.cache.get("windowed")
    if found is None:
        found = ctx.cache["windowed"] = {}
        for node in ctx.graph.nodes:
            reads = None if node.window is None else _layer_reads(ctx, node)
            if reads is not None:
                found[node.id] = reads
    return found


def polyphase(ctx: LintContext) -> dict[int, int]:
    """The strided slices that are pieces of a polyphase split, each with the tensor it
    splits: slices of one tensor at the same stride that between them read every position
    of it, each read by something (space-to-depth written with slices, ``x[..., ::2, ::2]``,
    ``x[..., 1::2, ::2]``, ... as YOLOv5's Focus; a rotary embedding's ``x[..., ::2]`` and
    ``x[..., 1::2]``), each on the axes its own window is on. No piece skips input or
    aliases: what one leaves out another reads, as after ``pixel_unshuffle``. Computed once
    per context.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
    >>> even = b.slice(b.input, "even", spatial=[(0, 8, 1), (0, 8, 2)], output_shape=(1, 3, 8, 4))
    >>> odd = b.slice(b.input, "odd", spatial=[(0, 8, 1), (1, 8, 2)], output_shape=(1, 3, 8, 4))
    >>> alone = b.slice(odd, "alone", spatial=[(0, 8, 2), (0, 4, 1)], output_shape=(1, 3, 4, 4))
    >>> _ = b.merge([even, odd], "sum", kind=OpKind.ADD)
    >>> polyphase(LintContext(b.build()))  # even and odd split the input; alone skips rows
    {1: 0, 2: 0}
    """
    found: dict[int, int] | None = ctx.cache.get("polyphase")
    if found is not None:
        return found
    found = ctx.cache["polyphase"] = {}
    graph, last = ctx.graph, len(ctx.graph.nodes) - 1
    groups: dict[tuple[int, tuple[int, ...], tuple[int, ...]], list[int]] = {}
    reads: dict[int, tuple[AxisReads, ...]] = {}
    for node in graph.nodes:
        window = node.window
        if node.kind is not _SLICE or window is None or max(window.stride, default=1) == 1:
            continue
        if not ctx.consumers[node.id] and node.id != last:
            continue  # (a piece nothing reads reads nothing)
        above = graph.nodes[node.parents[0]]
        axes = slice_axes(above, graph.layout, graph.nodes)  # (the slice's own)
        sizes = [n for a in axes if (n := node.input_shape[a]) is not None]
        outs = [n for a in axes if (n := node.output_shape[a]) is not None]
        if not len(sizes) == len(outs) == len(axes) == len(window.kernel):
            continue  # (a size unknown)
        w = window
        reads[node.id] = tuple(
            slide_reads(1, s, 1, p[0], w.pad_mode, n, o)  # (kernel-1 windows)
            for s, p, n, o in zip(w.stride, w.padding, sizes, outs, strict=True)
        )
        groups.setdefault((node.parents[0], w.stride, tuple(sizes)), []).append(node.id)
    for (parent, _, spatial), ids in groups.items():
        terms = [tuple([r.mask for r in reads[i]]) for i in ids]
        if len(ids) > 1 and union_size(terms) == math.prod(spatial):
            found.update(dict.fromkeys(ids, parent))
    return found


def split_roots(ctx: LintContext) -> list[int | None]:
    """Per node id, the tensor whose polyphase pieces (:func:`polyphase`) alone make the
    node: a piece, a piece of a piece (a Haar wavelet's rows, then its columns), or ops that
    keep their positions on them and merges of them (the wavelet's sums and differences);
    ``None`` for every other node. Computed once per context, in graph order."""
    roots: list[int | None] | None = ctx.cache.get("split_roots")
    if roots is not None:
        return roots
    pieces = polyphase(ctx)
    roots = ctx.cache["split_roots"] = [None] * len(ctx.graph.nodes)
    if not pieces:
        return roots
    for node in ctx.graph.nodes[min(pieces) :]:
        split = pieces.get(node.id)
        if split is not None:
            roots[node.id] = split if roots[split] is None else roots[split]
            continue
        found = {roots[p] for p in node.parents}
        one = len(found) == 1 and None not in found
        if one and all([keeps_positions(ctx, node, p) for p in node.parents]):
            roots[node.id] = found.pop()
    return roots


def _layer_reads(ctx: LintContext, node: Node) -> tuple[AxisReads, ...] | None:
    window = node.window
    if window is None or node.kind is _INPUT or len(node.parents) != 1:
        return None
    known = ctx.facts.layout_sizes
    parent = node.parents[0]
    if node.spatial_at is not None and node.spatial_at == ctx.graph.nodes[parent].spatial_at:
        known = ctx.facts.sizes  # a window on axes a permute moved (GraphBuilder.channels_first)
        window = axes_window(node, ctx.graph.layout)[0] or window  # (the layer's, where they are)
    sizes, outs = known[parent], known[node.id]
    rank = len(window.kernel)
    if sizes is None or outs is None or len(sizes) != rank or len(outs) != rank:
        return None
    return window_reads(window, sizes, outs)


def keeps_positions(ctx: LintContext, node: Node, parent: int) -> bool:
    """Whether ``node``'s output positions are ``parent``'s output positions, one to one:
    a shape-preserving op or merge, or a window of kernel 1, stride 1 and no padding."""
    above = ctx.graph.nodes[parent]
    same = ctx.known(node) is not None and ctx.known(node) == ctx.known(above)
    if not same or not node.counted:
        return False
    if node.kind in _KEEP_KINDS:
        return True
    window = node.window
    return (
        node.kind in _IDENTITY_WINDOWS
        and window is not None
        and not window.crops
        and all(k == 1 and s == 1 for k, s in zip(window.kernel, window.stride, strict=True))
        and all(p == (0, 0) for p in window.padding)
    )


Terms = list[tuple[BoolVector, ...]] | None  # a union of per-axis products; None: everything


def read_terms(ctx: LintContext, node_id: int) -> Terms:
    """The positions of ``node_id``'s output that its consumers read, as a union of per-axis
    products; ``None`` when every position is read (or that cannot be known). Through a
    consumer that keeps positions (an activation, an add, a 1x1 stride-1 conv), what *its*
    consumers read counts. Computed for every node once, in reverse order."""
    if "read_terms" not in ctx.cache:
        ctx.cache["read_terms"] = _all_read_terms(ctx)
    terms: Terms = ctx.cache["read_terms"][node_id]
    return terms


def _all_read_terms(ctx: LintContext) -> list[Terms]:
    graph = ctx.graph
    result: list[Terms] = [None] * len(graph.nodes)
    for node in reversed(graph.nodes):
        consumers = ctx.consumers[node.id]
        if not consumers or ctx.known(node) is None:
            continue
        terms: list[tuple[BoolVector, ...]] = []
        for child_id in consumers:
            child = graph.nodes[child_id]
            if keeps_positions(ctx, child, node.id):
                sub = result[child_id]
            else:
                reads = layer_reads(ctx, child)
                sub = None if reads is None else [tuple(r.mask for r in reads)]
            if sub is None or any(all(m.all() for m in t) for t in sub):
                break
            terms.extend(sub)
        else:
            unique = {tuple(m.tobytes() for m in t): t for t in terms}
            result[node.id] = list(unique.values())
    return result


@dataclass(frozen=True)
class Producer:
    """A layer whose outputs are (in part) read by nobody: ``positions`` computed, ``read``
    of them read by some consumer, ``wasted_macs`` spent on the rest."""

    layer: str
    positions: int
    read: int
    wasted_macs: int

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "positions": self.positions,
            "read_positions": self.read,
            "wasted_macs": self.wasted_macs,
        }


def producers(ctx: LintContext, node_id: int) -> tuple[Producer, ...]:
    """The layers that compute ``node_id``'s output positions (walking up through ops that
    keep positions) and spend MACs on positions nothing reads, nearest first.

    The seed CNN: ``conv2d_2`` (1x1, stride 2) reads 7x7 of the 13x13 outputs of
    ``conv2d_1/relu``, so ``conv2d_1`` spends 120/169 of its MACs on values nothing reads."""
    graph = ctx.graph
    found: list[tuple[int, Producer]] = []
    stack, seen = [node_id], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        terms = read_terms(ctx, current)
        spatial = ctx.known(graph.nodes[current])
        if terms is None or spatial is None:
            continue  # every position is read: nothing above it is wasted through here
        node = graph.nodes[current]
        total = math.prod(spatial)
        read = union_size(terms) if terms else 0
        if node.macs and read < total:
            wasted = node.macs * (total - read) // total
            found.append((current, Producer(node.name, total, read, wasted)))
        stack.extend(p for p in node.parents if keeps_positions(ctx, node, p))
    return tuple(p for _, p in sorted(found, key=lambda item: -item[0]))
