"""Which input positions a sliding window ever reads, on one axis.

A 1x1 convolution with stride 2 reads every other index of each axis, so 1 of every 4 pixels
of an image; a 2x2 pooling with stride 2 reads all of them. Padding positions are never
counted: only real input indices.
"""

from __future__ import annotations

from stridescope.geometry.output import output_size
from stridescope.geometry.padding import PaddingArg, resolve_padding

__all__ = ["read_counts", "read_fraction", "read_mask"]


def read_counts(
    n: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: PaddingArg = "valid",
    ceil_mode: bool = False,
) -> list[int]:
    """For each input index, how many output windows read it.

    >>> read_counts(6, 1, 2)
    [1, 0, 1, 0, 1, 0]
    >>> read_counts(5, 3, 1, padding="same")
    [2, 3, 3, 3, 2]
    """
    out = output_size(n, kernel, stride, dilation, padding, ceil_mode)
    before, _ = resolve_padding(n, kernel, stride, dilation, padding)
    counts = [0] * n
    for o in range(out or 0):
        first = o * stride - before
        for tap in range(kernel):
            i = first + tap * dilation
            if 0 <= i < n:
                counts[i] += 1
    return counts


def read_mask(
    n: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: PaddingArg = "valid",
    ceil_mode: bool = False,
) -> list[bool]:
    """For each input index, whether any output window reads it.

    >>> read_mask(5, 2, 2)            # 'valid' pooling drops the last column
    [True, True, True, True, False]
    """
    return [c > 0 for c in read_counts(n, kernel, stride, dilation, padding, ceil_mode)]


def read_fraction(
    n: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: PaddingArg = "valid",
    ceil_mode: bool = False,
) -> float:
    """Share of the input indices of one axis that are read.

    For N axes the fractions multiply: a 1x1 stride-2 conv on 32x32 reads 0.5 * 0.5 = 25%.

    >>> read_fraction(32, 1, 2, padding="same")
    0.5
    """
    mask = read_mask(n, kernel, stride, dilation, padding, ceil_mode)
    return sum(mask) / n
