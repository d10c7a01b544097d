"""Build a :class:`Graph` node by node; every size, parameter count and MAC is computed here.

MAC convention (one multiply-add = 1 MAC), the same for every frontend:

- convolution: ``output elements x (C_in / groups) x kernel area``; linear: ``rows x in x out``;
- transposed convolution: ``input elements x (C_out / groups) x kernel area`` (one MAC per
  input element per output channel per tap: every input value is scattered to each tap);
- max and average pooling (plain and adaptive): one per element of each window (a compare or
  an add); a reduction (mean, sum, amax over some axes): one per input element;
- element-wise add / multiply: one per output element per extra operand;
- normalisation, activations, dropout, reshapes, concatenation, padding, pixel (un)shuffle and
  interpolation: 0 (they are memory-bound; their cost shows as activation memory).

>>> b = GraphBuilder((1, 32, 32, 3), "nhwc", source="doc")
>>> x = b.conv(b.input, "conv", out_channels=16, kernel=1, stride=2, padding="same")
>>> node = b.build().nodes[x]
>>> node.output_shape, node.params, node.macs
((1, 16, 16, 16), 64, 12288)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stridescope.geometry import (
    GeometryError,
    PaddingArg,
    paddings,
    per_axis,
    transposed_output_size,
)
from stridescope.ir.graph import (
    Graph,
    Layout,
    Node,
    OpKind,
    Shape,
    Window,
    channel_axis,
    spatial_axes,
)

__all__ = ["PAD_MODES", "GraphBuilder", "IntOrTuple"]

_KEEP_MOVED = frozenset(
    {OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.ADD, OpKind.MUL, OpKind.PERMUTE}
)

PAD_MODES = ("zeros", "reflect", "replicate", "circular")

IntOrTuple = int | Sequence[int]
PaddingSpec = PaddingArg | Sequence[int | tuple[int, int]]

_POOL_KINDS = {"max": OpKind.MAXPOOL, "avg": OpKind.AVGPOOL}
_ADAPTIVE_KINDS = {"max": OpKind.ADAPTIVE_MAXPOOL, "avg": OpKind.ADAPTIVE_AVGPOOL}


def _numel(shape: Shape) -> int:
    return math.prod(1 if d is None else d for d in shape)


class GraphBuilder:
    """Appends nodes in topological order. Each method returns the new node's id."""

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
        self.input = self._add("input", OpKind.INPUT, (), tuple(input_shape), tuple(input_shape))

    # -- bookkeeping ---------------------------------------------------------------------
    def shape(self, node_id: int) -> Shape:
        return self._nodes[node_id].output_shape

    def note(self, text: str) -> None:
        self._notes.append(text)

    def add_input(self, input_shape: Shape, name: str) -> int:
        """Another input of a model that takes several (node 0 stays the first: coverage and
        the receptive field are measured on it; this one starts fields of its own).

        >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
        >>> other = b.add_input((1, 3, 8, 8), "input1")
        >>> b.build().nodes[other].kind.value, other
        ('input', 1)
        """
        shape = tuple(input_shape)
        return self._add(name, OpKind.INPUT, (), shape, shape)

    def build(self) -> Graph:
        return Graph(
            tuple(self._nodes), self.layout, self.source, self.dtype_bytes, tuple(self._notes)
        )

    def _add(
        self,
        name: str,
        kind: OpKind,
        parents: tuple[int, ...],
        input_shape: Shape,
        output_shape: Shape,
        **extra: object,
    ) -> int:
        if "spatial_at" not in extra:
            extra["spatial_at"] = self._inherited_axes(kind, parents, output_shape)
        node = Node(
            id=len(self._nodes),
            name=name,
            kind=kind,
            parents=parents,
            input_shape=input_shape,
            output_shape=output_shape,
            activation_bytes=_numel(output_shape) * self.dtype_bytes,
            **extra,  # type: ignore[arg-type]
        )
        self._nodes.append(node)
        return node.id

    def _inherited_axes(
        self, kind: OpKind, parents: tuple[int, ...], output_shape: Shape
    ) -> tuple[int, ...] | None:
        """Spatial axes moved by a permute stay moved through ops that keep every position:
        normalisation, activation, dropout, element-wise merges of equally moved tensors, and
        a dense layer (or a product with a weight) on a last axis that is not spatial
        (ConvNeXt's channels-last MLP)."""
        moved = {self._nodes[p].spatial_at for p in parents}
        if len(moved) != 1:
            return None
        (at,) = moved
        if at is None or any(
            len(self._nodes[p].output_shape) != len(output_shape) for p in parents
        ):
            return None
        dense = kind is OpKind.LINEAR or (kind is OpKind.MATMUL and len(parents) == 1)
        if kind in _KEEP_MOVED or (dense and len(output_shape) - 1 not in at):
            return at
        return None

    def _spatial(self, shape: Shape) -> Shape:
        return tuple(shape[a] for a in spatial_axes(len(shape), self.layout))

    def _channels(self, shape: Shape) -> int | None:
        return shape[channel_axis(len(shape), self.layout)]

    def _with(self, shape: Shape, channels: int | None, spatial: Shape) -> Shape:
        out = list(shape)
        out[channel_axis(len(shape), self.layout)] = channels
        for axis, size in zip(spatial_axes(len(shape), self.layout), spatial, strict=True):
            out[axis] = size
        return tuple(out)

    def _window(
        self,
        shape: Shape,
        what: str,
        kernel: IntOrTuple,
        stride: IntOrTuple,
        dilation: IntOrTuple,
        padding: PaddingSpec,
        ceil_mode: bool = False,
        pad_mode: str = "zeros",
    ) -> Window:
        if pad_mode not in PAD_MODES:
            raise GeometryError(
                f"{what}: padding mode must be one of {', '.join(PAD_MODES)}; received {pad_mode!r}"
            )
        spatial = self._spatial(shape)
        rank = len(spatial)
        if rank == 0:
            raise GeometryError(
                f"{what} needs spatial axes; received input shape {shape!r} ({self.layout})"
            )
        k = per_axis(kernel, rank, "kernel")
        s = per_axis(stride, rank, "stride")
        d = per_axis(dilation, rank, "dilation")
        pads = paddings(spatial, k, s, d, padding)
        return Window(k, s, d, pads, ceil_mode, pad_mode)

    # -- spatial ops ---------------------------------------------------------------------
    def conv(
        self,
        parent: int,
        name: str,
        *,
        out_channels: int,
        kernel: IntOrTuple,
        stride: IntOrTuple = 1,
        dilation: IntOrTuple = 1,
        padding: PaddingSpec = "valid",
        groups: int = 1,
        bias: bool = True,
        op: str = "",
        params: int | None = None,
        pad_mode: str = "zeros",
    ) -> int:
        """A convolution. ``groups`` equal to the input channels makes it depthwise.

        ``params`` overrides the count from geometry: 0 for a fixed filter (a buffer) or for
        weights already counted at an earlier node (a layer called twice). ``pad_mode`` is
        what the padding holds (see :meth:`pad`)."""
        shape = self.shape(parent)
        cin = self._channels(shape)
        if cin is None:
            raise GeometryError(f"{name}: the channel count must be known; received {shape!r}")
        if groups < 1 or cin % groups or out_channels % groups or out_channels < 1:
            raise GeometryError(
                f"{name}: in_channels={cin} and out_channels={out_channels} must both be "
                f"positive multiples of groups={groups}"
            )
        window = self._window(shape, name, kernel, stride, dilation, padding, pad_mode=pad_mode)
        out = self._with(shape, out_channels, window.output_spatial(self._spatial(shape)))
        area = math.prod(window.kernel)
        if params is None:
            params = out_channels * (cin // groups) * area + (out_channels if bias else 0)
        macs = _numel(out) * (cin // groups) * area
        return self._add(
            name,
            OpKind.CONV,
            (parent,),
            shape,
            out,
            params=params,
            macs=macs,
            window=window,
            groups=groups,
            op=op,
        )

    def conv_transpose(
        self,
        parent: int,
        name: str,
        *,
        out_channels: int,
        kernel: IntOrTuple,
        stride: IntOrTuple = 1,
        dilation: IntOrTuple = 1,
        padding: Sequence[tuple[int, int]] | int = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        op: str = "",
        params: int | None = None,
    ) -> int:
        """A transposed convolution: input ``i`` writes outputs ``i*s - before + j*d``.

        Sizes come from :func:`~stridescope.geometry.transposed_output_size`; ``padding`` is
        an int (both sides, as torch) or ``(before, after)`` per axis. Params are
        ``C_in x C_out / groups x kernel area`` (+ bias); MACs ``input elements x C_out /
        groups x kernel area``. The geometry is kept in :attr:`Node.scatter`.

        >>> b = GraphBuilder((1, 8, 16, 16), "nchw")
        >>> up = b.conv_transpose(b.input, "up", out_channels=4, kernel=2, stride=2)
        >>> node = b.build().nodes[up]
        >>> node.output_shape, node.params, node.macs
        ((1, 4, 32, 32), 132, 32768)
        """
        shape = self.shape(parent)
        cin = self._channels(shape)
        if cin is None:
            raise GeometryError(f"{name}: the channel count must be known; received {shape!r}")
        if groups < 1 or cin % groups or out_channels % groups or out_channels < 1:
            raise GeometryError(
                f"{name}: in_channels={cin} and out_channels={out_channels} must both be "
                f"positive multiples of groups={groups}"
            )
        spatial = self._spatial(shape)
        rank = len(spatial)
        if rank == 0:
            raise GeometryError(
                f"{name} needs spatial axes; received input shape {shape!r} ({self.layout})"
            )
        k = per_axis(kernel, rank, "kernel")
        s = per_axis(stride, rank, "stride")
        d = per_axis(dilation, rank, "dilation")
        extra = per_axis(output_padding, rank, "output_padding")
        if isinstance(padding, int):
            pads = ((padding, padding),) * rank
        else:
            pads = tuple((int(p[0]), int(p[1])) for p in padding)
            if len(pads) != rank:
                raise GeometryError(
                    f"{name}: padding {pads!r} needs one (before, after) per spatial axis; "
                    f"the input {shape!r} ({self.layout}) has {rank}"
                )
        sizes = tuple(
            transposed_output_size(n, *args)
            for n, *args in zip(spatial, k, s, d, pads, extra, strict=True)
        )
        out = self._with(shape, out_channels, sizes)
        area = math.prod(k)
        if params is None:
            params = cin * (out_channels // groups) * area + (out_channels if bias else 0)
        macs = _numel(shape) * (out_channels // groups) * area
        return self._add(
            name,
            OpKind.CONV_TRANSPOSE,
            (parent,),
            shape,
            out,
            params=params,
            macs=macs,
            groups=groups,
            op=op,
            scatter=Window(k, s, d, pads),
        )

    def pool(
        self,
        parent: int,
        name: str,
        *,
        mode: str,
        kernel: IntOrTuple,
        stride: IntOrTuple | None = None,
        dilation: IntOrTuple = 1,
        padding: PaddingSpec = "valid",
        ceil_mode: bool = False,
        op: str = "",
    ) -> int:
        """Max (``mode='max'``) or average (``'avg'``) pooling; stride defaults to the kernel."""
        shape = self.shape(parent)
        window = self._window(
            shape, name, kernel, kernel if stride is None else stride, dilation, padding, ceil_mode
        )
        out = self._with(shape, self._channels(shape), window.output_spatial(self._spatial(shape)))
        macs = _numel(out) * math.prod(window.kernel)
        return self._add(
            name, _POOL_KINDS[mode], (parent,), shape, out, macs=macs, window=window, op=op
        )

    def adaptive_pool(
        self, parent: int, name: str, *, mode: str, output_size: IntOrTuple, op: str = ""
    ) -> int:
        """Adaptive pooling; output window ``o`` covers ``[floor(o*n/m), ceil((o+1)*n/m))``."""
        shape = self.shape(parent)
        spatial = self._spatial(shape)
        target = per_axis(output_size, len(spatial), "output_size")
        reads = 1
        for n, m in zip(spatial, target, strict=True):
            if n is None:
                continue
            reads *= sum(-(-((o + 1) * n) // m) - (o * n) // m for o in range(m))
        out = self._with(shape, self._channels(shape), target)
        channels = self._channels(shape) or 1
        macs = (shape[0] or 1) * channels * reads
        return self._add(name, _ADAPTIVE_KINDS[mode], (parent,), shape, out, macs=macs, op=op)

    def polyphase(self, parent: int, name: str, *, factor: int = 2, op: str = "") -> int:
        """Adaptive polyphase sampling: keep the phase of largest norm (reads every phase)."""
        shape = self.shape(parent)
        window = self._window(shape, name, factor, factor, 1, "valid", ceil_mode=True)
        spatial = self._spatial(shape)
        out_spatial = tuple(None if n is None else -(-n // factor) for n in spatial)
        out = self._with(shape, self._channels(shape), out_spatial)
        return self._add(
            name, OpKind.POLYPHASE, (parent,), shape, out, macs=_numel(shape), window=window, op=op
        )

    def pixel_unshuffle(self, parent: int, name: str, *, factor: int, op: str = "") -> int:
        """Space-to-depth: ``(C, H, W) -> (C*r*r, H/r, W/r)``; sizes must divide by ``r``."""
        shape = self.shape(parent)
        spatial = self._spatial(shape)
        if any(n is not None and n % factor for n in spatial):
            raise GeometryError(
                f"{name}: pixel unshuffle by {factor} needs spatial sizes divisible by {factor}; "
                f"received {shape!r}"
            )
        window = self._window(shape, name, factor, factor, 1, "valid")
        channels = self._channels(shape)
        cout = None if channels is None else channels * factor ** len(spatial)
        out = self._with(shape, cout, window.output_spatial(spatial))
        return self._add(name, OpKind.PIXEL_UNSHUFFLE, (parent,), shape, out, window=window, op=op)

    def resize(
        self,
        parent: int,
        name: str,
        *,
        kind: OpKind,
        output_shape: Shape,
        op: str = "",
        repeat: Sequence[int] | None = None,
    ) -> int:
        """An op that changes spatial size without a sliding window (interpolate, pixel
        shuffle): the frontend gives the output shape. For padding and cropping use :meth:`pad`.
        ``repeat`` (per spatial axis) marks a nearest-neighbour upsampling by whole factors:
        input ``i`` is copied to outputs ``i*s .. i*s + s - 1``, kept as :attr:`Node.scatter`
        (a kernel-``s``, stride-``s`` scatter), so coverage stays exact.

        >>> b = GraphBuilder((1, 2, 3, 4), "nchw")
        >>> up = b.resize(b.input, "up", kind=OpKind.INTERPOLATE, output_shape=(1, 2, 6, 8),
        ...               repeat=(2, 2))
        >>> b.build().nodes[up].scatter.stride
        (2, 2)
        """
        shape = self.shape(parent)
        out = tuple(output_shape)
        scatter = None
        if repeat is not None:
            factors = tuple(int(s) for s in repeat)
            sizes = self._spatial(shape)
            expected = tuple(
                None if n is None else n * s for n, s in zip(sizes, factors, strict=True)
            )
            if len(factors) != len(sizes) or expected != self._spatial(out) or min(factors) < 1:
                raise GeometryError(
                    f"{name}: repeating {shape!r} by {factors!r} does not give {out!r}"
                )
            rank = len(factors)
            scatter = Window(factors, factors, (1,) * rank, ((0, 0),) * rank)
        return self._add(name, kind, (parent,), shape, out, scatter=scatter, op=op)

    def slice(
        self,
        parent: int,
        name: str,
        *,
        spatial: Sequence[tuple[int, int, int]],
        output_shape: Shape,
        op: str = "",
    ) -> int:
        """Indexing that keeps every axis: per spatial axis ``(start, stop, step)`` as Python
        slices them (normalised: ``0 <= start``, ``stop <= n``, ``step >= 1``), a kernel-1
        window of stride ``step`` that drops ``start`` positions before and ``n - stop`` after;
        the frontend gives the output shape (batch and channel axes may be sliced too).
        ``x[:, :, ::2, ::2]`` reads 25 % of the positions, like a 1x1 stride-2 conv.

        >>> b = GraphBuilder((1, 16, 9, 8), "nchw")
        >>> s = b.slice(b.input, "x[:, :8, 1::2, ::2]", spatial=[(1, 9, 2), (0, 8, 2)],
        ...             output_shape=(1, 8, 4, 4))
        >>> node = b.build().nodes[s]
        >>> node.kind.value, node.window.stride, node.window.padding, node.macs
        ('slice', (2, 2), ((-1, 0), (0, 0)), 0)
        >>> round(node.window.read_fraction((9, 8)), 4)
        0.2222
        """
        shape = self.shape(parent)
        sizes = self._spatial(shape)
        if len(spatial) != len(sizes) or len(output_shape) != len(shape):
            raise GeometryError(
                f"{name}: a slice needs one (start, stop, step) per spatial axis and keeps the "
                f"rank; received {tuple(spatial)!r} for input {shape!r}, output {output_shape!r}"
            )
        padding = []
        for n, (start, stop, step) in zip(sizes, spatial, strict=True):
            if n is None or step < 1 or not 0 <= start < stop <= n:
                raise GeometryError(
                    f"{name}: slice {start}:{stop}:{step} does not fit an axis of size {n}"
                )
            padding.append((-start, stop - n))
        rank = len(sizes)
        window = Window((1,) * rank, tuple(t[2] for t in spatial), (1,) * rank, tuple(padding))
        if window.output_spatial(sizes) != self._spatial(tuple(output_shape)):
            raise GeometryError(
                f"{name}: output {tuple(output_shape)!r} does not match slices {tuple(spatial)!r} "
                f"of input {shape!r}"
            )
        return self._add(
            name, OpKind.SLICE, (parent,), shape, tuple(output_shape), window=window, op=op
        )

    def pad(
        self,
        parent: int,
        name: str,
        *,
        padding: Sequence[tuple[int, int]],
        mode: str = "zeros",
        channels: tuple[int, int] = (0, 0),
        op: str = "",
    ) -> int:
        """Explicit padding of the spatial axes, ``(before, after)`` per axis; a negative amount
        crops (as ``F.pad`` and Keras ``Cropping*D``). ``channels`` pads (or crops) the channel
        axis too, with zeros: the CIFAR ResNet "option A" shortcut. ``mode`` is what
        the padding holds: ``'zeros'`` (any constant), ``'reflect'``, ``'replicate'`` or
        ``'circular'``. It is stored as a window of kernel 1 and stride 1 with that padding
        (and ``pad_mode``), so the output size comes from geometry, coverage reads it as an
        exact index shift (a constant padding reads no pixel; the other modes read the pixels
        they copy) and the receptive field's start moves by ``-before * jump``.

        >>> b = GraphBuilder((1, 3, 5, 5), "nchw")
        >>> p = b.pad(b.input, "pad", padding=[(0, 1), (2, 1)])
        >>> node = b.build().nodes[p]
        >>> node.output_shape, node.window.padding, node.macs
        ((1, 3, 6, 8), ((0, 1), (2, 1)), 0)
        >>> c = b.pad(p, "crop", padding=[(-1, -2), (0, -3)])
        >>> b.build().nodes[c].output_shape
        (1, 3, 3, 5)
        """
        shape = self.shape(parent)
        spatial = self._spatial(shape)
        rank = len(spatial)
        pads = tuple(padding)
        if rank == 0 or len(pads) != rank:
            raise GeometryError(
                f"{name}: padding {pads!r} needs one (before, after) per spatial axis; the "
                f"input {shape!r} ({self.layout}) has {rank}"
            )
        amounts = tuple((int(p[0]), int(p[1])) for p in pads)
        if any(min(p) < 0 for p in amounts):  # a crop: geometry's padding rules refuse it
            if mode not in PAD_MODES:
                raise GeometryError(
                    f"{name}: padding mode must be one of {', '.join(PAD_MODES)}; received {mode!r}"
                )
            window = Window((1,) * rank, (1,) * rank, (1,) * rank, amounts, pad_mode=mode)
            kept = window.output_spatial(spatial)
            if any(k is not None and k < 1 for k in kept):
                raise GeometryError(
                    f"{name}: padding {amounts!r} leaves no positions of input {shape!r}"
                )
        else:
            window = self._window(shape, name, 1, 1, 1, list(amounts), pad_mode=mode)
        width = self._channels(shape)
        if channels != (0, 0):
            if width is None or width + sum(channels) < 1 or mode != "zeros":
                raise GeometryError(
                    f"{name}: channel padding {channels!r} needs known channels and zeros; "
                    f"received {width} channels, mode {mode!r}"
                )
            width += sum(channels)
        out = self._with(shape, width, window.output_spatial(spatial))
        return self._add(name, OpKind.PAD, (parent,), shape, out, window=window, op=op)

    def reduce(
        self,
        parent: int,
        name: str,
        *,
        mode: str,
        axes: Sequence[int] | None,
        keepdim: bool = False,
        op: str = "",
    ) -> int:
        """A mean / sum (``mode='avg'``) or max (``'max'``) over ``axes`` (``None``: all).

        Over spatial axes only it is adaptive pooling to size 1 on those axes (so coverage
        and the receptive field know it reads every position), followed by a reshape that
        drops them when ``keepdim`` is false; returns the last node. Reductions that touch the
        batch or channel axis are one :attr:`OpKind.REDUCE` node with one MAC per input element.

        >>> b = GraphBuilder((2, 8, 4, 4), "nchw")
        >>> m = b.reduce(b.input, "mean", mode="avg", axes=(2, 3))
        >>> g = b.build()
        >>> [(n.kind.value, n.output_shape, n.macs) for n in g.nodes[1:]]
        [('adaptive_avgpool', (2, 8, 1, 1), 256), ('reshape', (2, 8), 0)]
        >>> b = GraphBuilder((2, 8, 4, 4), "nchw")
        >>> s = b.reduce(b.input, "s", mode="avg", axes=[1], keepdim=True)
        >>> n = b.build().nodes[s]
        >>> n.kind.value, n.output_shape, n.macs
        ('reduce', (2, 1, 4, 4), 256)
        """
        shape = self.shape(parent)
        rank = len(shape)
        if mode not in _ADAPTIVE_KINDS:
            raise GeometryError(f"{name}: reduce mode must be 'avg' or 'max'; received {mode!r}")
        chosen = range(rank) if axes is None else axes
        if any(not -rank <= a < rank for a in chosen):
            raise GeometryError(
                f"{name}: reduction axes {tuple(chosen)!r} out of range for shape {shape!r}"
            )
        reduced = sorted({a % rank for a in chosen})
        kept = tuple(1 if a in reduced else d for a, d in enumerate(shape))
        squeezed = tuple(d for a, d in enumerate(shape) if a not in reduced)
        out_shape = kept if keepdim else squeezed
        spatial = spatial_axes(rank, self.layout)
        if reduced and set(reduced) <= set(spatial):
            sizes = [1 if a in reduced else shape[a] for a in spatial]
            target = [t for t in sizes if t is not None]
            if len(target) == len(sizes):
                node = self.adaptive_pool(parent, name, mode=mode, output_size=target, op=op)
                if keepdim:
                    return node
                return self.other(
                    node, f"{name}.squeeze", kind=OpKind.RESHAPE, output_shape=out_shape, op=op
                )
        return self._add(
            name, OpKind.REDUCE, (parent,), shape, out_shape, macs=_numel(shape), op=op
        )

    # -- non-spatial ops -----------------------------------------------------------------
    def linear(
        self,
        parent: int,
        name: str,
        *,
        out_features: int,
        bias: bool = True,
        op: str = "",
        params: int | None = None,
    ) -> int:
        """A dense layer on the last axis; ``params`` overrides the count as in :meth:`conv`."""
        shape = self.shape(parent)
        fin = shape[-1]
        if fin is None:
            raise GeometryError(f"{name}: the feature count must be known; received {shape!r}")
        out = (*shape[:-1], out_features)
        if params is None:
            params = fin * out_features + (out_features if bias else 0)
        macs = _numel(shape[:-1]) * fin * out_features
        return self._add(
            name, OpKind.LINEAR, (parent,), shape, out, params=params, macs=macs, op=op
        )

    def permute(self, parent: int, name: str, *, dims: Sequence[int], op: str = "") -> int:
        """Reorder the axes (``torch.permute``): output axis ``i`` is input axis ``dims[i]``.
        No MACs; the node records where the spatial axes went (:attr:`Node.spatial_at`), so
        the receptive field and coverage follow positions through a channels-last detour.

        >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
        >>> p = b.permute(b.input, "to_nhwc", dims=(0, 2, 3, 1))
        >>> back = b.permute(p, "to_nchw", dims=(0, 3, 1, 2))
        >>> g = b.build()
        >>> g.nodes[p].output_shape, g.nodes[p].spatial_at, g.nodes[back].spatial_at
        ((1, 8, 6, 3), (1, 2), None)
        """
        shape = self.shape(parent)
        rank = len(shape)
        order = tuple(d % rank if -rank <= d < rank else rank for d in dims)
        if sorted(order) != list(range(rank)):
            raise GeometryError(
                f"{name}: dims {tuple(dims)!r} are not a permutation of the {rank} axes of {shape!r}"
            )
        before = self._nodes[parent].spatial_at or spatial_axes(rank, self.layout)
        at = tuple(order.index(a) for a in before)
        moved = None if at == spatial_axes(rank, self.layout) else at
        out = tuple(shape[d] for d in order)
        return self._add(name, OpKind.PERMUTE, (parent,), shape, out, spatial_at=moved, op=op)

    def matmul(
        self,
        parents: Sequence[int],
        name: str,
        *,
        output_shape: Shape,
        macs: int,
        params: int = 0,
        op: str = "",
    ) -> int:
        """A product of tensors (``@``, ``bmm``, attention, ``einsum``): the frontend gives the
        output shape and the MACs (one per output element per contracted element, as for a
        dense layer).

        >>> b = GraphBuilder((2, 16, 64), "nchw")
        >>> m = b.matmul([b.input, b.input], "scores", output_shape=(2, 16, 16), macs=2*16*16*64)
        >>> b.build().nodes[m].kind.value, b.build().nodes[m].macs
        ('matmul', 32768)
        """
        parent_shape = self.shape(parents[0]) if parents else ()
        return self._add(
            name, OpKind.MATMUL, tuple(parents), parent_shape, tuple(output_shape),
            params=params, macs=macs, op=op,
        )  # fmt: skip

    def pointwise(
        self, parent: int, name: str, *, kind: OpKind, params: int = 0, op: str = ""
    ) -> int:
        """A shape-preserving op: normalisation, activation, dropout."""
        shape = self.shape(parent)
        return self._add(name, kind, (parent,), shape, shape, params=params, op=op)

    def reshape(self, parent: int, name: str, *, output_shape: Shape, op: str = "") -> int:
        """A view / reshape to ``output_shape`` (no MACs). When every spatial axis survives
        whole (same size, same elements before and after it), the node records where it went,
        so positions stay known: ShuffleNet's ``view(B, g, C // g, H, W)`` keeps them, a
        flatten of ``H x W`` does not.

        >>> b = GraphBuilder((1, 8, 4, 6), "nchw")
        >>> split = b.reshape(b.input, "split", output_shape=(1, 2, 4, 4, 6))
        >>> merged = b.reshape(split, "merge", output_shape=(1, 8, 24))
        >>> g = b.build()
        >>> g.nodes[split].spatial_at, g.nodes[merged].spatial_at
        ((3, 4), None)
        """
        shape = self.shape(parent)
        out = tuple(output_shape)
        source = self._nodes[parent].spatial_at or spatial_axes(len(shape), self.layout)
        kept = _kept_axes(shape, source, out) if source else None
        return self._add(name, OpKind.RESHAPE, (parent,), shape, out, spatial_at=kept, op=op)

    def flatten(self, parent: int, name: str, *, start_dim: int = 1, op: str = "") -> int:
        shape = self.shape(parent)
        rest = shape[start_dim:]
        size = None if any(d is None for d in rest) else math.prod(d for d in rest if d)
        out = (*shape[:start_dim], size)
        return self._add(name, OpKind.FLATTEN, (parent,), shape, out, op=op)

    def merge(self, parents: Sequence[int], name: str, *, kind: OpKind, op: str = "") -> int:
        """Add / multiply (same shapes) or concatenate along the channel axis."""
        shapes = [self.shape(p) for p in parents]
        first = shapes[0]
        if kind is OpKind.CONCAT:
            axis = channel_axis(len(first), self.layout)
            others = {tuple(d for i, d in enumerate(s) if i != axis) for s in shapes}
            if len(others) > 1 or any(len(s) != len(first) for s in shapes):
                raise GeometryError(
                    f"{name}: operands of concat differ outside the channel axis: {shapes!r}"
                )
            chans = [s[axis] for s in shapes]
            total = None if any(c is None for c in chans) else sum(c for c in chans if c)
            out = tuple(total if i == axis else d for i, d in enumerate(first))
            return self._add(name, kind, tuple(parents), first, out, op=op)
        if any(s != first for s in shapes):
            raise GeometryError(f"{name}: operands of {kind} differ in shape: {shapes!r}")
        macs = _numel(first) * (len(parents) - 1)
        return self._add(name, kind, tuple(parents), first, first, macs=macs, op=op)

    def elementwise(
        self,
        parents: Sequence[int],
        name: str,
        *,
        kind: OpKind,
        operand_shapes: Sequence[Shape] = (),
        params: int = 0,
        op: str = "",
    ) -> int:
        """Add / multiply with broadcasting. ``operand_shapes`` are the shapes of operands that
        are not nodes (``()`` for a Python scalar, a bias, a scale); one MAC per output element
        per operand beyond the first.

        >>> b = GraphBuilder((1, 8, 4, 4), "nchw")
        >>> m = b.elementwise([b.input], "scale", kind=OpKind.MUL, operand_shapes=[(1, 8, 1, 1)])
        >>> b.build().nodes[m].output_shape, b.build().nodes[m].macs
        ((1, 8, 4, 4), 128)
        """
        shapes = [self.shape(p) for p in parents] + [tuple(s) for s in operand_shapes]
        rank = max(len(s) for s in shapes)
        out: list[int | None] = [1] * rank
        for s in shapes:
            for axis, d in enumerate(s, start=rank - len(s)):
                if d == 1 or d == out[axis]:
                    continue
                if out[axis] != 1:
                    raise GeometryError(f"{name}: operands of {kind} do not broadcast: {shapes!r}")
                out[axis] = d
        result = tuple(out)
        macs = _numel(result) * (len(shapes) - 1)
        return self._add(
            name,
            kind,
            tuple(parents),
            self.shape(parents[0]),
            result,
            params=params,
            macs=macs,
            op=op,
        )

    def other(
        self,
        parent: int | Sequence[int],
        name: str,
        *,
        kind: OpKind,
        output_shape: Shape,
        params: int = 0,
        counted: bool = True,
        note: str = "",
        op: str = "",
    ) -> int:
        """Any other op, e.g. a reshape; ``counted=False`` marks an op stridescope does not
        understand: it is listed as uncounted, never as a silent zero."""
        parents = (parent,) if isinstance(parent, int) else tuple(parent)
        shape = self.shape(parents[0]) if parents else ()
        return self._add(
            name,
            kind,
            parents,
            shape,
            tuple(output_shape),
            params=params,
            counted=counted,
            note=note,
            op=op,
        )


def _kept_axes(shape: Shape, axes: Sequence[int], out: Shape) -> tuple[int, ...] | None:
    """Where each of ``shape``'s ``axes`` is in ``out`` after a row-major reshape, when every
    one survives whole: an output axis of the same size with as many elements before it."""
    if None in shape or None in out:
        return None
    sizes = [int(d) for d in shape if d is not None]
    after = [int(d) for d in out if d is not None]
    found: list[int] = []
    for axis in axes:
        before = math.prod(sizes[:axis])
        match = [
            q for q, d in enumerate(after)
            if d == sizes[axis] and math.prod(after[:q]) == before and q not in found
        ]  # fmt: skip
        if not match:
            return None
        # a size-1 axis matches several places (it carries one position): keep it where it
        # was if it can stay, else the first free place after the axes found so far
        later = [q for q in match if not found or q > found[-1]]
        found.append(axis if axis in match else (later or match)[0])
    return tuple(found)
