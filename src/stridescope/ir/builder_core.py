"""The bookkeeping half of :class:`~stridescope.ir.GraphBuilder`: nodes in topological order,
the spatial axes a permute moved, and the checks every windowed op shares.

Every public node method takes ``(parent or parents, name, ...)``; one that can raise a
:class:`~stridescope.geometry.GeometryError` catches it and raises :func:`in_layer` of it, so it
reaches the caller as a :class:`LayerError` whose one-line message starts with
``layer 'NAME': ``, whichever frontend called (see :mod:`stridescope.ir.builder` for an example).
The except clause sits in the method itself rather than in a wrapper: node methods are the
tracer's innermost calls, and a ``*args, **kwargs`` wrapper costs more than many of them do.
:func:`names_layer` does the same for a node method of a subclass.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from stridescope.geometry import GeometryError, per_axis
from stridescope.ir.axes import placed, signal_axes
from stridescope.ir.builder_memo import (
    IntOrTuple,
    PaddingSpec,
    exact_key,
    memo_slide,
    memo_window,
    new_window,
)
from stridescope.ir.graph import (
    Graph,
    Layout,
    Node,
    OpKind,
    Resample,
    Shape,
    Window,
    channel_axis,
    spatial_axes,
)

__all__ = [
    "PAD_MODES",
    "BuilderCore",
    "IntOrTuple",
    "LayerError",
    "PaddingSpec",
    "check_pad_mode",
    "in_layer",
    "names_layer",
    "numel",
]

PAD_MODES = ("zeros", "reflect", "replicate", "circular")


# ops that keep every position, so spatial axes a permute moved stay where it put them

_S = TypeVar("_S", bound="BuilderCore")
_P = ParamSpec("_P")


def numel(shape: Shape) -> int:
    """Elements of a shape, unknown sizes counted as 1.

    >>> numel((None, 3, 4, 4))
    48
    """
    if None in shape:
        return math.prod(1 if d is None else d for d in shape)
    return math.prod(shape)  # type: ignore[arg-type]


class _Axes(enum.Enum):
    """The default of ``BuilderCore._add``'s ``spatial_at``: where the parents leave them."""

    INHERITED = enum.auto()


# enum members read per node: ``OpKind.X`` is slow on Python 3.11 (a metaclass __getattr__)
_INHERITED = _Axes.INHERITED


@functools.cache
def _axes(rank: int, layout: Layout) -> tuple[int, slice]:
    """The channel axis and the spatial axes (consecutive in both layouts) as a slice, per
    rank: a shape's spatial sizes are one slice of it instead of a lookup per axis.

    >>> _axes(4, "nchw"), _axes(4, "nhwc"), _axes(2, "nchw")
    ((1, slice(2, 4, None)), (3, slice(1, 3, None)), (1, slice(0, 0, None)))
    """
    spatial = spatial_axes(rank, layout)
    first = spatial[0] if spatial else 0
    if spatial != tuple(range(first, first + len(spatial))):
        raise ValueError(f"spatial axes {spatial!r} of a {layout} rank-{rank} shape are apart")
    return channel_axis(rank, layout), slice(first, first + len(spatial))


_NODE_FIELDS = {f.name for f in dataclasses.fields(Node)}
_new_node = object.__new__


class LayerError(GeometryError):
    """A :class:`~stridescope.geometry.GeometryError` raised while adding the node ``layer``:
    ``"layer '{layer}': {reason}"``, where ``reason`` is what geometry (or the builder) said.

    >>> str(LayerError("features.0", "output size would be 0 for input=2, kernel=3"))
    "layer 'features.0': output size would be 0 for input=2, kernel=3"
    """

    def __init__(self, layer: str, reason: str) -> None:
        super().__init__(f"layer {layer!r}: {reason}")
        self.layer = layer
        self.reason = reason

    def __reduce__(self) -> tuple[type[LayerError], tuple[str, str]]:
        return type(self), (self.layer, self.reason)


def in_layer(name: str, error: GeometryError) -> LayerError:
    """``error``, raised while adding the node ``name``, as a :class:`LayerError` naming that
    layer; one that already names a layer (a node method that called another) is kept as it is.

    >>> str(in_layer("stem", GeometryError("kernel must be a positive integer")))
    "layer 'stem': kernel must be a positive integer"
    >>> inner = LayerError("stem.conv", "output size would be 0")
    >>> in_layer("stem", inner) is inner
    True
    """
    if isinstance(error, LayerError):
        return error
    return LayerError(str(name), str(error))


