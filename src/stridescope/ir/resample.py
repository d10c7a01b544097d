"""A resize read through its interpolation's own source coordinates (:attr:`Node.resample`
of :mod:`~stridescope.ir.graph`): what coverage and the receptive field read where no window
describes the resize."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from stridescope.geometry import resize_reads, resize_step

__all__ = ["Resample", "Shape"]

Shape = tuple[int | None, ...]  # (None: a size not known; re-exported by ir.graph)


@dataclass(frozen=True)
class Resample:
    """A resize read through its interpolation's own source coordinates, for one no window
    describes (sizes that are not whole multiples, corners aligned): per output, the inputs
    geometry's :func:`~stridescope.geometry.resize_reads` gives. ``scales``: per spatial axis
    the ``scale_factor`` given, whose inverse places the sources (``None``: the sizes do).

    >>> Resample("bilinear", True, (None,)).reads((4,), (3,))
    (((0, 1), (1, 3), (3, 4)),)
    >>> Resample("nearest", False, (None, None)).read_fraction((5, 4), (3, 2))
    0.3
    """

    mode: str
    align_corners: bool = False
    scales: tuple[float | None, ...] = ()

    def reads(self, spatial: Shape, out: Shape) -> tuple[tuple[tuple[int, int], ...], ...] | None:
        """Per spatial axis, per output, the ``[first, end)`` inputs it reads; ``None`` for
        unknown sizes or a mode not modelled."""
        found = []
        for n, o, scale in zip(spatial, out, self.scales, strict=True):
            axis = (
                None
                if n is None or o is None
                else resize_reads(n, o, self.mode, self.align_corners, scale)
            )
            if axis is None:
                return None
            found.append(axis)
        return tuple(found)

    def steps(self, spatial: Shape, out: Shape) -> tuple[Fraction, ...]:
        """Per spatial axis, how far apart in inputs neighbouring outputs' sources are
        (:func:`~stridescope.geometry.resize_step`; sizes known, as :meth:`reads` has them).

        >>> Resample("bilinear", True, (None,)).steps((8,), (16,))
        (Fraction(7, 15),)
        """
        return tuple(
            resize_step(int(n or 1), int(o or 1), self.mode, self.align_corners, scale)
            for n, o, scale in zip(spatial, out, self.scales, strict=True)
        )

    def read_fraction(self, spatial: Shape, out: Shape) -> float | None:
        """Share of the input positions some output reads."""
        reads = self.reads(spatial, out)
        if reads is None:
            return None
        share = 1.0
        for axis, n in zip(reads, spatial, strict=True):
            assert n is not None
            share *= len({i for first, end in axis for i in range(first, end)}) / n
        return share
