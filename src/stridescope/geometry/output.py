"""Output sizes of convolution and pooling windows, on one axis and on N axes."""

from __future__ import annotations

from collections.abc import Sequence

from stridescope.geometry.errors import GeometryError
from stridescope.geometry.padding import (
    Pad,
    PaddingArg,
    check_window,
    describe,
    effective_kernel,
    resolve_padding,
)

__all__ = ["output_shape", "output_size", "paddings", "per_axis"]


def output_size(
    n: int | None,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: PaddingArg = "valid",
    ceil_mode: bool = False,
) -> int | None:
    """Number of output positions of a sliding window along one axis.

    ``ceil_mode`` follows PyTorch pooling: round up, but drop a last window that would start
    in the right padding (it must start inside the input or the left padding).
    ``None`` (an unknown size) gives ``None``.

    >>> output_size(32, 1, 2, padding="same")      # the seed's Conv2D(16, 1, strides=2)
    16
    >>> output_size(32, 3)                          # 3x3 'valid'
    30
    >>> output_size(5, 2, 2, ceil_mode=True)        # pooling: 3 windows, the last one partial
    3
    >>> output_size(1, 2, 2, ceil_mode=True)        # a window wider than the input, as torch
    1
    >>> output_size(5, 7)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: output size would be 0 for input=5, kernel=7, stride=1, dilation=1, padding=(0, 0)
    """
    check_window(n, kernel, stride, dilation)
    if n is None:
        if not (isinstance(padding, str) and padding.lower() == "same"):
            resolve_padding(n, kernel, stride, dilation, padding)  # validates the argument
        return None
    before, after = resolve_padding(n, kernel, stride, dilation, padding)
    span = n + before + after - effective_kernel(kernel, dilation)
    if not ceil_mode:
        out = span // stride + 1
    else:  # PyTorch: round up, then drop a last window that starts in the right padding
        out = -(-span // stride) + 1
        if (out - 1) * stride >= n + before:
            out -= 1
    if out < 1:
        raise GeometryError(
            f"output size would be 0 for {describe(n, kernel, stride, dilation, (before, after))}"
        )
    return out


def per_axis(value: int | Sequence[int], rank: int, name: str) -> tuple[int, ...]:
    """One value per axis: an int is repeated, a sequence must have ``rank`` values.

    >>> per_axis(2, 3, "stride"), per_axis((1, 2), 2, "stride")
    ((2, 2, 2), (1, 2))
    """
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(value)
    if len(values) != rank:
        raise GeometryError(
            f"{name} has {len(values)} values {values!r} but the input has {rank} spatial axes"
        )
    return values


PaddingND = str | int | Sequence[int | tuple[int, int]]


def _padding_per_axis(padding: PaddingND, rank: int) -> list[PaddingArg]:
    if isinstance(padding, str | int):
        return [padding] * rank
    values = list(padding)
    if len(values) != rank:
        raise GeometryError(
            f"padding has {len(values)} values {values!r} but the input has {rank} spatial axes"
        )
    return [tuple(v) if isinstance(v, list) else v for v in values]


def paddings(
    spatial: Sequence[int | None],
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    padding: PaddingND = "valid",
) -> tuple[Pad, ...]:
    """Padding ``(before, after)`` per spatial axis.

    >>> paddings((6, 5), 3, 2, padding="same")
    ((0, 1), (1, 1))
    """
    rank = len(spatial)
    k = per_axis(kernel, rank, "kernel")
    s = per_axis(stride, rank, "stride")
    d = per_axis(dilation, rank, "dilation")
    p = _padding_per_axis(padding, rank)
    return tuple(resolve_padding(spatial[i], k[i], s[i], d[i], p[i]) for i in range(rank))


def output_shape(
    spatial: Sequence[int | None],
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    padding: PaddingND = "valid",
    ceil_mode: bool = False,
) -> tuple[int | None, ...]:
    """Output sizes along every spatial axis.

    ``kernel``, ``stride`` and ``dilation`` are one int for all axes or one per axis;
    ``padding`` is a mode, an int, or one int / ``(before, after)`` per axis.

    >>> output_shape((32, 32), 1, 2, padding="same")
    (16, 16)
    >>> output_shape((224, 224), 7, 2, padding=3)
    (112, 112)
    >>> output_shape((None, 9), 3, padding=[(1, 1), (0, 0)])
    (None, 7)
    """
    rank = len(spatial)
    k = per_axis(kernel, rank, "kernel")
    s = per_axis(stride, rank, "stride")
    d = per_axis(dilation, rank, "dilation")
    p = _padding_per_axis(padding, rank)
    return tuple(output_size(spatial[i], k[i], s[i], d[i], p[i], ceil_mode) for i in range(rank))
