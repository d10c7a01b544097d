"""A model whose input has no batch axis: ``(C, H, W)`` images, as torchvision's detectors take
a list of them and batch each with ``image[None]``, a ``(C, L)`` signal, a ``(C, T, H, W)``
clip; or a layer that torch lets read such an input as a batch of one (``nn.Conv2d``, the
pools, ``nn.InstanceNorm2d``, the pixel shuffles on ``(C, H, W)``).

Read as given, such an input is batch first: ``(3, 320, 320)`` is three samples of 320
channels along 320 positions, so the rows are lost to every receptive field and to the
coverage (RetinaNet's fields were ``?`` from its resize on: "a resize of moved axes"). The
model is read again with the input as a batch of one: the graph's input is
``(1, *shape)`` and its first node drops that axis (``input[0]``, what the forward is given),
so the positions are where the layout puts them, and a note says so. That reading is taken
where the input, past at most a few per-position ops (a normalization), gets a leading axis
of size 1 (``x[None]``, ``x.unsqueeze(0)``, ``torch.stack([x])``) and the second reading does
the same work; and where a layer refused the input for lacking the axis it would add
(:func:`is_batch_of_one`) and the second reading traces (else the layer's error stands: a
``(3, 224, 224)`` given to a ResNet is the user's slip, its batch norm takes no
``(C, H, W)``).

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((3, 8, 8), "nchw")
>>> image = b.reshape(b.input, "getitem", output_shape=(1, 3, 8, 8))
>>> conv = b.conv(image, "conv", out_channels=4, kernel=3, stride=2)
>>> adds_batch(b.build())
True
"""

from __future__ import annotations

from collections.abc import Sequence

from stridescope.frontends.input_view import PER_POSITION
from stridescope.ir import Graph, Node, OpKind, Shape

__all__ = ["adds_batch", "note", "same_work"]

# what may lie between the input and the axis added (a normalization, a scale, a pad): what
# may lie before a flat input's view (``input_view``), and pads
_BETWEEN = PER_POSITION | {OpKind.PAD}
_ADDING = frozenset({OpKind.RESHAPE, OpKind.CONCAT})
_STEPS = 4
_LOOKED = 32  # nodes from the first: the input's first users are among them


def adds_batch(graph: Graph) -> bool:
    """Whether ``graph``'s input (of three or four axes: an image, a clip or a volume; a
    ``(C, L)`` signal is read so only where a layer refuses it), past at most a few
    per-position ops or pads, goes to a reshape or a stack that gives it a leading axis of
    size 1 (``x[None]``, or a layer's batch of one past a pad) that a window or a resize then
    reads (not an axis to stack copies along: ``x.unsqueeze(0).expand(3, ...)``); not where
    its first axis is 1 itself, where an axis added further in gives the same shape."""
    nodes = graph.nodes[:_LOOKED]
    rank = len(nodes[0].output_shape)
    if not 3 <= rank <= 4 or nodes[0].kind is not OpKind.INPUT:
        return False
    front = {0: nodes[0].output_shape}
    for _ in range(_STEPS):
        users = [n for n in nodes if not front.keys().isdisjoint(n.parents)]
        if any(_batches(n, front, rank) and _windowed(nodes, n.id) for n in users):
            return True
        front = {n.id: n.output_shape for n in users if n.kind in _BETWEEN}
        if not front or any(len(shape) != rank for shape in front.values()):
            return False
    return False


def _batches(node: Node, front: dict[int, Shape], rank: int) -> bool:
    """Whether ``node`` gives a tensor of ``front`` a leading axis of size 1 (past a first
    axis of 1, an axis added further in looks the same: ``unsqueeze(2)`` on ``(1, 1, L)``)."""
    out = node.output_shape
    if node.kind not in _ADDING or len(out) != rank + 1 or out[0] != 1 or out[1] == 1:
        return False
    return out[1:] in front.values()


def _windowed(nodes: Sequence[Node], at: int) -> bool:
    """Whether a window or a resize reads node ``at``'s output (past per-position ops)."""
    front = {at}
    for _ in range(_STEPS):
        users = [n for n in nodes[at + 1 :] if not front.isdisjoint(n.parents)]
        if any(n.window is not None or n.kind is OpKind.INTERPOLATE for n in users):
            return True
        front = {n.id for n in users if n.kind in _BETWEEN}
        if not front:
            return False
    return False


def same_work(given: Graph, read: Graph) -> bool:
    """Whether ``read`` (the batch of one) does ``given``'s work: the same output shape,
    parameters and MACs, and as many nodes of each kind but reshapes (a layer that reads
    its input as a batch of one adds a reshape before and after it)."""
    if (given.output.output_shape, given.params, given.macs) != (
        read.output.output_shape,
        read.params,
        read.macs,
    ):
        return False
    return _kinds(given) == _kinds(read)


def _kinds(graph: Graph) -> list[OpKind]:
    return sorted(n.kind for n in graph.nodes if n.kind is not OpKind.RESHAPE)


def note(shape: tuple[int, ...]) -> str:
    """The note of a batch-of-one reading of an input of ``shape``."""
    return (
        f"its forward takes the {shape} input without a batch axis: read as a batch of one, "
        f"{(1, *shape)}"
    )
