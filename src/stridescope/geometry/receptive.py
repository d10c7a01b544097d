"""Receptive fields composed through a chain of sliding windows, one axis at a time.

A receptive field is described by three numbers, in units of the network's input pixels:

- ``size``: how many input pixels one output position can see;
- ``jump``: the distance in input pixels between two neighbouring output positions (a
  whole number, except after the resizes below);
- ``start``: the input index of the first pixel seen by output position 0 (negative where it
  lies in the padding).

After an upsampling (a transposed convolution of stride ``s``, a nearest or linear
interpolation by a whole factor, a pixel shuffle) neighbouring outputs no longer see fields
``jump`` apart: output ``2k`` and ``2k + 1`` of a nearest 2x upsampling both see the field
of input ``k``. The fields then repeat a pattern of ``P`` outputs (their *phases*): output
``q*P + p`` sees ``[start + q*P*jump + a_p, start + q*P*jump + b_p)``, and ``size`` is the
largest of them. The fields of ``P`` outputs move a whole number of pixels (``P*jump``, the
:attr:`~ReceptiveField.move`); ``jump`` itself may be a :class:`~fractions.Fraction`: the
average distance between neighbouring outputs' fields after an upsampling past the input's
own resolution (a nearest 2x upsampling of the input: ``1/2``) or a resize by a ratio that
is not whole (240 to 224 pixels: ``15/14``, fields repeating every 14 outputs), which
:meth:`~ReceptiveField.gathered` reads through each output's own inputs.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from stridescope.geometry.padding import check_window, effective_kernel

__all__ = ["Jump", "ReceptiveField"]

Span = tuple[int, int]  # [first, end) input pixels
Jump = int | Fraction  # a fraction only with phases, whose ``period * jump`` is whole


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
    jump: Jump = 1
    start: int = 0
    #: per phase of a field that repeats every ``len(phases)`` outputs, ``(a, b)``: output
    #: ``q*P + p`` sees ``[start + q*P*jump + a, start + q*P*jump + b)``; ``()`` where every
    #: output sees ``[start + i*jump, start + i*jump + size)``. Ends may move back from one
    #: output to the next only after a transposed window with gaps between its taps
    phases: tuple[Span, ...] = ()

    def __repr__(self) -> str:
        phases = f", phases={self.phases!r}" if self.phases else ""
        return f"ReceptiveField(size={self.size}, jump={self.jump}, start={self.start}{phases})"

    @property
    def period(self) -> int:
        """How many outputs the pattern of fields repeats after (1 without phases)."""
        return len(self.phases) or 1

    @property
    def move(self) -> int:
        """How many pixels the fields of :attr:`period` outputs move on (``period * jump``,
        whole even where ``jump`` is a fraction).

        >>> ReceptiveField(1, Fraction(1, 2), 0, ((0, 1), (0, 1))).move
        1
        """
        return int(self.period * self.jump)

    def span(self, i: int) -> Span:
        """``[first, end)``: the input pixels output ``i`` sees (``i`` may be negative).

        >>> ReceptiveField(3, 2, -1).span(2)
        (3, 6)
        """
        if not self.phases:  # (a whole jump)
            first = self.start + i * int(self.jump)
            return first, first + self.size
        q, phase = divmod(i, len(self.phases))
        base = self.start + q * self.move
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
        if not self.phases:  # (a whole jump)
            span, jump = effective_kernel(kernel, dilation), int(self.jump)
            return ReceptiveField(
                size=self.size + (span - 1) * jump,
                jump=jump * stride,
                start=self.start - pad_before * jump,
            )
        return _phased_then(self, kernel, stride, dilation, pad_before)

    def scattered(
        self, kernel: int, stride: int = 1, dilation: int = 1, pad_before: int = 0
    ) -> ReceptiveField | None:
        """The field after a transposed window (input ``i`` written to outputs
        ``i*stride - pad_before + j*dilation``, ``j < kernel``): each output sees the fields
        of the inputs written to it (past the input's resolution, a fractional jump).
        ``None`` where an output has no input.

        >>> up = ReceptiveField(3, 2, -1).scattered(kernel=2, stride=2)  # nearest 2x
        >>> up
        ReceptiveField(size=3, jump=1, start=-1, phases=((0, 3), (0, 3)))
        >>> up.then(kernel=3, pad_before=1)  # a 3x3 conv after it
        ReceptiveField(size=5, jump=1, start=-3, phases=((0, 5), (2, 7)))
        >>> up.then(kernel=1, stride=2)  # a stride-2 1x1 conv after it: the field before
        ReceptiveField(size=3, jump=2, start=-1)
        >>> ReceptiveField().scattered(kernel=2, stride=2)  # the input itself, upsampled
        ReceptiveField(size=1, jump=1/2, start=0, phases=((0, 1), (0, 1)))
        """
        check_window(None, kernel, stride, dilation)
        return _scattered(self, kernel, stride, dilation, pad_before)

    def gathered(
        self, reads: Sequence[Span], n: int, step: Fraction | None = None
    ) -> ReceptiveField | None:
        """The field after an op whose output ``o`` reads the ``[first, end)`` inputs
        ``reads[o]`` of an axis of ``n`` (a resize by a ratio that is not whole, through
        its source coordinates: :func:`~stridescope.geometry.resize_reads`; adaptive pooling
        to a size that does not divide the input's: :func:`~stridescope.geometry.adaptive_spans`):
        each output sees the fields of the inputs it reads. The pattern goes on beyond the
        axis (what an output in a later layer's padding stands for) as the outputs' sources
        step: by ``step`` inputs per output (``m / q``: every ``q`` outputs read what the ``q``
        before them read, ``m`` inputs on; :func:`~stridescope.geometry.resize_step`) where
        the reads repeat so, else by ``n`` inputs every ``len(reads)`` outputs; ``jump`` is
        that step times this field's. ``None`` where an output reads nothing.

        >>> ReceptiveField().gathered(((0, 2), (1, 3)), 3)  # adaptive pooling from 3 to 2
        ReceptiveField(size=2, jump=3/2, start=0, phases=((0, 2), (1, 3)))
        >>> ReceptiveField(3, 2, -1).gathered(((0, 1), (1, 2), (3, 4)), 5)  # nearest, 5 to 3
        ReceptiveField(size=3, jump=10/3, start=-1, phases=((0, 3), (2, 5), (6, 9)))
        >>> corners = ((0, 1), (0, 2), (1, 3), (2, 3))  # linear, corners aligned, 3 to 4
        >>> ReceptiveField().gathered(corners, 3, Fraction(2, 3)).jump
        Fraction(2, 3)
        """
        return _gathered(self, tuple(reads), n, step)

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
        # (exact, then one rounding: two fields on the same grid get the same float, where
        # float arithmetic left them 1e-16 apart, a misaligned merge to lint's DS301)
        offsets = [Fraction(a + b - 1, 2) - p * self.jump for p, (a, b) in enumerate(self.phases)]
        return float(self.start + sum(offsets) / len(offsets))

    def merge(self, other: ReceptiveField) -> ReceptiveField:
        """The receptive field of a sum or concatenation of two branches: the union of both
        windows, with the coarser jump (in whole pixels: phases are kept only where both
        jumps are the same, as :func:`union` keeps them).

        >>> ReceptiveField(3, 2, -1).merge(ReceptiveField(1, 2, 0))
        ReceptiveField(size=3, jump=2, start=-1)
        """
        if (self.phases or other.phases) and self.jump == other.jump:
            found = union([self, other])
            if found is not None:
                return found
        start = min(self.start, other.start)
        end = max(self.end, other.end)
        return ReceptiveField(end - start, math.ceil(max(self.jump, other.jump)), start)


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
    to the last one's end where neither end moves back along the outputs
    (:meth:`ReceptiveField.span`'s arithmetic, inlined), else the hull of all of them."""
    period, phases, start = len(field.phases), field.phases, field.start
    step, last = field.move, (kernel - 1) * dilation
    outputs = range(period // math.gcd(period, stride))
    if _ordered(field):
        spans = []
        for phase in outputs:
            q, r = divmod(phase * stride - pad_before, period)
            q2, r2 = divmod(phase * stride - pad_before + last, period)
            spans.append((start + q * step + phases[r][0], start + q2 * step + phases[r2][1]))
    else:  # (after a transposed window with gaps between its taps)
        taps = [o * stride - pad_before for o in outputs]  # each output's first tap
        spans = [_hull(field, range(t, t + last + 1, dilation)) for t in taps]
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
    spans = []
    for phase in range(field.period * stride):
        written = [  # the inputs written to this output
            i // stride
            for j in range(kernel)
            if (i := phase + pad_before - j * dilation) % stride == 0
        ]
        if not written:
            return None
        spans.append(_hull(field, written))
    return _of_spans(spans, Fraction(field.jump) / stride)


def _hull(field: ReceptiveField, outputs: Sequence[int]) -> Span:
    """From the first pixel to the last end that ``field``'s ``outputs`` see."""
    seen = [field.span(i) for i in outputs]
    return min([a for a, _ in seen]), max([b for _, b in seen])


@functools.lru_cache(maxsize=1024)
def _ordered(field: ReceptiveField) -> bool:
    """Whether neither end of the fields moves back from one output to the next (what
    windows, gathers and transposed windows without gaps between taps keep)."""
    phases = field.phases
    ends = [*phases, (phases[0][0] + field.move, phases[0][1] + field.move)] if phases else []
    return all([c >= a and d >= b for (a, b), (c, d) in itertools.pairwise(ends)])


@functools.lru_cache(maxsize=1024)
def _gathered(
    field: ReceptiveField, reads: tuple[Span, ...], n: int, step: Fraction | None
) -> ReceptiveField | None:
    """:meth:`ReceptiveField.gathered`: over as many repeats of the pattern as make the
    field's own period repeat too (its phases need not be where they were ``n`` inputs on)."""
    if not reads or n < 1 or any(end <= first for first, end in reads):
        return None
    pattern, inputs = _pattern(reads, n, step)
    repeats = field.period // math.gcd(field.period, inputs)
    spans = [
        _hull(field, range(r * inputs + first, r * inputs + end))
        for r in range(repeats)
        for first, end in pattern
    ]
    return _of_spans(spans, Fraction(field.jump) * inputs / len(pattern))


def _pattern(
    reads: tuple[Span, ...], n: int, step: Fraction | None
) -> tuple[tuple[Span, ...], int]:
    """The reads of outputs ``0 .. q-1`` of the pattern ``step = m / q`` says (every ``q``
    outputs read what the ``q`` before them read, ``m`` inputs on), and ``m``: taken from
    the first ``q`` outputs whose reads stay off the axis's ends (a kernel clamps its taps
    there: bicubic reads pixel 0 for -1), else from the first ``q``, where every output
    off the ends reads just what the pattern says and every output at an end no more; else
    every output's own reads, ``n`` inputs on."""
    out = len(reads)
    if step is None or step <= 0 or step.denominator >= out:
        return reads, n
    q, m = step.denominator, step.numerator
    inside = [first > 0 and end < n for first, end in reads]
    starts = [o for o in range(out - q + 1) if all(inside[o : o + q])][:1]
    for start in [*starts, 0]:
        base = reads[start : start + q]
        said = [
            (base[j][0] + r * m, base[j][1] + r * m)
            for o in range(out)
            for r, j in [divmod(o - start, q)]
        ]
        if all(
            [
                (a, b) == (first, end) if inner else a <= first < end <= b
                for (a, b), (first, end), inner in zip(said, reads, inside, strict=True)
            ]
        ):
            return tuple(said[:q]), m
    return reads, n


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
    start, jump = field.start, int(field.jump)
    if not field.phases:
        return [(start + i * jump, start + i * jump + field.size) for i in range(period)]
    step = field.move
    return [
        (start + q * step + a, start + q * step + b)
        for q in range(period // len(field.phases))
        for a, b in field.phases
    ]


def _of_spans(spans: list[Span], jump: Jump) -> ReceptiveField:
    """The field whose outputs ``0 .. P-1`` see ``spans``, each later group of ``P`` outputs
    ``P*jump`` (whole) further on, in its shortest period (no phases where every output's
    field is its neighbour's moved by ``jump``); a whole ``jump`` as an ``int``."""
    if type(jump) is Fraction and jump.denominator == 1:
        jump = jump.numerator
    start = spans[0][0]
    period = len(spans)
    for shorter in range(1, period):
        by = shorter * jump
        if period % shorter or (type(by) is Fraction and by.denominator != 1):
            continue
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
