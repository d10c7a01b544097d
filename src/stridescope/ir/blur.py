"""The fixed binomial blur as the IR sees it: its taps, its padding and its node — one
description for the PyTorch :class:`~stridescope.ops.blurpool.Blur`, its Keras twin and the
fix policies' cost. Plain arithmetic (no torch), so pricing a fix never imports a framework.

>>> b = GraphBuilder((1, 4, 8, 8), "nchw")
>>> i = blur_ir(b, b.input, "blur", size=4, stride=(2, 2), padding=[blur_padding(4, "uneven")] * 2)
>>> b.build().nodes[i].output_shape, binomial_filter(4)
((1, 4, 4, 4), (0.125, 0.375, 0.375, 0.125))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stridescope.geometry import GeometryError
from stridescope.ir.builder import GraphBuilder, LayerError
from stridescope.ir.graph import channel_axis

__all__ = [
    "BLUR_PADDINGS",
    "BLUR_SIZES",
    "binomial_filter",
    "blur_ir",
    "blur_padding",
    "blur_sizes",
]

BLUR_PADDINGS = ("uneven", "even")
BLUR_SIZES = (3, 4, 5)


def binomial_filter(size: int) -> tuple[float, ...]:
    """The normalised 1-D binomial filter of ``size`` taps.

    >>> binomial_filter(3)
    (0.25, 0.5, 0.25)
    """
    coeffs = [math.comb(size - 1, i) for i in range(size)]
    return tuple(c / sum(coeffs) for c in coeffs)


def blur_padding(size: int, convention: str) -> tuple[int, int]:
    """Padding ``(before, after)`` of one axis for a blur filter of ``size`` taps.

    >>> blur_padding(4, "uneven"), blur_padding(4, "even"), blur_padding(3, "even")
    ((1, 2), (2, 2), (1, 1))
    """
    if convention == "uneven":
        return ((size - 1) // 2, size // 2)
    return (size // 2, size // 2)


def blur_sizes(size: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """Taps per spatial axis: one size for every axis, or one per axis (1 on an axis that is
    not subsampled leaves it alone); each 1, 3, 4 or 5.

    >>> blur_sizes(3, 2), blur_sizes((3, 1), 2)
    ((3, 3), (3, 1))
    >>> blur_sizes(7, 1)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: a blur takes 3, 4 or 5 taps per axis (1: the axis is left alone) on 1-3 axes; received size=7, rank=1
    """
    sizes = (size,) * rank if isinstance(size, int) else tuple(int(k) for k in size)
    if len(sizes) != rank or rank not in (1, 2, 3) or any(k not in (1, *BLUR_SIZES) for k in sizes):
        raise GeometryError(
            "a blur takes 3, 4 or 5 taps per axis (1: the axis is left alone) on 1-3 axes; "
            f"received size={size!r}, rank={rank!r}"
        )
    return sizes


def blur_ir(
    builder: GraphBuilder,
    parent: int,
    name: str,
    *,
    size: int | Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    op: str = "Blur",
) -> int:
    """The IR of a fixed binomial blur: a depthwise conv without weights (0 params), reflect
    padding ``(before, after)`` per spatial axis, ``size`` taps per axis (or one size per
    axis). One description for the PyTorch :class:`Blur`, its Keras twin and the fix
    policies' cost.

    >>> b = GraphBuilder((1, 8, 16, 16), "nchw")
    >>> i = blur_ir(b, b.input, "blur", size=3, stride=(2, 2), padding=((1, 1), (1, 1)))
    >>> n = b.build().nodes[i]
    >>> n.output_shape, n.params, n.macs, n.window.pad_mode
    ((1, 8, 8, 8), 0, 4608, 'reflect')
    """
    shape = builder.shape(parent)
    channels = shape[channel_axis(len(shape), builder.layout)]
    if channels is None:
        raise LayerError(name, f"a blur needs a known channel count; received {shape}")
    return builder.conv(
        parent,
        name,
        out_channels=channels,
        kernel=blur_sizes(size, len(tuple(stride))),
        stride=tuple(stride),
        padding=[(int(p[0]), int(p[1])) for p in padding],
        groups=channels,
        bias=False,
        params=0,
        op=op,
        pad_mode="reflect",
    )
