"""Receptive fields composed through a chain of sliding windows, one axis at a time.

A receptive field is described by three integers, in units of the network's input pixels:

- ``size``: how many input pixels one output position can see;
- ``jump``: the distance in input pixels between two neighbouring output positions;
- ``start``: the input index of the first pixel seen by output position 0 (negative where it
  lies in the padding).

After an upsampling (a transposed convolution of stride ``s``, a nearest or linear
interpolation by a whole factor, a pixel shuffle) neighbouring outputs no longer see fields
``jump`` apart: output ``2k`` and ``2k + 1`` of a nearest 2x upsampling both see the field
of input ``k``. The fields then repeat a pattern of ``P`` outputs (their *phases*): output
``q*P + p`` sees ``[start + q*P*jump + a_p, start + q*P*jump + b_p)``, and ``size`` is the
largest of them. ``jump`` stays a whole number of pixels (the field of ``P`` outputs moves
``P*jump``); an upsampling past the input's own resolution (a fractional jump) has no field
here (``None``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from stridescope.geometry.padding import check_window, effective_kernel

__all__ = ["ReceptiveField"]

Span = tuple[int, int]  # [first, end) input pixels


@dataclass(frozen=True, repr=False)
class ReceptiveField:
    """The receptive field of one axis.

    >>> rf = ReceptiveField()                       # the input itself
    >>> rf = rf.then(kernel=3)                      # 3x3 conv, 'valid'
    >>> rf = rf.then(kernel=2, stride=2)            # 2x2 max pool
    >>> rf = rf.then(kernel=3)                      # 3x3 conv
    >>> rf = rf.then(kernel=1, stride=2)            # the seed's 1x1 stride-2 conv
    >>> rf
    ReceptiveField(size=8, jump=4, start=0)
    """

    size: int = 1
    jump: int = 1
    start: int = 0
    #: per phase of a field that repeats every ``len(phases)`` outputs, ``(a, b)``: output
    #: ``q*P + p`` sees ``[start + q*P*jump + a, start + q*P*jump + b)``; ``()`` where every
    #: output sees ``[start + i*jump, start + i*jump + size)``. Neither end ever moves back
    #: from one output to the next (what windows, scatters and unions of fields give)
    phases: tuple[Span, ...] = ()

    def __repr__(self) -> str:
        phases = f", phases={self.phases!r}" if self.phases else ""
        return f"ReceptiveField(size={self.size}, jump={self.jump}, start={self.start}{phases})"

    @property
    def period(self) -> int:
        """How many outputs the pattern of fields repeats after (1 without phases)."""
        return len(self.phases) or 1

    def span(self, i: int) -> Span:
        """``[first, end)``: the input pixels output ``i`` sees (``i`` may be negative).

        >>> ReceptiveField(3, 2, -1).span(2)
        (3, 6)
        """
        if not self.phases:
            first = self.start + i * self.jump
            return first, first + self.size
        period = len(self.phases)
        q, phase = divmod(i, period)
        base = self.start + q * period * self.jump
        a, b = self.phases[phase]
        return base + a, base + b

    def then(
        self, kernel: int, stride: int = 1, dilation: int = 1, pad_before: int = 0
    ) -> ReceptiveField:
        """The receptive field after one more window on top of this one.

        >>> ReceptiveField().then(kernel=7, stride=2, pad_before=3)
        ReceptiveField(size=7, jump=2, start=-3)
        """
        check_window(None, kernel, stride, dilation)
        if not self.phases:
            span = effective_kernel(kernel, dilation)
            return ReceptiveField(
                size=self.size + (span - 1) * self.jump,
                jump=self.jump * stride,
                start=self.start - pad_before * self.jump,
            )
        return _phased_then(self, kernel, stride, dilation, pad_before)

    def scattered(
        self, kernel: int, stride: int = 1, dilation: int = 1, pad_before: int = 0
    ) -> ReceptiveField | None:
        """The field after a transposed window (input ``i`` written to outputs
        ``i*stride - pad_before + j*dilation``, ``j < kernel``): each output sees the fields
        of the inputs written to it. ``None`` where the jump would not be a whole number of
        pixels (upsampling past the input's resolution) or an output has no input.

        >>> up = ReceptiveField(3, 2, -1).scattered(kernel=2, stride=2)  # nearest 2x
        >>> up
        ReceptiveField(size=3, jump=1, start=-1, phases=((0, 3), (0, 3)))
        >>> up.then(kernel=3, pad_before=1)  # a 3x3 conv after it
        ReceptiveField(size=5, jump=1, start=-3, phases=((0, 5), (2, 7)))
        >>> up.then(kernel=1, stride=2)  # a stride-2 1x1 conv after it: the field before
        ReceptiveField(size=3, jump=2, start=-1)
        """
        check_window(None, kernel, stride, dilation)
        return _scattered(self, kernel, stride, dilation, pad_before)

    @property
    def end(self) -> int:
        """One past the last input index seen by output position 0.

        >>> ReceptiveField(size=5, jump=2, start=-2).end
        3
        """
        return self.start + (self.phases[0][1] if self.phases else self.size)

    @property
    def centre(self) -> float:
        """Where the fields' centres sit on average, as the centre of output 0's would be on
        a grid of step ``jump``: output 0's centre without phases.

        >>> ReceptiveField(3, 2, -1).centre, ReceptiveField(3, 1, -1, ((0, 3), (0, 3))).centre
        (0.0, -0.5)
        """
        if not self.phases:
            return self.start + (self.size - 1) / 2
        offsets = [(a + b - 1) / 2 - p * self.jump for p, (a, b) in enumerate(self.phases)]
        return self.start + sum(offsets) / len(offsets)

    def merge(self, other: ReceptiveField) -> ReceptiveField:
        """The receptive field of a sum or concatenation of two branches: the union of both
        windows, with the coarser jump.

        >>> ReceptiveField(3, 2, -1).merge(ReceptiveField(1, 2, 0))
        ReceptiveField(size=3, jump=2, start=-1)
        """
        if (self.phases or other.phases) and self.jump == other.jump:
            found = union([self, other])
            if found is not None:
                return found
        start = min(self.start, other.start)
        end = max(self.end, other.end)
        return ReceptiveField(size=end - start, jump=max(self.jump, other.jump), start=start)


def union(fields: Sequence[ReceptiveField]) -> ReceptiveField | None:
    """The field of a merge of equally sized maps: per output, the union of what each sees
    (``None`` where their jumps differ: the maps' positions are not the same pixels').

    >>> up = ReceptiveField(1, 2, 0).scattered(kernel=2, stride=2)
    >>> union([up, ReceptiveField(1, 1, 0)])
    ReceptiveField(size=2, jump=1, start=0, phases=((0, 1), (0, 2)))
    """
    return _union(tuple(fields))


# The phased compositions, memoised: pure arithmetic on frozen fields, and a square map's
# axes (or a network's repeated blocks) ask the same question again.


@functools.lru_cache(maxsize=4096)
def _phased_then(
    field: ReceptiveField, kernel: int, stride: int, dilation: int, pad_before: int
) -> ReceptiveField:
    """:meth:`ReceptiveField.then` of a field with phases. Output ``o`` reads
    ``o*stride - pad_before + m*dilation``, ``m < kernel``: from the first one's first pixel
    to the last one's end (:meth:`ReceptiveField.span`'s arithmetic, inlined)."""
    period, phases, start = len(field.phases), field.phases, field.start
    step, last = period * field.jump, (kernel - 1) * dilation
    spans = []
    for phase in range(period // math.gcd(period, stride)):
        q, r = divmod(phase * stride - pad_before, period)
        q2, r2 = divmod(phase * stride - pad_before + last, period)
        spans.append((start + q * step + phases[r][0], start + q2 * step + phases[r2][1]))
    if stride == 1:  # each end moved along the outputs: their periods, and the pair's, stay
        first = spans[0][0]
        shifted = tuple((a - first, b - first) for a, b in spans)
        return ReceptiveField(max([b - a for a, b in shifted]), field.jump, first, shifted)
    return _of_spans(spans, field.jump * stride)


@functools.lru_cache(maxsize=4096)
def _scattered(
    field: ReceptiveField, kernel: int, stride: int, dilation: int, pad_before: int
) -> ReceptiveField | None:
    """:meth:`ReceptiveField.scattered`."""
    if field.jump % stride:
        return None
    spans = []
    for phase in range(field.period * stride):
        written = [  # the inputs written to this output, last first
            i // stride
            for j in range(kernel)
            if (i := phase + pad_before - j * dilation) % stride == 0
        ]
        if not written:
            return None
        spans.append((field.span(written[-1])[0], field.span(written[0])[1]))
    return _of_spans(spans, field.jump // stride)


@functools.lru_cache(maxsize=4096)
def _union(fields: tuple[ReceptiveField, ...]) -> ReceptiveField | None:
    """:func:`union`."""
    jump = fields[0].jump
    if any(f.jump != jump for f in fields):
        return None
    period = math.lcm(*[f.period for f in fields])
    spans = _spans(fields[0], period)
    for f in fields[1:]:
        spans = [
            (a if a < c else c, b if b > d else d)
            for (a, b), (c, d) in zip(spans, _spans(f, period), strict=True)
        ]
    return _of_spans(spans, jump)


def _spans(field: ReceptiveField, period: int) -> list[Span]:
    """``field.span(i)`` for outputs ``0 .. period - 1`` (a multiple of its own period)."""
    start, jump = field.start, field.jump
    if not field.phases:
        return [(start + i * jump, start + i * jump + field.size) for i in range(period)]
    step = len(field.phases) * jump
    return [
        (start + q * step + a, start + q * step + b)
        for q in range(period // len(field.phases))
        for a, b in field.phases
    ]


def _of_spans(spans: list[Span], jump: int) -> ReceptiveField:
    """The field whose outputs ``0 .. P-1`` see ``spans``, each later group of ``P`` outputs
    ``P*jump`` further on, in its shortest period (no phases where every output's field is
    its neighbour's moved by ``jump``)."""
    start = spans[0][0]
    period = len(spans)
    for shorter in range(1, period):
        if period % shorter:
            continue
        by = shorter * jump
        if all(
            [
                a == c + by and b == d + by
                for (a, b), (c, d) in zip(spans[shorter:], spans, strict=False)
            ]
        ):
            period = shorter
            break
    if period == 1:
        return ReceptiveField(spans[0][1] - start, jump, start)
    phases = tuple((f - start, e - start) for f, e in spans[:period])
    return ReceptiveField(max([b - a for a, b in phases]), jump, start, phases)
