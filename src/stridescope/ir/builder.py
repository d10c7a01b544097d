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

The builder is three parts, one concern each: bookkeeping and spatial-axis tracking
(:mod:`~stridescope.ir.builder_core`), ops that slide or scatter a window
(:mod:`~stridescope.ir.builder_windows`) and ops on whole axes
(:mod:`~stridescope.ir.builder_tensors`); :meth:`GraphBuilder.reduce` uses both families.

>>> b = GraphBuilder((1, 32, 32, 3), "nhwc", source="doc")
>>> x = b.conv(b.input, "conv", out_channels=16, kernel=1, stride=2, padding="same")
>>> node = b.build().nodes[x]
>>> node.output_shape, node.params, node.macs
((1, 16, 16, 16), 64, 12288)

A size that geometry cannot compute is a :class:`LayerError` (a
:class:`~stridescope.errors.StridescopeError`) whose one line names the layer:

>>> b.conv(x, "stem", out_channels=8, kernel=32)
Traceback (most recent call last):
...
stridescope.ir.builder_core.LayerError: layer 'stem': output size would be 0 for input=16, kernel=32, stride=1, dilation=1, padding=(0, 0)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from stridescope.geometry import GeometryError
from stridescope.ir.axes import followed_axes, reduced_axes
from stridescope.ir.builder_core import (
    _INHERITED,
    PAD_MODES,
    IntOrTuple,
    LayerError,
    PaddingSpec,
    in_layer,
    numel,
)
from stridescope.ir.builder_tensors import TensorOps
from stridescope.ir.builder_windows import WindowOps
from stridescope.ir.graph import OpKind, Shape, Window, spatial_axes
from stridescope.ir.resampling import ResizeOps
from stridescope.ir.reshaped_axes import reduced_shape, restacked_axes

__all__ = ["PAD_MODES", "GraphBuilder", "IntOrTuple", "LayerError", "axis_window", "reduced_shape"]


