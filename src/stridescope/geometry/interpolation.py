"""Resampling by a whole factor as a window: which inputs each output reads.

An interpolation to ``s`` times the size, with half-pixel centres (PyTorch's
``align_corners=False``, Keras's ``image.resize``), gives output ``o`` the source coordinate
``(o + 0.5) / s - 0.5`` and reads the input pixels around it that have a weight there: the one
it copies (nearest), the two it blends (linear), four (cubic), or only the one it lands on
exactly. Input ``i`` is then read by the ``kernel`` outputs from ``i*s - pad_before``: a
transposed window of stride ``s``, exact for coverage and receptive fields (inputs past the
border, which the interpolation clamps back onto it, are the ones inside it it reads anyway).

An output that lands on an input exactly (linear and cubic by odd factors only) has zero
weights on the others in exact arithmetic, but PyTorch computes the coordinate in float32
(``1/3`` is not exact), which puts it a hair to either side: it reads a neighbour with a
weight near ``1e-8``, on one side or the other by position, in no pattern that repeats every
``s`` outputs. Those upsamplings have no window here (:func:`upsampling_taps`): they are read
output by output through their float32 sources (:func:`resize_reads`), as any resize by a
ratio that is not whole is.
"""

from __future__ import annotations

import functools
import math
import struct
from fractions import Fraction

