"""The windowed half of :class:`~stridescope.ir.GraphBuilder`: ops whose output positions
read a window (or a scatter) of input positions -- convolutions, transposed convolutions,
pools, reductions, polyphase sampling, pixel unshuffle, slices and padding (resizes are in
:mod:`~stridescope.ir.resampling`). Each keeps its :class:`~stridescope.ir.Window`, so
coverage and the receptive field are exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stridescope.geometry import GeometryError, per_axis, transposed_output_size
from stridescope.ir.axes import on_axes, signal_of, slice_axes
from stridescope.ir.builder_core import (
    _INHERITED,
    BuilderCore,
    IntOrTuple,
    LayerError,
    PaddingSpec,
    check_pad_mode,
    in_layer,
    numel,
)
from stridescope.ir.builder_memo import adaptive_reads, exact_key, remember, slice_window
from stridescope.ir.graph import Layout, OpKind, Shape, Window

# per-node OpKind members as module names (``OpKind.X`` is slow on Python 3.11: see builder_core)
_CONV, _SLICE = OpKind.CONV, OpKind.SLICE

__all__ = ["WindowOps"]

_POOL_KINDS = {"max": OpKind.MAXPOOL, "avg": OpKind.AVGPOOL}
_ADAPTIVE_KINDS = {"max": OpKind.ADAPTIVE_MAXPOOL, "avg": OpKind.ADAPTIVE_AVGPOOL}
_PAD = OpKind.PAD

# a convolution's window, output shape, MACs per output element and MACs, by its arguments
_ConvKey = tuple[Layout, Shape, int, int, object, object, object, object, str]
_CONVS: dict[_ConvKey, tuple[Window, Shape, int, int]] = {}


class WindowOps(BuilderCore):
    """Node methods for the ops that slide or scatter a window over the spatial axes."""

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
        shape = self._nodes[parent].output_shape
        try:
            window, out, fan_in, macs = self._conv_geometry(
                shape, out_channels, kernel, stride, dilation, padding, groups, pad_mode
            )
        except GeometryError as error:
            raise in_layer(name, error) from None
        if params is None:
            params = out_channels * fan_in + (out_channels if bias else 0)
        return self._add(
            name,
            _CONV,
            (parent,),
            shape,
            out,
            params=params,
            macs=macs,
            window=window,
            groups=groups,
            op=op,
        )

    def _conv_geometry(
        self,
        shape: Shape,
        out_channels: int,
        kernel: IntOrTuple,
        stride: IntOrTuple,
        dilation: IntOrTuple,
        padding: PaddingSpec,
        groups: int,
        pad_mode: str,
    ) -> tuple[Window, Shape, int, int]:
        """A convolution's window, output shape, MACs per output element (``C_in / groups x
        kernel area``) and MACs, memoised on the arguments as :meth:`_sliding` is: a network
        repeats a few convolutions many times. Arguments with no exact hashable form (see
        :func:`exact_key`) are computed afresh, so every error is raised as geometry raises it.
        """
        key = (
            self.layout,
            shape,
            out_channels,
            groups,
            exact_key(kernel),
            exact_key(stride),
            exact_key(dilation),
            exact_key(padding),
            pad_mode,
        )
        exact = type(out_channels) is int and type(groups) is int and None not in key
        known = _CONVS.get(key) if exact else None
        if known is not None:
            return known
        cin = self._grouped_channels(shape, out_channels, groups)
        window, sizes = self._sliding(shape, kernel, stride, dilation, padding, pad_mode=pad_mode)
        out = self._with(shape, out_channels, sizes)
        fan_in = cin // groups * math.prod(window.kernel)
        found = (window, out, fan_in, numel(out) * fan_in)
        return remember(_CONVS, key, found) if exact else found

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

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 8, 16, 16), "nchw")
        >>> up = b.conv_transpose(b.input, "up", out_channels=4, kernel=2, stride=2)
        >>> node = b.build().nodes[up]
        >>> node.output_shape, node.params, node.macs
        ((1, 4, 32, 32), 132, 32768)
        """
        shape = self._nodes[parent].output_shape
        try:
            cin = self._grouped_channels(shape, out_channels, groups)
            k, s, d = self._steps(shape, kernel, stride, dilation)
            extra = per_axis(output_padding, len(k), "output_padding")
            if isinstance(padding, int):  # torch's form: both sides of every axis
                pads = ((padding, padding),) * len(k)
            else:
                pads = self._pairs(shape, padding)
            sizes = tuple(
                transposed_output_size(n, *args)
                for n, *args in zip(self._spatial(shape), k, s, d, pads, extra, strict=True)
            )
        except GeometryError as error:
            raise in_layer(name, error) from None
        out = self._with(shape, out_channels, sizes)
        area = math.prod(k)
        if params is None:
            params = cin * (out_channels // groups) * area + (out_channels if bias else 0)
        macs = numel(shape) * (out_channels // groups) * area
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
        shape = self._nodes[parent].output_shape
        steps = kernel if stride is None else stride
        try:
            window, sizes = self._sliding(shape, kernel, steps, dilation, padding, ceil_mode)
        except GeometryError as error:
            raise in_layer(name, error) from None
        out = self._with(shape, self._channels(shape), sizes)
        macs = numel(out) * math.prod(window.kernel)
        return self._add(
            name, _POOL_KINDS[mode], (parent,), shape, out, macs=macs, window=window, op=op
        )

    def adaptive_pool(
        self, parent: int, name: str, *, mode: str, output_size: IntOrTuple, op: str = ""
    ) -> int:
        """Adaptive pooling; output window ``o`` covers ``[floor(o*n/m), ceil((o+1)*n/m))``."""
        shape = self._nodes[parent].output_shape
        spatial = self._spatial(shape)
        try:
            target = per_axis(output_size, len(spatial), "output_size")
        except GeometryError as error:
            raise in_layer(name, error) from None
        channels = self._channels(shape)
        out = self._with(shape, channels, target)
        macs = (shape[0] or 1) * (channels or 1) * adaptive_reads(spatial, target)
        return self._add(name, _ADAPTIVE_KINDS[mode], (parent,), shape, out, macs=macs, op=op)

    def polyphase(self, parent: int, name: str, *, factor: int = 2, op: str = "") -> int:
        """Adaptive polyphase sampling: keep the phase of largest norm (reads every phase)."""
        shape = self._nodes[parent].output_shape
        try:
            window = self._window(shape, factor, factor, 1, "valid", ceil_mode=True)
        except GeometryError as error:
            raise in_layer(name, error) from None
        spatial = self._spatial(shape)
        out_spatial = tuple(None if n is None else -(-n // factor) for n in spatial)
        out = self._with(shape, self._channels(shape), out_spatial)
        return self._add(
            name, OpKind.POLYPHASE, (parent,), shape, out, macs=numel(shape), window=window, op=op
        )

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

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 16, 9, 8), "nchw")
        >>> s = b.slice(b.input, "x[:, :8, 1::2, ::2]", spatial=[(1, 9, 2), (0, 8, 2)],
        ...             output_shape=(1, 8, 4, 4))
        >>> node = b.build().nodes[s]
        >>> node.kind.value, node.window.stride, node.window.padding, node.macs
        ('slice', (2, 2), ((-1, 0), (0, 0)), 0)
        >>> round(node.window.read_fraction((9, 8)), 4)
        0.2222
        """
        node = self._nodes[parent]
        shape, axes = node.output_shape, slice_axes(node, self.layout, self._nodes)
        sizes = tuple(shape[a] for a in axes)
        try:
            if len(spatial) != len(sizes) or len(output_shape) != len(shape):
                raise GeometryError(
                    f"a slice needs one (start, stop, step) per spatial axis and keeps the rank; "
                    f"received {tuple(spatial)!r} for input {shape!r}, output {output_shape!r}"
                )
            window, out_sizes = slice_window(sizes, spatial)
            if out_sizes != tuple(output_shape[a] for a in axes):
                raise GeometryError(
                    f"output {tuple(output_shape)!r} does not match slices {tuple(spatial)!r} "
                    f"of input {shape!r}"
                )
        except GeometryError as error:
            raise in_layer(name, error) from None
        if not sizes:  # no spatial axis (token ids ``ids[:, 1:]``): no window to read
            return self._add(name, _SLICE, (parent,), shape, tuple(output_shape), op=op)
        out, where = tuple(output_shape), axes if node.spatial_at == axes else _INHERITED
        at = node.spatial_at
        if at and at != axes and sorted(at) == sorted(axes):
            # axes a permute moved, not followed from the input: the window is held where
            # they are, as a pad's (axes_window reads a slice's so)
            window = on_axes(window, [axes.index(a) for a in at]) or window
            where = at
        return self._add(
            name, _SLICE, (parent,), shape, out, window=window, op=op, spatial_at=where
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

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 3, 5, 5), "nchw")
        >>> p = b.pad(b.input, "pad", padding=[(0, 1), (2, 1)])
        >>> node = b.build().nodes[p]
        >>> node.output_shape, node.window.padding, node.macs
        ((1, 3, 6, 8), ((0, 1), (2, 1)), 0)
        >>> c = b.pad(p, "crop", padding=[(-1, -2), (0, -3)])
        >>> b.build().nodes[c].output_shape
        (1, 3, 3, 5)
        """
        shape = self._nodes[parent].output_shape
        at = self._nodes[parent].spatial_at  # axes a permute moved, padded where they are
        signal = signal_of(self._nodes[parent]) is not None  # (a (batch, samples) signal's)
        if channels != (0, 0) or (at and not signal and len(at) != len(self._spatial(shape))):
            at = None  # (padded channels, axes a reshape regrouped: the layout's)
        spatial = self._spatial(shape) if at is None else tuple(shape[a] for a in at)
        laid = (shape[0], 1, *spatial) if at and signal else shape  # (as (N, 1, L))
        laid = self._with(shape, self._channels(shape), spatial) if at and not signal else laid
        try:
            window = self._padding_window(laid, padding, mode)
        except GeometryError as error:
            raise in_layer(name, error) from None
        if at is not None:
            moved = dict(zip(at, window.output_spatial(spatial), strict=True))
            out = tuple(moved.get(axis, size) for axis, size in enumerate(shape))
            return self._add(name, _PAD, (parent,), shape, out, window=window, op=op, spatial_at=at)
        width = self._channels(shape)
        if channels != (0, 0):
            if width is None or width + sum(channels) < 1 or mode != "zeros":
                raise LayerError(
                    name,
                    f"channel padding {channels!r} needs known channels and zeros; "
                    f"received {width} channels, mode {mode!r}",
                )
            width += sum(channels)
        out = self._with(shape, width, window.output_spatial(spatial))
        return self._add(name, _PAD, (parent,), shape, out, window=window, op=op)

    def _padding_window(
        self, shape: Shape, padding: Sequence[tuple[int, int]], mode: str
    ) -> Window:
        """:meth:`pad`'s window: kernel 1, stride 1, ``padding`` (``(before, after)`` per
        spatial axis; a negative amount crops) holding ``mode``."""
        amounts = self._pairs(shape, padding)
        if any(min(p) < 0 for p in amounts):  # a crop: geometry's padding rules refuse it
            check_pad_mode(mode)
            ones = (1,) * len(amounts)
            window = Window(ones, ones, ones, amounts, pad_mode=mode)
            if any(k is not None and k < 1 for k in window.output_spatial(self._spatial(shape))):
                raise GeometryError(f"padding {amounts!r} leaves no positions of input {shape!r}")
            return window
        return self._window(shape, 1, 1, 1, list(amounts), pad_mode=mode)