class GraphBuilder(WindowOps, TensorOps, ResizeOps):
    """Appends nodes in topological order. Each method returns the new node's id."""

    @property
    def size(self) -> int:
        """How many nodes there are so far (the next node's id)."""
        return len(self._nodes)

    def params_counted_before(self, first: int, owner: str = "") -> None:
        """Nodes ``first`` onwards reuse weights counted at an earlier node (the layer
        ``owner`` called again): their ``params`` become 0, so a model's total counts each
        weight once, and those that had weights name ``owner`` in ``shares``.

        >>> b = GraphBuilder((1, 4), "nchw")
        >>> x = b.linear(b.input, "fc", out_features=4)
        >>> again = b.linear(x, "fc@1", out_features=4)
        >>> b.params_counted_before(again, "fc")
        >>> g = b.build()
        >>> g.params, g.nodes[again].shares
        (20, 'fc')
        """
        for i in range(first, len(self._nodes)):
            node = self._nodes[i]
            self.shared(i, owner if node.params else node.shares)

    @contextmanager
    def channels_first(self) -> Iterator[None]:
        """Nodes added inside the block take their input channels first, as a PyTorch
        function does, whatever the graph's layout (a torch function a Keras layer calls on
        data it transposed): windows are computed on the axes after the channels, and in a
        channels-last graph a node made from such data (its parent's ``spatial_at`` there)
        keeps its spatial axes there too, so the analyses read its window on them.

        >>> b = GraphBuilder((1, 8, 8, 3), "nhwc")
        >>> t = b.permute(b.input, "t", dims=(0, 3, 1, 2))
        >>> with b.channels_first():
        ...     p = b.pool(t, "pool", mode="max", kernel=2)
        >>> g = b.build()
        >>> g.nodes[p].output_shape, g.nodes[p].spatial_at, g.spatial_of(g.nodes[p])
        ((1, 3, 4, 4), (2, 3), (4, 4))
        """
        layout, first = self.layout, len(self._nodes)
        self.layout = "nchw"
        try:
            yield
        finally:
            self.layout = layout
        if layout == "nchw":
            return
        for i in range(first, len(self._nodes)):
            node = self._nodes[i]
            axes = tuple(range(2, len(node.output_shape)))
            if (
                node.spatial_at is None
                and axes
                and any(self._nodes[p].spatial_at == axes for p in node.parents)
            ):
                self._nodes[i] = replace(node, spatial_at=axes)

    def drop_from(self, first: int) -> None:
        """Remove nodes ``first`` onwards: a frontend's reading of a layer that failed part way
        (it then adds the layer as one node).

        >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
        >>> _ = b.conv(b.input, "c", out_channels=4, kernel=3)
        >>> b.drop_from(1)
        >>> b.size
        1
        """
        del self._nodes[first:]
        self.edited[:] = [e for e in self.edited if e < first]

    def shared(self, node: int, owner: str) -> None:
        """Node ``node`` uses the weights of layer ``owner``, counted where it was first called
        (a layer called again): ``params`` 0 and ``shares`` naming it."""
        self._nodes[node] = replace(self._nodes[node], params=0, shares=owner)
        self.edited.append(node)

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
        shape = self._nodes[parent].output_shape
        rank = len(shape)
        if mode not in ("avg", "max"):
            raise LayerError(name, f"reduce mode must be 'avg' or 'max'; received {mode!r}")
        chosen = range(rank) if axes is None else axes
        if any(not -rank <= a < rank for a in chosen):
            raise LayerError(
                name, f"reduction axes {tuple(chosen)!r} out of range for shape {shape!r}"
            )
        reduced = sorted({a % rank for a in chosen})
        out_shape = reduced_shape(shape, reduced, keepdim)
        above, spatial = self._nodes[parent], spatial_axes(rank, self.layout)
        moved = followed_axes(above, self.layout, self._nodes) is not None
        if reduced and set(reduced) <= set(spatial) and not moved:
            sizes = [1 if a in reduced else shape[a] for a in spatial]
            target = [t for t in sizes if t is not None]
            if len(target) == len(sizes):
                node = self.adaptive_pool(parent, name, mode=mode, output_size=target, op=op)
                if keepdim:
                    return node
                return self.other(
                    node, f"{name}.squeeze", kind=OpKind.RESHAPE, output_shape=out_shape, op=op
                )
        # over other axes, positions stay and the spatial axes shift; over all of them
        kept = reduced_axes(above, self.layout, reduced, keepdim)
        if kept is None or (
            above.spatial_at is None and kept == spatial_axes(len(out_shape), self.layout)
        ):
            kept = None  # (where the layout puts them: none to record)
        return self._add(
            name,
            OpKind.REDUCE,
            (parent,),
            shape,
            out_shape,
            macs=numel(shape),
            op=op,
            spatial_at=kept,
        )

    def stack(
        self, parents: Sequence[int], name: str, *, axis: int, output_shape: Shape, op: str = ""
    ) -> int:
        """Equally shaped tensors stacked along a new ``axis`` (``torch.stack``): a
        concatenation (no MACs) in which every position stays itself, the spatial axes after
        ``axis`` one further on (SKNet's branches, stacked to be weighed and summed); frames
        picked one by one have their axis again (:func:`.reshaped_axes.restacked_axes`).

        >>> b = GraphBuilder((1, 4, 6, 6), "nchw")
        >>> s = b.stack([b.input, b.input], "stack", axis=1, output_shape=(1, 2, 4, 6, 6))
        >>> node = b.build().nodes[s]
        >>> node.kind.value, node.spatial_at
        ('concat', (3, 4))
        """
        first = self._nodes[parents[0]]
        at = restacked_axes(self._nodes, first, self.layout, axis, len(output_shape))
        return self._add(
            name,
            OpKind.CONCAT,
            tuple(parents),
            first.output_shape,
            tuple(output_shape),
            op=op,
            spatial_at=at,
        )

    def along(
        self,
        parent: int | Sequence[int],
        name: str,
        *,
        axes: Sequence[int],
        output_shape: Shape,
        how: str,
        macs: int,
        kind: OpKind = OpKind.REDUCE,
        op: str = "",
    ) -> int:
        """An op along ``axes`` of its input that keeps the rank: a scan (``how='scan'``,
        output ``o`` reads positions ``0..o``), a difference (``'diff'``, ``o`` up to
        ``o + n_in - n_out``), a sort, ``topk`` or Fourier transform (``'whole'``, every
        position). Along the spatial axes among ``axes`` (where the layout puts them) the node
        carries that window (:func:`axis_window`), so coverage and the receptive field know
        what it reads; elsewhere it is as position-wise as a reduction over channels. Several
        parents (a transform of a real and an imaginary part) are read alike.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 4, 6, 5), "nchw")
        >>> s = b.along(b.input, "cumsum", axes=[2], output_shape=(1, 4, 6, 5), how="scan",
        ...             macs=120)
        >>> b.build().nodes[s].window.kernel, b.build().nodes[s].window.padding
        ((6, 1), ((5, 0), (0, 0)))
        """
        parents = (parent,) if isinstance(parent, int) else tuple(parent)
        shape = self._nodes[parents[0]].output_shape
        out = tuple(output_shape)
        spatial = spatial_axes(len(shape), self.layout)
        chosen = [a % len(shape) for a in axes if a % len(shape) in spatial]
        pairs = {spatial.index(a): (shape[a], out[a]) for a in chosen if len(out) == len(shape)}
        window = None
        known = all(i is not None and o is not None for i, o in pairs.values())
        if pairs and known and all(self._nodes[p].spatial_at is None for p in parents):
            window = axis_window(len(spatial), pairs, how)  # type: ignore[arg-type]
        return self._add(name, kind, parents, shape, out, macs=macs, window=window, op=op)

    def patches(
        self,
        parent: int,
        name: str,
        *,
        kernel: IntOrTuple,
        stride: IntOrTuple,
        dilation: IntOrTuple = 1,
        padding: PaddingSpec = 0,
        op: str = "",
        keeps: tuple[int, ...] | None = None,
    ) -> int:
        """The windows of a sliding window laid out as channels, ``(C, H, W) -> (C*kh*kw,
        H', W')`` (``F.unfold`` before it flattens the positions): data movement (0 MACs)
        whose window tells coverage which positions it reads (a stride above the kernel
        skips some); :meth:`pixel_unshuffle` is the case kernel = stride. ``keeps``: the
        parent's spatial axes, if not the layout's (the window is read on those).

        >>> b = GraphBuilder((1, 3, 32, 32), "nchw")
        >>> p = b.patches(b.input, "unfold", kernel=2, stride=4)
        >>> node = b.build().nodes[p]
        >>> node.output_shape, node.macs, node.window.stride
        ((1, 12, 8, 8), 0, (4, 4))
        """
        shape = self._nodes[parent].output_shape
        try:
            window = self._window(shape, kernel, stride, dilation, padding)
        except GeometryError as error:
            raise in_layer(name, error) from None
        channels = self._channels(shape)
        cout = None if channels is None else channels * math.prod(window.kernel)
        out = self._with(shape, cout, window.output_spatial(self._spatial(shape)))
        kind = OpKind.PIXEL_UNSHUFFLE
        at = _INHERITED if keeps is None else keeps
        return self._add(name, kind, (parent,), shape, out, window=window, op=op, spatial_at=at)

    def pixel_unshuffle(self, parent: int, name: str, *, factor: int, op: str = "") -> int:
        """Space-to-depth: ``(C, H, W) -> (C*r*r, H/r, W/r)``; sizes must divide by ``r``."""
        shape = self._nodes[parent].output_shape
        if any(n is not None and n % factor for n in self._spatial(shape)):
            raise in_layer(
                name,
                GeometryError(
                    f"pixel unshuffle by {factor} needs spatial sizes divisible by {factor}; "
                    f"received {shape!r}"
                ),
            )
        return self.patches(parent, name, kernel=factor, stride=factor, op=op)

    def transform(
        self,
        parent: int | Sequence[int],
        name: str,
        *,
        axes: Sequence[int],
        output_shape: Shape,
        op: str = "",
    ) -> int:
        """A Fourier transform over ``axes`` (``torch.fft.rfft2``, ``keras.ops.fft``): a product
        node of ``ceil(log2(n))`` MACs per element of the larger of input and output, ``n`` the
        positions transformed together (a radix-2 FFT's butterflies), every position of each
        transformed spatial axis read by every output (:meth:`along`, ``how='whole'``).

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 4, 8, 8), "nchw")
        >>> f = b.transform(b.input, "rfft2", axes=[2, 3], output_shape=(1, 4, 8, 5))
        >>> b.build().nodes[f].macs  # 256 inputs x log2(8 x 8)
        1536
        """
        parents = (parent,) if isinstance(parent, int) else tuple(parent)
        shape, out = self._nodes[parents[0]].output_shape, tuple(output_shape)
        if None in shape or None in out:
            raise LayerError(name, f"a transform needs known sizes; received {shape!r}")
        sizes = [max(int(shape[a] or 0), int(out[a] or 0)) for a in axes]
        larger = max(math.prod(int(d or 0) for d in shape), math.prod(int(d or 0) for d in out))
        macs = fft_macs(larger, math.prod(sizes))
        return self.along(
            parents,
            name,
            axes=axes,
            output_shape=out,
            how="whole",
            macs=macs,
            kind=OpKind.MATMUL,
            op=op,
        )


