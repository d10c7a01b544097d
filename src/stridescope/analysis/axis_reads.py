"""What a sliding window reads along one axis: which positions, how many, the longest gap
between read ones and the unread runs at either end. Shared by lint's layer reads
(:mod:`.lint_reads`: skipped input, dropped borders) and the coverage fraction's fast answer
(:mod:`.coverage_full`: does a layer read every position?).

>>> reads = axis_reads(AxisWindow(kernel=1, stride=2, dilation=1, before=0, pad_mode="zeros"), 14, 7)
>>> reads.read, reads.gap, reads.tail, reads.border_after
(7, 1, 1, ())
>>> reads = axis_reads(AxisWindow(3, 2, 1, 0, "zeros"), 224, 111)
>>> reads.gap, reads.border_after
(0, (223,))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from stridescope.analysis.coverage_terms import BoolVector, Slide
from stridescope.ir import Window

__all__ = ["AxisReads", "AxisWindow", "axis_reads", "mask_reads", "slide_reads", "window_reads"]


@dataclass(frozen=True)
class AxisWindow:
    """One axis of a sliding window: output ``o`` reads ``o*stride - before + j*dilation``."""

    kernel: int
    stride: int
    dilation: int
    before: int
    pad_mode: str


@dataclass(frozen=True)
class AxisReads:
    """The positions one axis of a window reads, of ``size``."""

    size: int
    mask: BoolVector = field(compare=False, repr=False)  #: which positions are read
    read: int  #: positions read
    gap: int  #: the longest run of unread positions between two read ones
    head: int  #: unread positions before the first read one
    tail: int  #: unread positions after the last read one

    @property
    def border_before(self) -> tuple[int, ...]:
        """Leading positions never read, when their run is longer than every gap."""
        return tuple(range(self.head)) if self.head > self.gap else ()

    @property
    def drops_border(self) -> bool:
        """Whether :attr:`border_before` or :attr:`border_after` has a position."""
        return self.head > self.gap or self.tail > self.gap

    @property
    def border_after(self) -> tuple[int, ...]:
        """Trailing positions never read, when their run is longer than every gap."""
        if self.tail <= self.gap:
            return ()
        return tuple(range(self.size - self.tail, self.size))


def axis_reads(window: AxisWindow, size: int, outputs: int) -> AxisReads:
    """What ``outputs`` windows read of an axis of ``size`` positions (cached)."""
    w = window
    return slide_reads(w.kernel, w.stride, w.dilation, w.before, w.pad_mode, size, outputs)


def window_reads(
    window: Window, sizes: tuple[int, ...], outputs: tuple[int, ...]
) -> tuple[AxisReads, ...]:
    """Per axis, what ``window`` reads of a map of ``sizes`` to give ``outputs`` (one size
    per axis of the window each), memoised: networks repeat a few (window, sizes) pairs,
    keyed by plain values (cheap to hash)."""
    w = window
    key = (w.kernel, w.stride, w.dilation, w.padding, w.pad_mode, sizes, outputs)
    found = _WINDOW_READS.get(key)
    if found is None:
        if len(_WINDOW_READS) >= 4096:
            _WINDOW_READS.clear()
        found = _WINDOW_READS[key] = tuple(
            slide_reads(k, s, d, p[0], w.pad_mode, n, o)
            for k, s, d, p, n, o in zip(
                w.kernel, w.stride, w.dilation, w.padding, sizes, outputs, strict=True
            )
        )
    return found


_WINDOW_READS: dict[tuple[object, ...], tuple[AxisReads, ...]] = {}


@functools.lru_cache(maxsize=4096)
def slide_reads(
    kernel: int, stride: int, dilation: int, before: int, pad_mode: str, size: int, outputs: int
) -> AxisReads:
    """:func:`axis_reads`, keyed by plain values (hashing them is much cheaper than hashing
    and comparing a dataclass on every lookup): a :class:`Slide`'s fields and its outputs."""
    slide = Slide(kernel, stride, dilation, before, size, pad_mode)
    mask = slide.pull(np.ones((1, outputs), dtype=bool))[0] if outputs else np.zeros(size, bool)
    mask.flags.writeable = False
    return mask_reads(mask)


def mask_reads(mask: BoolVector) -> AxisReads:
    """The :class:`AxisReads` of the positions ``mask`` marks read."""
    size, where = int(mask.size), np.flatnonzero(mask)
    if where.size == 0:
        return AxisReads(size, mask, 0, 0, size, 0)
    first, last = int(where[0]), int(where[-1])
    gap = int(np.max(np.diff(where))) - 1 if where.size > 1 else 0
    return AxisReads(size, mask, int(where.size), gap, first, size - 1 - last)