def names_layer(method: Callable[Concatenate[_S, _P], int]) -> Callable[Concatenate[_S, _P], int]:
    """Wrap a node method ``(self, parent(s), name, ...)`` of a subclass: a geometry error
    raised inside it comes out as :func:`in_layer` of it (the builder's own node methods have
    the except clause in their body: see the module docstring)."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> int:
        try:
            return method(self, *args, **kwargs)
        except GeometryError as error:
            name = kwargs["name"] if "name" in kwargs else args[1]
            raise in_layer(str(name), error) from None

    return wrapper


class BuilderCore:
    """Appends nodes in topological order; each node method returns the new node's id."""

    def __init__(
        self, input_shape: Shape, layout: Layout, source: str = "", dtype_bytes: int = 4
    ) -> None:
        if len(input_shape) < 2 or any(d is not None and d < 1 for d in input_shape):
            raise GeometryError(
                f"input shape must have a batch axis and positive sizes; received {input_shape!r}"
            )
        self.layout: Layout = layout
        self.source = source
        self.dtype_bytes = dtype_bytes
        self._nodes: list[Node] = []
        self._notes: list[str] = []
        self.returned: list[int] = []  # the other tensors the model returns (Graph.returned)
        self.edited: list[int] = []  # nodes changed after they were added, in order
        self.input = self.add_input(input_shape, "input")

    def shape(self, node_id: int) -> Shape:
        return self._nodes[node_id].output_shape

    def note(self, text: str) -> None:
        self._notes.append(text)

    def returns(self, outputs: Sequence[int]) -> None:
        """The nodes of the tensors the model returns, the first its output: the others
        (each once) become :attr:`Graph.returned`.

        >>> b = BuilderCore((1, 3, 8, 8), "nchw")
        >>> b.returns([2, 1, 2, 3, 1]); b.returned
        [1, 3]
        """
        self.returned = list(dict.fromkeys(i for i in outputs[1:] if i != outputs[0]))

    def add_input(self, input_shape: Shape, name: str) -> int:
        """Another input of a model that takes several (node 0 stays the first: coverage and
        the receptive field are measured on it; this one starts fields of its own).

        >>> b = BuilderCore((1, 3, 8, 8), "nchw")
        >>> other = b.add_input((1, 3, 8, 8), "input1")
        >>> b.build().nodes[other].kind.value, other
        ('input', 1)
        """
        shape = tuple(input_shape)
        return self._add(name, OpKind.INPUT, (), shape, shape, spatial_at=signal_axes(shape))

    def build(self) -> Graph:
        notes, returned = tuple(self._notes), tuple(self.returned)
        return Graph(
            tuple(self._nodes), self.layout, self.source, self.dtype_bytes, notes, returned
        )

    # -- nodes and where their spatial axes are -------------------------------------------
    def _add(
        self,
        name: str,
        kind: OpKind,
        parents: tuple[int, ...],
        input_shape: Shape,
        output_shape: Shape,
        *,
        params: int = 0,
        macs: int = 0,
        window: Window | None = None,
        groups: int = 1,
        counted: bool = True,
        note: str = "",
        op: str = "",
        scatter: Window | None = None,
        spatial_at: tuple[int, ...] | _Axes | None = _Axes.INHERITED,
        resample: Resample | None = None,
    ) -> int:
        """Append a node and return its id; ``spatial_at`` defaults to where the parents
        leave the spatial axes (:func:`~stridescope.ir.axes.placed`)."""
        nodes = self._nodes
        if spatial_at is _INHERITED:
            spatial_at = None
            if parents and nodes[parents[0]].spatial_at is not None:
                window, scatter, spatial_at = placed(
                    nodes, kind, parents, output_shape, self.layout, window, scatter
                )
        node_id = len(nodes)
        known = None not in output_shape  # numel(output_shape), its usual case without a call
        size = math.prod(output_shape) if known else numel(output_shape)  # type: ignore[arg-type]
        # Node(...) without a frozen __setattr__ per field: one update naming every field
        node: Node = _new_node(Node)
        node.__dict__.update(
            id=node_id,
            name=name,
            kind=kind,
            parents=parents,
            input_shape=input_shape,
            output_shape=output_shape,
            params=params,
            macs=macs,
            activation_bytes=size * self.dtype_bytes,
            window=window,
            groups=groups,
            counted=counted,
            note=note,
            op=op,
            scatter=scatter,
            spatial_at=spatial_at,
            shares="",
            resample=resample,
        )
        if len(node.__dict__) != len(_NODE_FIELDS):  # a field added to Node since: its default
            node = Node(**node.__dict__)
        nodes.append(node)
        return node_id

    def repeat(
        self, nodes: Sequence[Node], outside: Mapping[int, int], names: Sequence[str]
    ) -> int:
        """Append copies of ``nodes`` (an earlier run of consecutive nodes of this builder,
        as they were made) named ``names``: parents among them move with them, the others
        go to ``outside[parent]``. Returns how many ids on the copies are.

        >>> b = BuilderCore((1, 4, 8, 8), "nchw")
        >>> a = b._add("a", OpKind.ACTIVATION, (b.input,), (1, 4, 8, 8), (1, 4, 8, 8))
        >>> c = b._add("c", OpKind.ACTIVATION, (a,), (1, 4, 8, 8), (1, 4, 8, 8))
        >>> shift = b.repeat(b.build().nodes[1:3], {b.input: c}, ["a2", "c2"])
        >>> [(n.id, n.name, n.parents) for n in b.build().nodes[3:]], shift
        ([(3, 'a2', (2,)), (4, 'c2', (3,))], 2)
        """
        mine = self._nodes
        shift = len(mine) - nodes[0].id
        for node, name in zip(nodes, names, strict=True):
            fields = node.__dict__.copy()
            fields["id"] += shift
            fields["name"] = name
            fields["parents"] = tuple([outside.get(p, p + shift) for p in node.parents])
            copy: Node = _new_node(Node)
            copy.__dict__.update(fields)
            mine.append(copy)
        return shift

    def _spatial(self, shape: Shape) -> Shape:
        return shape[_axes(len(shape), self.layout)[1]]

    def _channels(self, shape: Shape) -> int | None:
        return shape[_axes(len(shape), self.layout)[0]]

    def _with(self, shape: Shape, channels: int | None, spatial: Shape) -> Shape:
        """``shape`` with these channels and spatial sizes (one per spatial axis)."""
        channel, where = _axes(len(shape), self.layout)
        if len(spatial) != where.stop - where.start:
            raise ValueError(f"{len(spatial)} spatial sizes {spatial!r} for shape {shape!r}")
        out = list(shape)
        out[channel] = channels
        out[where] = spatial
        return tuple(out)

    # -- checks the windowed ops share ----------------------------------------------------
    def _steps(
        self, shape: Shape, kernel: IntOrTuple, stride: IntOrTuple, dilation: IntOrTuple
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Kernel, stride and dilation per spatial axis of ``shape``."""
        rank = len(self._spatial(shape))
        if rank == 0:
            raise GeometryError(
                f"needs spatial axes; received input shape {shape!r} ({self.layout})"
            )
        return (
            per_axis(kernel, rank, "kernel"),
            per_axis(stride, rank, "stride"),
            per_axis(dilation, rank, "dilation"),
        )

    def _window(
        self,
        shape: Shape,
        kernel: IntOrTuple,
        stride: IntOrTuple,
        dilation: IntOrTuple,
        padding: PaddingSpec,
        ceil_mode: bool = False,
        pad_mode: str = "zeros",
    ) -> Window:
        """A sliding window over ``shape``'s spatial axes, its padding resolved by geometry."""
        return self._sliding(shape, kernel, stride, dilation, padding, ceil_mode, pad_mode, False)[
            0
        ]

    def _sliding(
        self,
        shape: Shape,
        kernel: IntOrTuple,
        stride: IntOrTuple,
        dilation: IntOrTuple,
        padding: PaddingSpec,
        ceil_mode: bool = False,
        pad_mode: str = "zeros",
        sizes: bool = True,
    ) -> tuple[Window, Shape]:
        """:meth:`_window` and (with ``sizes``) its output spatial sizes, memoised on the
        arguments: a network repeats a few window configurations many times. Arguments that
        have no exact hashable form (a bool among the ints...) are computed afresh, so every
        error is raised as geometry raises it."""
        check_pad_mode(pad_mode)
        spatial = self._spatial(shape)
        if not spatial:
            raise GeometryError(
                f"needs spatial axes; received input shape {shape!r} ({self.layout})"
            )
        key = (exact_key(kernel), exact_key(stride), exact_key(dilation), exact_key(padding))
        if None in key:
            window = new_window(spatial, kernel, stride, dilation, padding, ceil_mode, pad_mode)
            return window, window.output_spatial(spatial) if sizes else ()
        if sizes:
            return memo_slide(spatial, *key, ceil_mode, pad_mode)
        return memo_window(spatial, *key, ceil_mode, pad_mode), ()

    def _pairs(self, shape: Shape, padding: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
        """Explicit ``(before, after)`` amounts, one pair per spatial axis of ``shape``."""
        pairs = tuple((int(p[0]), int(p[1])) for p in padding)
        rank = len(self._spatial(shape))
        if rank == 0 or len(pairs) != rank:
            raise GeometryError(
                f"padding {pairs!r} needs one (before, after) per spatial axis; the "
                f"input {shape!r} ({self.layout}) has {rank}"
            )
        return pairs

    def _grouped_channels(self, shape: Shape, out_channels: int, groups: int) -> int:
        """The known input channel count, checked against ``groups`` and ``out_channels``."""
        cin = self._channels(shape)
        if cin is None:
            raise GeometryError(f"the channel count must be known; received {shape!r}")
        if groups < 1 or cin % groups or out_channels % groups or out_channels < 1:
            raise GeometryError(
                f"in_channels={cin} and out_channels={out_channels} must both be "
                f"positive multiples of groups={groups}"
            )
        return cin


def check_pad_mode(mode: str) -> None:
    """Refuse a padding mode that is not one of :data:`PAD_MODES`."""
    if mode not in PAD_MODES:
        raise GeometryError(
            f"padding mode must be one of {', '.join(PAD_MODES)}; received {mode!r}"
        )
