"""Resampling by a whole factor as a window: which inputs each output reads.

An interpolation to ``s`` times the size, with half-pixel centres (PyTorch's
``align_corners=False``, Keras's ``image.resize``), gives output ``o`` the source coordinate
``(o + 0.5) / s - 0.5`` and reads the input pixels around it that have a weight there: the one
it copies (nearest), the two it blends (linear), four (cubic), or only the one it lands on
exactly. Input ``i`` is then read by the ``kernel`` outputs from ``i*s - pad_before``: a
transposed window of stride ``s``, exact for coverage and receptive fields (inputs past the
border, which the interpolation clamps back onto it, are the ones inside it it reads anyway).

An output that lands on an input exactly (odd factors only) has zero weights on the others
in exact arithmetic, but PyTorch computes the coordinate in float32 (``1/3`` is not exact),
which puts it a hair to either side: it reads a neighbour with a weight near ``1e-8``, on one
side or the other by position. Such an output is taken to read the taps of both sides, so a
field is never smaller than what the gradient reaches.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

__all__ = ["INTERPOLATIONS", "downsampling_taps", "upsampling_taps"]

#: the interpolations modelled, by the number of inputs around the source coordinate each
#: output blends (every spelling PyTorch and Keras use)
INTERPOLATIONS = {
    "nearest": 1,
    "nearest-exact": 1,
    "linear": 2,
    "bilinear": 2,
    "trilinear": 2,
    "cubic": 4,
    "bicubic": 4,
}


def _reads(o: int, factor: int, taps: int) -> set[int]:
    """The inputs output ``o`` of an upsampling by ``factor`` reads (an unbounded line)."""
    if taps == 1:  # nearest: floor(o / s); nearest-exact: floor((o + 0.5) / s), the same
        return {o // factor}
    source = Fraction(2 * o + 1, 2 * factor) - Fraction(1, 2)
    below = math.floor(source)
    if source == below:  # on a pixel: in float32, a hair to either side (see above), but
        if factor == 1:  # at the same size, where the scale is exactly 1
            return {below}
        return set(range(below - taps // 2, below + taps // 2 + 1))
    return set(range(below - taps // 2 + 1, below + taps // 2 + 1))


@functools.cache
def upsampling_taps(factor: int, mode: str) -> tuple[int, int] | None:
    """``(kernel, pad_before)`` of the transposed window of stride ``factor`` that an
    upsampling of ``mode`` by that factor reads as; ``None`` for a mode not modelled.

    >>> upsampling_taps(2, "nearest"), upsampling_taps(2, "bilinear"), upsampling_taps(3, "linear")
    ((2, 0), (4, 1), (7, 2))
    >>> upsampling_taps(2, "bicubic"), upsampling_taps(2, "lanczos3"), upsampling_taps(1, "linear")
    ((8, 3), None, (1, 0))
    """
    taps = 1 if mode == "area" else INTERPOLATIONS.get(mode)  # (area up: a copy, as nearest)
    if taps is None or factor < 1:
        return None
    readers = [o for o in range(-4 * factor, 4 * factor) if 0 in _reads(o, factor, taps)]
    kernel, before = readers[-1] - readers[0] + 1, -readers[0]
    for o in range(factor):  # the window reads what the interpolation reads, every phase
        window = {
            (o + before - j) // factor for j in range(kernel) if (o + before - j) % factor == 0
        }
        if window != _reads(o, factor, taps):
            return None
    return kernel, before


@functools.cache
def downsampling_taps(factor: int, mode: str) -> tuple[int, int] | None:
    """``(kernel, pad_before)`` of the sliding window of stride ``factor`` that a
    downsampling of ``mode`` by that factor (half-pixel centres, no antialiasing) reads as:
    output ``o`` reads ``o*factor - pad_before + j``, ``j < kernel``. The source coordinate
    ``(o + 0.5) * factor - 0.5`` is exact in float32 here, so an output on an input reads it
    alone. ``area`` is a mean over each block; ``None`` for a mode not modelled.

    >>> downsampling_taps(2, "nearest"), downsampling_taps(4, "nearest-exact")
    ((1, 0), (1, -2))
    >>> downsampling_taps(2, "bilinear"), downsampling_taps(3, "bilinear")
    ((2, 0), (1, -1))
    >>> downsampling_taps(2, "bicubic"), downsampling_taps(2, "area")
    ((4, 1), (2, 0))
    """
    if factor < 1:
        return None
    if mode == "area":
        return factor, 0
    taps = INTERPOLATIONS.get(mode)
    if taps is None:
        return None
    if mode == "nearest":  # floor(o * s)
        return 1, 0
    if mode == "nearest-exact":  # floor((o + 0.5) * s)
        return 1, -(factor // 2)
    source = Fraction(factor - 1, 2)  # output 0: (0 + 0.5) * s - 0.5
    below = math.floor(source)
    if source == below:
        return 1, -below
    first = below - taps // 2 + 1
    return taps, -first
