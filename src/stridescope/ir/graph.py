"""The intermediate representation: a DAG of frozen nodes with shapes, cost and geometry.

Every frontend (PyTorch, Keras, spec files, single layer expressions) produces a
:class:`Graph` through :class:`stridescope.ir.builder.GraphBuilder`, so sizes, parameter
counts and MACs are computed in one place, from :mod:`stridescope.geometry`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from stridescope.geometry import Pad, ReceptiveField, output_shape, read_fraction
from stridescope.ir.resample import Resample, Shape

__all__ = [
    "Graph",
    "Layout",
    "Node",
    "OpKind",
    "Resample",
    "Shape",
    "Window",
    "channel_axis",
    "shape_list",
    "spatial_axes",
]

Layout = Literal["nchw", "nhwc"]


class OpKind(StrEnum):
    """What a node does. Dispatch on these, never on class names."""

    INPUT = "input"
    CONV = "conv"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADAPTIVE_MAXPOOL = "adaptive_maxpool"
    ADAPTIVE_AVGPOOL = "adaptive_avgpool"
    POLYPHASE = "polyphase"
    LINEAR = "linear"
    NORM = "norm"
    ACTIVATION = "activation"
    DROPOUT = "dropout"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    FLATTEN = "flatten"
    PIXEL_UNSHUFFLE = "pixel_unshuffle"
    PIXEL_SHUFFLE = "pixel_shuffle"
    INTERPOLATE = "interpolate"
    PAD = "pad"
    RESHAPE = "reshape"
    SLICE = "slice"
    MOVE = "move"
    PERMUTE = "permute"
    MATMUL = "matmul"
    REDUCE = "reduce"
    CONV_TRANSPOSE = "conv_transpose"
    UNCOUNTED = "uncounted"


def shape_list(value: Sequence[Any]) -> list[tuple[Any, ...]]:
    """One shape, or a list of shapes for a model with several inputs, as a list of shapes.

    >>> shape_list((1, 3, 8, 8)), shape_list([(1, 3, 8, 8), [1, 1, 4, 4]])
    ([(1, 3, 8, 8)], [(1, 3, 8, 8), (1, 1, 4, 4)])
    """
    if value and all(isinstance(s, Sequence) and not isinstance(s, str) for s in value):
        return [s if isinstance(s, tuple) else tuple(s) for s in value]
    return [value if isinstance(value, tuple) else tuple(value)]


@functools.cache
def spatial_axes(rank: int, layout: Layout) -> tuple[int, ...]:
    """Indices of the spatial axes of a batched tensor of this rank.

    >>> spatial_axes(4, "nchw"), spatial_axes(4, "nhwc"), spatial_axes(2, "nchw")
    ((2, 3), (1, 2), ())
    """
    if rank <= 2:
        return ()
    return tuple(range(2, rank)) if layout == "nchw" else tuple(range(1, rank - 1))


@functools.cache
def channel_axis(rank: int, layout: Layout) -> int:
    """Index of the channel axis.

    >>> channel_axis(4, "nchw"), channel_axis(4, "nhwc"), channel_axis(2, "nhwc")
    (1, 3, 1)
    """
    if rank <= 2:
        return rank - 1
    return 1 if layout == "nchw" else rank - 1


@functools.lru_cache(maxsize=1024)
def _crop_reads(n: int, kernel: int, stride: int, dilation: int, pad: Pad, out: int | None) -> int:
    """How many of ``n`` positions a window with a negative padding amount reads: outputs
    ``o < out`` read ``o*stride - before + j*dilation`` (``j < kernel``), counted when inside
    ``[0, n)``."""
    if not out:
        return 0
    if kernel == 1:  # a crop or a strided slice: one run of outputs
        first = max(0, -(-pad[0] // stride))  # the first o with o*stride >= before
        last = min(out - 1, (n - 1 + pad[0]) // stride)
        return max(last - first + 1, 0)
    read: set[int] = set()
    for j in range(kernel):
        start = j * dilation - pad[0]
        read.update(range(start, start + out * stride, stride))
    return len([i for i in read if 0 <= i < n])


@dataclass(frozen=True)
class Window:
    """Geometry of a sliding window, per spatial axis, with padding already resolved."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[Pad, ...]
    ceil_mode: bool = False
    pad_mode: str = "zeros"  # what the padding holds: zeros, reflect, replicate or circular

    @property
    def identity(self) -> bool:
        """Kernel 1, stride 1 and no padding on every axis: each output position is the input
        position of the same index (a 1x1 convolution's window).

        >>> Window((1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))).identity
        True
        >>> Window((1, 1), (1, 1), (1, 1), ((0, 0), (0, 1))).identity
        False
        """
        rank = len(self.kernel)
        return (
            self.kernel.count(1) == rank
            and self.stride.count(1) == rank
            and self.padding.count((0, 0)) == rank
        )

    @property
    def crops(self) -> bool:
        """A window with a negative padding amount, which geometry's padding rules do not
        cover: a crop or a strided slice (kernel 1: an index shift that drops positions),
        or a window that starts inside the input (a bilinear downsampling by 4 reads pixels
        1 and 2 of each 4)."""
        return any(min(p) < 0 for p in self.padding)

    def output_spatial(self, spatial: Shape) -> Shape:
        """Output spatial sizes for these input spatial sizes (from geometry).

        >>> Window((1, 1), (2, 2), (1, 1), ((0, 0), (0, 0))).output_spatial((32, 32))
        (16, 16)
        >>> Window((1, 1), (1, 1), (1, 1), ((-1, -2), (2, -1))).output_spatial((8, 8))
        (5, 9)
        >>> Window((1,), (2,), (1,), ((-1, -2),)).output_spatial((9,))  # x[1:7:2]
        (3,)
        >>> Window((2,), (4,), (1,), ((-1, -1),)).output_spatial((16,))  # taps 4o+1, 4o+2
        (4,)
        """
        if self.crops:  # outputs o whose last tap o*stride - before + (k-1)*d < n + after
            return tuple(
                None if n is None else max((n + p[0] + p[1] - (k - 1) * d - 1) // s + 1, 0)
                for n, k, s, d, p in zip(
                    spatial, self.kernel, self.stride, self.dilation, self.padding, strict=True
                )
            )
        return tuple(
            output_shape(
                (n,), kernel=k, stride=s, dilation=d, padding=[p], ceil_mode=self.ceil_mode
            )[0]
            for n, k, s, d, p in zip(
                spatial, self.kernel, self.stride, self.dilation, self.padding, strict=True
            )
        )

    def read_fractions(self, spatial: Shape) -> tuple[float | None, ...]:
        """Share of input positions read, per axis (``None`` for unknown sizes).

        >>> Window((1,), (1,), (1,), ((-1, -2),)).read_fractions((8,))
        (0.625,)
        >>> Window((1,), (2,), (1,), ((-1, -2),)).read_fractions((9,))  # x[1:7:2]: 1, 3, 5
        (0.3333333333333333,)
        >>> Window((2,), (4,), (1,), ((-1, -1),)).read_fractions((16,))  # 1, 2, 5, 6, ...
        (0.5,)
        """
        if self.crops:
            return tuple(
                None if n is None else _crop_reads(n, k, s, d, p, o) / n
                for n, k, s, d, p, o in zip(
                    spatial,
                    self.kernel,
                    self.stride,
                    self.dilation,
                    self.padding,
                    self.output_spatial(spatial),
                    strict=True,
                )
            )
        return tuple(
            None if n is None else read_fraction(n, k, s, d, p, self.ceil_mode)
            for n, k, s, d, p in zip(
                spatial, self.kernel, self.stride, self.dilation, self.padding, strict=True
            )
        )

    def read_fraction(self, spatial: Shape) -> float | None:
        """Share of all input positions read: the product over axes.

        >>> Window((1, 1), (2, 2), (1, 1), ((0, 0), (0, 0))).read_fraction((32, 32))
        0.25
        """
        fractions = self.read_fractions(spatial)
        if any(f is None for f in fractions):
            return None
        return math.prod(f for f in fractions if f is not None)

    def receptive(self, rf: tuple[ReceptiveField, ...]) -> tuple[ReceptiveField, ...]:
        """Compose the receptive field per axis with this window. A field without phases
        composed with one axis's window is memoised (fields are frozen): a network composes
        the same few (field, window) pairs in every summary."""
        found = []
        for r, k, s, d, p in zip(
            rf, self.kernel, self.stride, self.dilation, self.padding, strict=True
        ):
            if r.phases:
                found.append(r.then(k, s, d, p[0]))
                continue
            key = (r.size, r.jump, r.start, k, s, d, p[0])
            field = _THEN.get(key)
            if field is None:
                if len(_THEN) >= 4096:
                    _THEN.clear()
                field = _THEN[key] = r.then(k, s, d, p[0])
            found.append(field)
        return tuple(found)


_THEN: dict[tuple[Any, ...], ReceptiveField] = {}


@dataclass(frozen=True)
class Node:
    """One operation of the graph. ``id`` is its index in :attr:`Graph.nodes`."""

    id: int
    name: str
    kind: OpKind
    parents: tuple[int, ...]
    input_shape: Shape
    output_shape: Shape
    params: int = 0
    macs: int = 0
    activation_bytes: int = 0
    window: Window | None = None
    groups: int = 1
    counted: bool = True
    note: str = ""
    op: str = ""
    # a transposed convolution's window, read backwards: input ``i`` writes outputs
    # ``i*stride - padding[0] + j*dilation`` (``window`` stays None: it is not a sliding read)
    scatter: Window | None = None
    # where the layout's spatial axes are in this output when a permute moved them (e.g.
    # (1, 2) for NCHW permuted to NHWC), kept by the ops that keep positions; None: where the
    # layout puts them. A reshape sets it (even to the layout's axes) when it keeps every
    # spatial axis whole, e.g. splitting the channels (ShuffleNet's channel shuffle)
    spatial_at: tuple[int, ...] | None = None
    # a layer called again: the layer whose weights it uses, counted at its first call (its
    # own ``params`` are 0, but it is not a filter without weights)
    shares: str = ""
    # a resize no window describes, read through its interpolation's coordinates (coverage)
    resample: Resample | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data


@dataclass(frozen=True)
class Graph:
    """A DAG of nodes in topological order; node 0 is the input."""

    nodes: tuple[Node, ...]
    layout: Layout
    source: str = ""
    dtype_bytes: int = 4
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the other tensors the model returns, besides its output (the last node): node ids, in
    #: the order returned (a feature pyramid's other maps, a segmentation model's auxiliary
    #: head); the input coverage counts what any of them reads
    returned: tuple[int, ...] = field(default_factory=tuple)

    @property
    def input_shape(self) -> Shape:
        return self.nodes[0].output_shape

    @property
    def output(self) -> Node:
        """The last node (the network's output)."""
        return self.nodes[-1]

    def spatial(self, shape: Shape) -> Shape:
        """Spatial sizes of a shape in this graph's layout (the axes :func:`spatial_axes`
        names, taken as one slice: they are contiguous).

        >>> g = Graph((), "nhwc")
        >>> g.spatial((1, 8, 6, 3)), g.spatial((1, 5)), Graph((), "nchw").spatial((1, 3, 8, 6))
        ((8, 6), (), (8, 6))
        """
        rank = len(shape)
        if rank <= 2:
            return ()
        return tuple(shape[2:]) if self.layout == "nchw" else tuple(shape[1 : rank - 1])

    def spatial_axes_of(self, node: Node) -> tuple[int, ...]:
        """Where the spatial axes are in ``node``'s output: moved by a permute, or the layout's.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
        >>> p = b.permute(b.input, "p", dims=(0, 2, 3, 1))
        >>> g = b.build()
        >>> g.spatial_axes_of(g.nodes[p]), g.spatial_of(g.nodes[p]), g.spatial_of(g.nodes[0])
        ((1, 2), (8, 6), (8, 6))
        """
        if node.spatial_at is not None:
            return node.spatial_at
        return spatial_axes(len(node.output_shape), self.layout)

    def moved(self, node: Node) -> bool:
        """Whether ``node``'s spatial axes are not where the layout puts them."""
        at = node.spatial_at
        return at is not None and at != spatial_axes(len(node.output_shape), self.layout)

    def spatial_of(self, node: Node) -> Shape:
        """Spatial sizes of ``node``'s output, wherever a permute put those axes."""
        return tuple(node.output_shape[a] for a in self.spatial_axes_of(node))

    def channels(self, shape: Shape) -> int | None:
        """Channel count of a shape in this graph's layout."""
        return shape[channel_axis(len(shape), self.layout)]

    def children(self, node_id: int) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes if node_id in n.parents)

    @property
    def params(self) -> int:
        return sum([n.params for n in self.nodes])  # (a list: cheaper than a generator)

    @property
    def macs(self) -> int:
        return sum([n.macs for n in self.nodes])

    @property
    def activation_bytes(self) -> int:
        given = OpKind.INPUT  # (a local: the enum's class attribute is a slow lookup)
        return sum([n.activation_bytes for n in self.nodes if n.kind is not given])

    @property
    def uncounted(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.counted)
