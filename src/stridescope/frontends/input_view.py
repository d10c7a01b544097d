"""A model that makes its image from a flat input: ``x.view(-1, 1, 28, 28)`` on ``(N, 784)``
samples, ``x.view(-1, 3, 32, 32)`` on ``(N, 3072)``, then convolutions and pools over it.

Read as given, the input is a signal, and the view splits its samples into blocks
(:mod:`stridescope.ir.splits`): the rows are the blocks, the columns (and colour planes) the
positions inside a block, held as channels are. The windows that slide along the columns are
then lost to the receptive fields and the coverage (an upper bound: 89% where 80% of the
samples are read; the fields ``?`` where the blocks land on the channels' axis). The model
itself reads its input as the image, so the reader is run again on the image's shape, and
that graph is kept where it is the same work: as many nodes, each of the same kind, shape,
parameters and MACs (the view then keeps every axis whole). A note names the view.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 64), "nchw")
>>> image = b.reshape(b.input, "view", output_shape=(1, 1, 8, 8))
>>> conv = b.conv(image, "conv", out_channels=4, kernel=3, stride=2)
>>> viewed_shape(b.build())
(1, 1, 8, 8)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from stridescope.ir import Graph, Node, OpKind, Shape, spatial_axes
from stridescope.ir.reshaped_axes import sized_alike

__all__ = ["PER_POSITION", "read_as_viewed", "viewed_shape"]

_SPLIT, _RESHAPE = OpKind.PIXEL_UNSHUFFLE, OpKind.RESHAPE
# what may lie between the view and the first window (a scale, a norm, an activation)
PER_POSITION = frozenset({OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.MUL, OpKind.ADD})
_STEPS = 4


def viewed_shape(graph: Graph) -> tuple[int, ...] | None:
    """The shape of the image ``graph``'s model makes of its flat input: where the input (of
    two or three axes), after at most a few per-position ops each the one user of the last
    (``x / 255``), has one user, a reshape into blocks (of a higher rank, or the samples of
    ``(N, 1, L)`` cut into channels), batch kept, whose positions are not the layout's axes,
    and a window over every one of the axes of it, or of an axis of size 1 added to it,
    reads it (after at most a few per-position ops); else ``None``."""
    found = _found(graph)
    return None if found is None else found[1]


def _found(graph: Graph) -> tuple[Node, tuple[int, ...]] | None:
    """The view :func:`viewed_shape` looks for and the image's shape, or ``None``."""
    nodes = graph.nodes
    given = nodes[0].output_shape
    if len(given) > 3 or len(nodes) < 3:  # (an image or a volume already: nothing to do)
        return None
    view = _flat_end(graph)
    out = view.output_shape if view is not None else ()
    if view is None or view.kind is not _SPLIT or len(out) < len(given) or len(out) > 5:
        return None
    if None in out or out[0] != given[0]:
        return None
    if view.spatial_at == spatial_axes(len(out), graph.layout):
        return None
    image = _unsqueezed(graph, view)  # (``x.view(-1, 28, 28).unsqueeze(1)``)
    out = image.output_shape
    laid = spatial_axes(len(out), graph.layout)
    reached, front = {image.id}, [image.id]
    for _ in range(_STEPS):
        before = set(front)
        front = [n.id for n in nodes if not before.isdisjoint(n.parents)]
        for node_id in front:
            window = nodes[node_id].window
            if window is not None and len(window.kernel) == len(laid):
                return view, tuple(int(d) for d in out if d is not None)
        front = [i for i in front if nodes[i].kind in PER_POSITION and i not in reached]
        reached.update(front)
    return None


def _unsqueezed(graph: Graph, view: Node) -> Node:
    """``view``, or the reshape after it, its one user, that only adds axes of size 1 to it
    (a channel axis: ``x.view(-1, 28, 28).unsqueeze(1)``), where that has at most five."""
    users = graph.children(view.id)
    if len(users) != 1 or graph.nodes[users[0]].kind is not _RESHAPE:
        return view
    after = graph.nodes[users[0]]
    shape, more = view.output_shape, after.output_shape
    return after if sized_alike(shape, more) and len(shape) < len(more) <= 5 else view


def _flat_end(graph: Graph) -> Node | None:
    """The first node past the per-position ops on the flat input (each the one user of
    the node before it, of its shape), or ``None``. A first user that is neither such an op
    nor a reshape into blocks (a token embedding) ends the search without a look for more."""
    nodes, at = graph.nodes, 0
    for _ in range(_STEPS + 1):
        users = (n for n in nodes[at + 1 :] if at in n.parents)
        user = next(users, None)
        if user is None or (user.kind not in PER_POSITION and user.kind is not _SPLIT):
            return None
        if next(users, None) is not None:
            return None
        if user.kind not in PER_POSITION or user.output_shape != nodes[0].output_shape:
            return user
        at = user.id
    return None


def read_as_viewed(graph: Graph, read: Callable[[Shape], Graph]) -> Graph:
    """``graph``, or the graph ``read`` gives for the image its model makes of its input
    (:func:`viewed_shape`) where that is the same work, noted."""
    found = _found(graph)
    if found is None:
        return graph
    view, shape = found
    try:
        image = read(shape)
    except Exception:  # (the model's forward refuses the image: the flat reading stays)
        return graph
    if not _same_work(graph, image, view):
        return graph
    note = (
        f"its forward views the {graph.input_shape} input as {shape} ({view.name}) and slides "
        f"windows over it: read as that {shape} input"
    )
    return dataclasses.replace(image, source=graph.source, notes=(*image.notes, note))


def _same_work(flat: Graph, image: Graph, view: Node) -> bool:
    """As many nodes, each of the same kind (but the ``view``), parents, parameters, MACs
    and output shape (but the per-position ops before the view: as many elements)."""
    if len(flat.nodes) != len(image.nodes) or flat.returned != image.returned:
        return False
    for a, b in zip(flat.nodes[1:], image.nodes[1:], strict=True):
        if a.parents != b.parents or a.params != b.params or a.macs != b.macs:
            return False
        before = a.id < view.id
        if a.output_shape != b.output_shape and not (before and _elements(a) == _elements(b)):
            return False
        if a.kind is not b.kind and a is not view:
            return False
    return True


def _elements(node: Node) -> int | None:
    shape = node.output_shape
    return None if None in shape else math.prod(int(d) for d in shape if d is not None)
