"""One call per layer kind, shared by the three frontends.

The PyTorch tracer (module attributes and function arguments), the Keras reader (layer
configs) and layer expressions each translate their framework's arguments into one of these
calls; the call adds the node(s) through :class:`~stridescope.ir.GraphBuilder`, which computes
every size, parameter and MAC. What a layer kind *means* is written here once: a depthwise
convolution has one group per input channel, a separable one is a depthwise then a 1x1
convolution, a stride of ``None`` is the pool's kernel, a global pool is an adaptive pool to
1 and a squeeze, a fused activation is a node of its own.

Arguments arrive normalised: sizes are ints or one int per spatial axis, padding is spelled as
:mod:`stridescope.geometry` spells it (``'valid'``, ``'same'``, ``'torch-same'``, amounts or
``(before, after)`` pairs per axis), ``op`` is the framework's own name for the layer, and
``params`` (where taken) overrides the builder's count. Each call returns the id of its last
node.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 8, 4), "nhwc")
>>> x = separable(b, b.input, "sep", "SeparableConv2D", out_channels=8, kernel=3,
...               padding="same", activation="relu")
>>> x = global_pool(b, x, "gap", "GlobalAveragePooling2D", mode="avg")
>>> for n in b.build().nodes[1:]:
...     print(n.name, n.op, n.output_shape, n.params)
sep/depthwise SeparableConv2D (1, 8, 8, 4) 36
sep/pointwise SeparableConv2D (1, 8, 8, 8) 40
sep/relu SeparableConv2D:relu (1, 8, 8, 8) 0
gap/pool GlobalAveragePooling2D (1, 1, 1, 8) 0
gap GlobalAveragePooling2D (1, 8) 0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from stridescope.errors import StridescopeError
from stridescope.geometry import keras_transposed_padding, per_axis
from stridescope.ir import GraphBuilder, OpKind, channel_axis, spatial_axes

__all__ = [
    "adaptive_pool",
    "conv",
    "conv_transpose",
    "dense",
    "depthwise",
    "flatten",
    "fused_activation",
    "global_pool",
    "norm",
    "pointwise",
    "pool",
    "separable",
]

Ints = int | Sequence[int]
Padding = str | int | Sequence[int | tuple[int, int]]

_NO_ACTIVATION = (None, "linear", "None", "")


def fused_activation(b: GraphBuilder, node: int, name: str, op: str, act: str | None) -> int:
    """A fused activation (Keras ``activation=``): a node ``<name>/<act>`` after ``node``, op
    ``<op>:<act>``; ``None`` and ``'linear'`` add nothing.

    >>> b = GraphBuilder((1, 4), "nhwc")
    >>> node = fused_activation(b, b.input, "fc", "Dense", "relu")
    >>> b.build().nodes[node].name
    'fc/relu'
    """
    if act in _NO_ACTIVATION:
        return node
    return b.pointwise(node, f"{name}/{act}", kind=OpKind.ACTIVATION, op=f"{op}:{act}")


def conv(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    out_channels: int,
    kernel: Ints,
    stride: Ints = 1,
    dilation: Ints = 1,
    padding: Padding = "valid",
    groups: int = 1,
    bias: bool = True,
    pad_mode: str = "zeros",
    params: int | None = None,
    activation: str | None = None,
) -> int:
    """A convolution; ``pad_mode`` is what the padding holds (``'zeros'``, ``'reflect'``...)."""
    node = b.conv(
        parent,
        name,
        out_channels=out_channels,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        groups=groups,
        bias=bias,
        op=op,
        params=params,
        pad_mode=pad_mode,
    )
    return node if activation is None else fused_activation(b, node, name, op, activation)


def conv_transpose(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    out_channels: int,
    kernel: Ints,
    stride: Ints = 1,
    dilation: Ints = 1,
    padding: str | int | Sequence[tuple[int, int]] = 0,
    output_padding: Ints | None = 0,
    groups: int = 1,
    bias: bool = True,
    params: int | None = None,
    activation: str | None = None,
) -> int:
    """A transposed convolution. ``padding`` is the ``(before, after)`` amounts cut from each
    axis of the full output, with ``output_padding`` added at the end (PyTorch), or Keras'
    ``'same'`` / ``'valid'`` with ``output_padding`` ``None`` or per axis, resolved by
    :func:`~stridescope.geometry.keras_transposed_padding`.

    >>> b = GraphBuilder((1, 8, 8, 4), "nhwc")
    >>> up = conv_transpose(b, b.input, "up", "Conv2DTranspose", out_channels=2, kernel=3,
    ...                     stride=2, padding="same", output_padding=None)
    >>> b.build().nodes[up].output_shape
    (1, 16, 16, 2)
    """
    if isinstance(padding, str):
        padding, output_padding = _keras_transposed(
            b, parent, kernel, stride, dilation, padding, output_padding
        )
    node = b.conv_transpose(
        parent,
        name,
        out_channels=out_channels,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=0 if output_padding is None else output_padding,
        groups=groups,
        bias=bias,
        op=op,
        params=params,
    )
    return node if activation is None else fused_activation(b, node, name, op, activation)


def _keras_transposed(
    b: GraphBuilder,
    parent: int,
    kernel: Ints,
    stride: Ints,
    dilation: Ints,
    mode: str,
    output_padding: Ints | None,
) -> tuple[list[tuple[int, int]], list[int]]:
    """Keras' ``'same'`` / ``'valid'`` for a transposed convolution, per spatial axis: the
    ``(before, after)`` cut from the full output and the ``output_padding`` after it."""
    rank = len(spatial_axes(len(b.shape(parent)), b.layout))
    k = per_axis(kernel, rank, "kernel_size")
    s = per_axis(stride, rank, "strides")
    d = per_axis(dilation, rank, "dilation_rate")
    extras: Sequence[int | None] = (
        [None] * rank
        if output_padding is None
        else per_axis(output_padding, rank, "output_padding")
    )
    resolved = [
        keras_transposed_padding(ki, si, di, mode, extra)
        for ki, si, di, extra in zip(k, s, d, extras, strict=True)
    ]
    return [pads for pads, _ in resolved], [extra for _, extra in resolved]


def depthwise(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    kernel: Ints,
    multiplier: int = 1,
    stride: Ints = 1,
    dilation: Ints = 1,
    padding: Padding = "valid",
    bias: bool = True,
    activation: str | None = None,
) -> int:
    """A depthwise convolution: one group per input channel, ``multiplier`` outputs each."""
    shape = b.shape(parent)
    channels = shape[channel_axis(len(shape), b.layout)]
    if channels is None:
        raise StridescopeError(
            f"{op} {name!r}: a depthwise convolution needs a known channel count; received "
            f"input shape {shape!r}"
        )
    node = b.conv(
        parent,
        name,
        out_channels=channels * multiplier,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        groups=channels,
        bias=bias,
        op=op,
    )
    return node if activation is None else fused_activation(b, node, name, op, activation)


def separable(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    out_channels: int,
    kernel: Ints,
    multiplier: int = 1,
    stride: Ints = 1,
    dilation: Ints = 1,
    padding: Padding = "valid",
    bias: bool = True,
    activation: str | None = None,
) -> int:
    """A separable convolution: a depthwise convolution without bias (``<name>/depthwise``),
    then a 1x1 convolution with it (``<name>/pointwise``)."""
    depth = depthwise(
        b,
        parent,
        f"{name}/depthwise",
        op,
        kernel=kernel,
        multiplier=multiplier,
        stride=stride,
        dilation=dilation,
        padding=padding,
        bias=False,
    )
    node = b.conv(depth, f"{name}/pointwise", out_channels=out_channels, kernel=1, bias=bias, op=op)
    return node if activation is None else fused_activation(b, node, name, op, activation)


def pool(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    mode: str,
    kernel: Ints,
    stride: Ints | None = None,
    dilation: Ints = 1,
    padding: Padding = "valid",
    ceil_mode: bool = False,
) -> int:
    """Max (``mode='max'``) or average (``'avg'``) pooling; a ``stride`` of ``None`` is the
    kernel."""
    return b.pool(
        parent,
        name,
        mode=mode,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
        ceil_mode=ceil_mode,
        op=op,
    )


def adaptive_pool(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    mode: str,
    output_size: int | Sequence[int | None] | None,
) -> int:
    """Adaptive pooling to ``output_size``; ``None`` keeps that axis's input size.

    >>> b = GraphBuilder((1, 3, 8, 6), "nchw")
    >>> p = adaptive_pool(b, b.input, "ap", "AdaptiveMaxPool2d", mode="max", output_size=(2, None))
    >>> b.build().nodes[p].output_shape
    (1, 3, 2, 6)
    """
    if isinstance(output_size, int):
        return b.adaptive_pool(parent, name, mode=mode, output_size=output_size, op=op)
    shape = b.shape(parent)
    spatial = [shape[a] for a in spatial_axes(len(shape), b.layout)]
    wanted = [None] * len(spatial) if output_size is None else list(output_size)
    sizes = [
        s for n, w in zip(spatial, wanted, strict=False) if (s := n if w is None else w) is not None
    ]
    if len(wanted) != len(spatial) or len(sizes) != len(spatial):
        raise StridescopeError(
            f"{op} {name!r}: output_size {output_size!r} needs one size per spatial axis, None "
            f"only where the input size is known; received input shape {shape!r}"
        )
    return b.adaptive_pool(parent, name, mode=mode, output_size=sizes, op=op)


def global_pool(
    b: GraphBuilder, parent: int, name: str, op: str, *, mode: str, keepdims: bool = False
) -> int:
    """A global pool: an adaptive pool to 1; without ``keepdims``, that is ``<name>/pool``
    and the layer's own row (named ``name``, as the layer's output: ``(N, C)``) drops the
    pooled axes."""
    if keepdims:
        return b.adaptive_pool(parent, name, mode=mode, output_size=1, op=op)
    pooled = b.adaptive_pool(parent, f"{name}/pool", mode=mode, output_size=1, op=op)
    return b.flatten(pooled, name, op=op)


def norm(b: GraphBuilder, parent: int, name: str, op: str, *, params: int) -> int:
    """A normalisation with ``params`` parameters (the frameworks count them differently:
    Keras adds the moving mean and variance, PyTorch keeps them as buffers)."""
    return b.pointwise(parent, name, kind=OpKind.NORM, params=params, op=op)


def dense(
    b: GraphBuilder,
    parent: int,
    name: str,
    op: str,
    *,
    out_features: int,
    bias: bool = True,
    params: int | None = None,
    activation: str | None = None,
) -> int:
    """A dense layer on the last axis."""
    node = b.linear(parent, name, out_features=out_features, bias=bias, op=op, params=params)
    return node if activation is None else fused_activation(b, node, name, op, activation)


def flatten(
    b: GraphBuilder, parent: int, name: str, op: str, *, start_dim: int = 1, end_dim: int = -1
) -> int:
    """Merge axes ``start_dim`` to ``end_dim``: a flatten when it runs to the last axis,
    otherwise a reshape (positions kept when every spatial axis survives whole).

    >>> b = GraphBuilder((1, 3, 4, 5), "nchw")
    >>> f = flatten(b, b.input, "f", "nn.Flatten", start_dim=1, end_dim=2)
    >>> b.build().nodes[f].output_shape, b.build().nodes[f].kind.value
    ((1, 12, 5), 'reshape')
    """
    shape = b.shape(parent)
    rank = max(len(shape), 1)
    first, last = start_dim % rank, end_dim % rank
    if not (-rank <= start_dim < rank and -rank <= end_dim < rank) or first > last:
        raise StridescopeError(
            f"{op}: start_dim={start_dim}, end_dim={end_dim} do not fit a {len(shape)}-D "
            f"input {shape!r}"
        )
    if last == rank - 1:
        return b.flatten(parent, name, start_dim=first, op=op)
    middle = shape[first : last + 1]
    size = None if None in middle else math.prod(cast(tuple[int, ...], middle))
    out = (*shape[:first], size, *shape[last + 1 :])
    if size is None:
        return b.other(parent, name, kind=OpKind.FLATTEN, output_shape=out, op=op)
    return b.reshape(parent, name, output_shape=out, op=op)


def pointwise(
    b: GraphBuilder, parent: int, name: str, op: str, *, kind: OpKind, params: int = 0
) -> int:
    """A shape-preserving op of ``kind`` (activation, dropout, normalisation)."""
    return b.pointwise(parent, name, kind=kind, params=params, op=op)
