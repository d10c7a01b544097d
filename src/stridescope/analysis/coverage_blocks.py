"""Windows that slide along the positions inside blocks, for the coverage walk (see
:mod:`.coverage`).

A reshape that splits a spatial axis into blocks (:mod:`stridescope.ir.splits`) keeps the
blocks on the outer axis and holds the positions inside a block on the inner axes, as
channels: a patch embedding written by hand merges them into the channels, where every one is
read. A model that builds its image from a flat input, ``x.view(-1, 1, 28, 28)`` on
``(N, 784)`` samples, then slides a convolution along the inner axis too (the image's
columns): the walk reads every position of a block there, an upper bound that the summary
notes.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 64), "nchw")
>>> image = b.reshape(b.input, "view", output_shape=(1, 1, 8, 8))
>>> conv = b.conv(image, "conv", out_channels=4, kernel=3, stride=2)
>>> g = b.build()
>>> block_slide_note(g, g.nodes[conv])
["conv (conv): slides along the positions inside view's blocks (axis 3); treated as reading every position of a block"]
"""

from __future__ import annotations

from stridescope.ir import Graph, Node, OpKind, spatial_axes
from stridescope.ir.splits import split_axes

__all__ = ["POINTWISE", "block_slide_note"]

# Kinds that keep every spatial position where it is (identity relation, per axis; the
# coverage walk's, :mod:`.coverage_relations`).
POINTWISE = frozenset(
    {
        OpKind.INPUT,
        OpKind.NORM,
        OpKind.ACTIVATION,
        OpKind.DROPOUT,
        OpKind.ADD,
        OpKind.MUL,
        OpKind.CONCAT,
    }
)
# kinds that keep every axis where it is (a window or a per-position op): an inner axis
# found before one stays that axis after it
_KEEP_AXES = (POINTWISE - {OpKind.INPUT}) | {
    OpKind.CONV,
    OpKind.MAXPOOL,
    OpKind.AVGPOOL,
    OpKind.POLYPHASE,
    OpKind.PAD,
}
_SPLIT = OpKind.PIXEL_UNSHUFFLE
_LONGEST = 256  # nodes walked back at most (a deeper stack: no note)


def block_slide_note(graph: Graph, node: Node) -> list[str]:
    """The note for ``node``, a window on laid axes some of which are not its spatial ones,
    where it slides (kernel or stride above 1) along an axis that holds the positions inside
    the blocks of a reshape before it; ``[]`` otherwise (the window's other axes are the
    input's channels, as a spectrogram's frequency rows made a map's rows are)."""
    window, at = node.window, node.spatial_at
    if window is None or not at or not node.parents:
        return []
    laid = spatial_axes(len(node.output_shape), graph.layout)
    if len(window.kernel) != len(laid):
        return []
    slid = [
        axis
        for axis, k, s in zip(laid, window.kernel, window.stride, strict=True)
        if axis not in at and (k > 1 or s > 1)
    ]
    if not slid:
        return []
    split = _split_before(graph, node)
    if split is None:
        return []
    inner = _inner_axes(graph, split)
    hit = [a for a in slid if a in inner]
    if not hit:
        return []
    axes = ", ".join(str(a) for a in hit)
    return [
        f"{node.name} ({node.kind}): slides along the positions inside {split.name}'s blocks "
        f"(axis {axes}); treated as reading every position of a block"
    ]


def _split_before(graph: Graph, node: Node) -> Node | None:
    """The reshape into blocks that ``node``'s first parent comes from through ops that keep
    every axis where it is; ``None`` where another op lies between."""
    nodes, rank = graph.nodes, len(node.input_shape)
    parent = nodes[node.parents[0]]
    for _ in range(_LONGEST):
        if len(parent.output_shape) != rank:
            return None
        if parent.kind is _SPLIT and len(parent.input_shape) != rank:
            return parent
        if parent.kind not in _KEEP_AXES or not parent.parents:
            return None
        parent = nodes[parent.parents[0]]
    return None


def _inner_axes(graph: Graph, split: Node) -> set[int]:
    """The axes of ``split``'s output that hold the positions inside its blocks."""
    source = graph.nodes[split.parents[0]]
    axes = source.spatial_at or spatial_axes(len(source.output_shape), graph.layout)
    found = split_axes(source.output_shape, tuple(axes), split.output_shape)
    if found is None:
        return set()
    sizes, inner = split.output_shape, set()
    for q, block in zip(*found, strict=True):
        end, held = q + 1, 1
        while held < block and end < len(sizes):
            held *= int(sizes[end] or 1)
            inner.add(end)
            end += 1
    return inner
