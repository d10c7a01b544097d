"""The windows a resize by whole factors reads through (see ``GraphBuilder.resize``): a
transposed window (:attr:`Node.scatter`) for an upsampling, a sliding window
(:attr:`Node.window`) for a downsampling, from geometry's taps of each interpolation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from stridescope.geometry import GeometryError, downsampling_taps, upsampling_taps
from stridescope.ir.graph import Shape, Window

__all__ = ["repeated", "resampled", "upsampled"]


def upsampled(factors: tuple[int, ...], interpolation: str) -> Window | None:
    """The transposed window of an upsampling of ``interpolation`` by ``factors`` (one per
    spatial axis), or ``None`` for an interpolation not modelled.

    >>> upsampled((2, 2), "bilinear").kernel, upsampled((2,), "lanczos3")
    ((4, 4), None)
    """
    taps = [t for s in factors if (t := upsampling_taps(s, interpolation)) is not None]
    if len(taps) != len(factors):
        return None
    return Window(
        tuple(k for k, _ in taps),
        factors,
        (1,) * len(factors),
        tuple((b, k - s - b) for (k, b), s in zip(taps, factors, strict=True)),
    )


def repeated(
    shape: Shape,
    out: Shape,
    spatial: Callable[[Shape], Shape],
    repeat: Sequence[int],
    interpolation: str | None,
) -> Window | None:
    """:func:`upsampled` by ``repeat`` (nearest unless ``interpolation`` says), checked
    against the shapes (``spatial`` gives a shape's spatial sizes).

    >>> spatial = lambda s: s[2:]
    >>> repeated((1, 3, 8, 8), (1, 3, 9, 9), spatial, (2, 2), None)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: repeating (1, 3, 8, 8) by (2, 2) does not give (1, 3, 9, 9)
    """
    factors, sizes = tuple(int(s) for s in repeat), spatial(shape)
    expected = tuple(None if n is None else n * s for n, s in zip(sizes, factors, strict=False))
    if len(factors) != len(sizes) or expected != spatial(out) or min(factors) < 1:
        raise GeometryError(f"repeating {shape!r} by {factors!r} does not give {out!r}")
    return upsampled(factors, interpolation or "nearest")


@functools.lru_cache(maxsize=256)
def resampled(sizes: Shape, out: Shape, interpolation: str) -> tuple[Window | None, Window | None]:
    """``(window, scatter)`` of a resize of spatial ``sizes`` to ``out`` with half-pixel
    centres: every axis upsampled by a whole factor gives a scatter, every axis downsampled
    by one a window (``(None, None)`` otherwise).

    >>> resampled((8, 8), (4, 4), "nearest")[0].stride, resampled((4, 4), (8, 8), "nearest")[1]
    ((2, 2), Window(kernel=(2, 2), stride=(2, 2), dilation=(1, 1), padding=((0, 0), (0, 0)), ceil_mode=False, pad_mode='zeros'))
    >>> resampled((8, 8), (4, 4), "bilinear")[0].kernel, resampled((8,), (2,), "bilinear")[0]
    ((2, 2), Window(kernel=(2,), stride=(4,), dilation=(1,), padding=((-1, -1),), ceil_mode=False, pad_mode='zeros'))
    """
    if len(sizes) != len(out) or not all(sizes) or not all(out):  # (None or 0: no window)
        return None, None
    pairs = [(int(n or 0), int(o or 0)) for n, o in zip(sizes, out, strict=True)]
    if all(o % n == 0 for n, o in pairs):
        return None, upsampled(tuple(o // n for n, o in pairs), interpolation)
    if not all(n % o == 0 for n, o in pairs):
        return None, None
    taps = []
    for n, o in pairs:
        found = downsampling_taps(n // o, interpolation)
        if found is None:
            return None, None
        taps.append((found, n // o))
    window = Window(
        tuple(k for (k, _), _ in taps),
        tuple(s for _, s in taps),
        (1,) * len(taps),
        tuple((b, k - b - s) for (k, b), s in taps),
    )
    return (window, None) if window.output_spatial(sizes) == out else (None, None)