def fft_macs(elements: int, points: int) -> int:
    """MACs of Fourier transforms of ``points`` positions each over ``elements`` in all:
    ``ceil(log2(points))`` per element (a radix-2 FFT's butterflies), at least one.

    >>> fft_macs(256, 64), fft_macs(10, 1)
    (1536, 10)
    """
    return elements * max(1, math.ceil(math.log2(max(points, 1))))


def axis_window(rank: int, axes: dict[int, tuple[int, int]], how: str) -> Window:
    """The window of :meth:`GraphBuilder.along` over ``rank`` spatial axes: on each of ``axes``
    (spatial index -> (positions in, positions out)) what ``how`` reads, 1 on the others;
    ``'whole'`` is a kernel of ``n_in + n_out - 1`` padded ``n_out - 1`` on both sides, so each
    output's window spans the axis.

    >>> axis_window(1, {0: (5, 3)}, "whole").output_spatial((5,))
    (3,)
    >>> axis_window(2, {1: (5, 4)}, "diff").kernel
    (1, 2)
    """
    kernel, pads = [1] * rank, [(0, 0)] * rank
    for axis, (n_in, n_out) in axes.items():
        if how == "scan":
            kernel[axis], pads[axis] = n_in, (n_in - 1, 0)
        elif how == "diff":
            kernel[axis] = n_in - n_out + 1
        else:
            kernel[axis], pads[axis] = n_in + n_out - 1, (n_out - 1, n_out - 1)
    return Window(tuple(kernel), (1,) * rank, (1,) * rank, tuple(pads))
