"""Which input positions a sliding window ever reads, on one axis.

A 1x1 convolution with stride 2 reads every other index of each axis, so 1 of every 4 pixels
of an image; a 2x2 pooling with stride 2 reads all of them. Padding positions are never
counted: only real input indices.
"""

from __future__ import annotations

from stridescope.geometry.output import output_size
from stridescope.geometry.padding import PaddingArg, resolve_padding

__all__ = ["read_counts", "read_fraction", "read_mask"]


def _tap_spans(
    n: int, kernel: int, stride: int, dilation: int, padding: PaddingArg, ceil_mode: bool
) -> list[tuple[int, int]]:
    """Per tap ``j``, the first and last input index it reads inside ``[0, n)``; the tap reads
    every ``stride``-th index between them (output ``o`` reads ``o*stride - before + j*dilation``).
    Taps that read nothing are left out."""
    out = output_size(n, kernel, stride, dilation, padding, ceil_mode) or 0
    before, _ = resolve_padding(n, kernel, stride, dilation, padding)
    spans = []
    for tap in range(kernel):
        start = tap * dilation - before  # the index output 0 reads
        lo = max(0, -(start // stride))  # first output reading an index >= 0
        hi = min(out, -(-(n - start) // stride))  # one past the last reading an index < n
        if hi > lo:
            spans.append((start + lo * stride, start + (hi - 1) * stride))
    return spans


def _read_bytes(
    n: int, kernel: int, stride: int, dilation: int, padding: PaddingArg, ceil_mode: bool
) -> bytearray:
    """One byte per input index, 1 where some output reads it: one slice per tap."""
    mask = bytearray(n)
    for first, last in _tap_spans(n, kernel, stride, dilation, padding, ceil_mode):
        mask[first : last + 1 : stride] = b"\x01" * ((last - first) // stride + 1)
    return mask


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
    counts = [0] * n
    for first, last in _tap_spans(n, kernel, stride, dilation, padding, ceil_mode):
        for i in range(first, last + 1, stride):
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
    return list(map(bool, _read_bytes(n, kernel, stride, dilation, padding, ceil_mode)))


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
    return _read_bytes(n, kernel, stride, dilation, padding, ceil_mode).count(1) / n