__all__ = [
    "ANTIALIAS",
    "INTERPOLATIONS",
    "adaptive_spans",
    "downsampling_taps",
    "placed_by_sizes",
    "resize_reads",
    "resize_step",
    "upsampling_taps",
]

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
    if source == below:  # on a pixel: at the same size only (see upsampling_taps)
        return {below}
    return set(range(below - taps // 2 + 1, below + taps // 2 + 1))


@functools.cache
def upsampling_taps(factor: int, mode: str) -> tuple[int, int] | None:
    """``(kernel, pad_before)`` of the transposed window of stride ``factor`` that an
    upsampling of ``mode`` by that factor reads as; ``None`` for a mode not modelled, and for
    linear and cubic by an odd factor: there every ``factor``-th output's source is on a
    pixel, and float32 rounding of ``1 / factor`` decides, output by output, whether a kernel
    also reads a neighbour (with a weight of ~1e-8), which no window repeating every
    ``factor`` outputs says (:func:`resize_reads` reads each output as it is).

    >>> upsampling_taps(2, "nearest"), upsampling_taps(2, "bilinear"), upsampling_taps(4, "linear")
    ((2, 0), (4, 1), (8, 2))
    >>> upsampling_taps(2, "bicubic"), upsampling_taps(2, "lanczos3"), upsampling_taps(1, "linear")
    ((8, 3), None, (1, 0))
    >>> upsampling_taps(3, "linear"), upsampling_taps(3, "nearest")
    (None, (3, 0))
    """
    taps = 1 if mode == "area" else INTERPOLATIONS.get(mode)  # (area up: a copy, as nearest)
    if taps is None or factor < 1 or (taps > 1 and factor % 2 == 1 and factor > 1):
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


@functools.lru_cache(maxsize=1024)
def adaptive_spans(n: int, out: int) -> tuple[tuple[int, int], ...]:
    """Per output of adaptive pooling (or an ``area`` resize) of an axis of ``n`` to ``out``,
    the ``[first, end)`` inputs it averages: ``[floor(o*n/out), ceil((o+1)*n/out))``.

    >>> adaptive_spans(3, 2), adaptive_spans(7, 3)
    (((0, 2), (1, 3)), ((0, 3), (2, 5), (4, 7)))
    """
    return tuple((o * n // out, -(-(o + 1) * n // out)) for o in range(out))


_F32 = struct.Struct("f")


def _f32(x: float) -> float:
    """``x`` rounded to the nearest float32."""
    value: float = _F32.unpack(_F32.pack(x))[0]
    return value


@functools.lru_cache(maxsize=256)
def resize_reads(
    n: int, out: int, mode: str, align_corners: bool = False, scale: float | None = None
) -> tuple[tuple[int, int], ...] | None:
    """Per output of a resize of an axis of ``n`` to ``out``, the ``[first, end)`` inputs it
    reads with a weight that is not 0, as PyTorch's kernels compute them (``F.interpolate``,
    float32 coordinates; ``scale``: the ``scale_factor`` given, whose inverse places the
    sources unless the sizes do): any sizes, corners aligned or not; ``None`` for a mode not
    modelled. Never fewer than a kernel reads: where compiled kernels may round differently
    (the coordinate ``scale*(o + 0.5) - 0.5`` fused into one multiply-add or not; nearest's
    shortcuts for equal and doubled sizes) both answers are taken, and a cubic output off a
    pixel reads all four taps (a weight within ~1e-6 of a pixel may round to 0: then one
    more than the kernel reads).

    >>> resize_reads(5, 3, "nearest"), resize_reads(4, 3, "linear", align_corners=True)
    (((0, 1), (1, 2), (3, 4)), ((0, 1), (1, 3), (3, 4)))
    >>> resize_reads(3, 2, "area"), resize_reads(6, 4, "bicubic")[:2]
    (((0, 2), (1, 3)), ((0, 3), (0, 4)))
    >>> resize_reads(15, 45, "linear", scale=3.0)[1]  # 1/3 in float32: a hair past pixel 0
    (0, 2)
    """
    if out < 1 or n < 1:
        return None
    if mode == "area":  # an adaptive average pool
        return adaptive_spans(n, out)
    if mode in ("nearest", "nearest-exact"):
        return tuple(_nearest(o, n, out, mode == "nearest-exact", scale) for o in range(out))
    if mode.endswith(ANTIALIAS):
        return _antialiased(n, out, mode.removesuffix(ANTIALIAS), align_corners, scale)
    taps = INTERPOLATIONS.get(mode)
    if taps is None:
        return None
    if taps == 2 and n == out:  # PyTorch copies
        return tuple((o, o + 1) for o in range(out))
    ratio = _scale(n, out, align_corners, scale)
    reads = []
    for o in range(out):
        if align_corners:
            sources = [_f32(ratio * o)]
        else:  # fused, and rounded after the product too
            sources = [_f32(ratio * (o + 0.5) - 0.5), _f32(_f32(ratio * (o + 0.5)) - 0.5)]
        used = [i for real in sources for i in _taps(real, n, taps)]
        reads.append((min(used), max(used) + 1))
    return tuple(reads)


def _taps(real: float, n: int, taps: int) -> list[int]:
    """The inputs of an axis of ``n`` an output with source coordinate ``real`` reads with a
    weight that is not 0 (linear: ``taps`` 2; cubic: 4, each off a pixel)."""
    if taps == 2 and real < 0:  # linear clamps the coordinate, cubic does not
        real = 0.0
    first = min(math.floor(real), n - 1)
    t = min(max(_f32(real - first), 0.0), 1.0)
    if taps == 2:
        second = first + 1 if first < n - 1 else first
        used = ([first] if t < 1 else []) + ([second] if t > 0 else [])
    else:  # four taps around it, clamped into the axis; a whole source reads one
        used = [first] if t == 0 else list(range(first - 1, first + 3))
    return [min(max(i, 0), n - 1) for i in used]


#: the suffix of a mode resized with antialiasing (``F.interpolate(..., antialias=True)``)
ANTIALIAS = "-antialias"


def _antialiased(
    n: int, out: int, mode: str, align_corners: bool, scale: float | None
) -> tuple[tuple[int, int], ...] | None:
    """:func:`resize_reads` of a linear or cubic resize with antialiasing, as PyTorch's
    kernels place it: output ``o`` centred at ``s * (o + 0.5)`` reads the inputs within the
    filter's support (1 for linear, 2 for cubic, times ``s`` when shrinking by ``s``) whose
    weight, the filter at their distance (over ``s`` when shrinking), is not 0."""
    taps = INTERPOLATIONS.get(mode)  # (linear or cubic: nearest has no filter)
    if taps not in (2, 4) or out < 1 or n < 1:
        return None
    ratio = _scale(n, out, align_corners, scale)
    shrink = ratio >= 1.0
    support = _f32((taps * 0.5) * ratio) if shrink else taps * 0.5
    inverse = _f32(1.0 / ratio) if shrink else 1.0
    reads = []
    for o in range(out):
        centre = _f32(ratio * (o + 0.5))
        first = max(int(_f32(centre - support) + 0.5), 0)
        end = min(int(_f32(centre + support) + 0.5), n)
        kept = [
            j for j in range(first, end) if _filter(_f32((_f32(j - centre) + 0.5) * inverse), taps)
        ]
        if not kept:
            return None
        reads.append((min(kept), max(kept) + 1))
    return tuple(reads)


def _filter(x: float, taps: int) -> float:
    """PyTorch's antialiasing filter at ``x``: a triangle (linear), Keys's cubic with
    ``a = -0.5`` (cubic); in float32."""
    x, f = abs(x), _f32
    if taps == 2:
        return f(1.0 - x) if x < 1.0 else 0.0
    a = -0.5
    if x < 1.0:
        return f(((a + 2) * x - (a + 3)) * x * x + 1)
    if x < 2.0:
        return f(((a * x - 5 * a) * x + 8 * a) * x - 4 * a)
    return 0.0


def resize_step(
    n: int, out: int, mode: str, align_corners: bool = False, scale: float | None = None
) -> Fraction:
    """How far apart, in inputs, neighbouring outputs' sources are in a resize of ``n`` to
    ``out``, as :func:`resize_reads` places them: ``(n - 1) / (out - 1)`` with corners
    aligned (linear and cubic), the inverse of a ``scale`` factor that places them (as a
    ratio of whole numbers whose denominator is at most ``out``), else ``n / out``.

    >>> resize_step(8, 16, "linear", align_corners=True), resize_step(16, 4, "nearest", scale=0.3)
    (Fraction(7, 15), Fraction(10, 3))
    >>> resize_step(240, 224, "linear"), resize_step(1, 4, "linear", align_corners=True)
    (Fraction(15, 14), Fraction(1, 4))
    """
    step = Fraction(n, max(out, 1))
    if mode == "area" or out < 1:
        return step
    if align_corners and mode not in ("nearest", "nearest-exact"):
        return Fraction(n - 1, out - 1) if out > 1 and n > 1 else step
    if scale is not None and scale > 0 and not placed_by_sizes(n, out, scale):
        return Fraction(1 / scale).limit_denominator(out)
    return step


def placed_by_sizes(n: int, out: int, scale: float | None) -> bool:
    """Whether a resize of ``n`` to ``out`` given ``scale`` (``None``: none given) puts the
    sources where the sizes alone would (half-pixel centres): a scale factor places them by
    its inverse, which the sizes (``floor(n * scale)``) need not match.

    >>> placed_by_sizes(16, 8, 0.5), placed_by_sizes(16, 4, 0.3), placed_by_sizes(9, 3, None)
    (True, False, True)
    """
    return scale is None or _scale(n, out, False, scale) == _scale(n, out, False, None)


def _scale(n: int, out: int, align_corners: bool, scale: float | None) -> float:
    """The float32 step between neighbouring outputs' sources, in inputs."""
    if align_corners:
        return _f32((n - 1) / (out - 1)) if out > 1 else 0.0
    if scale is not None and scale > 0:
        return _f32(1.0 / scale)
    return _f32(n / out)


def _nearest(o: int, n: int, out: int, exact: bool, scale: float | None) -> tuple[int, int]:
    """The input nearest (``nearest``: floor) or nearest-exact output ``o`` copies, as a
    span: both where a kernel's shortcut for equal or doubled sizes may pick another."""
    ratio = _scale(n, out, False, scale)
    found = min(math.floor(_f32(((o + 0.5) if exact else o) * ratio)), n - 1)
    if not exact and (out == n or out == 2 * n):
        short = o if out == n else o >> 1
        return min(found, short), max(found, short) + 1
    return found, found + 1
