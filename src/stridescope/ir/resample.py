"""A resize read through its interpolation's own source coordinates (:attr:`Node.resample`
of :mod:`~stridescope.ir.graph`): what coverage and the receptive field read where no window
describes the resize."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from stridescope.geometry import resize_reads, resize_step

__all__ = [
    "Picks",
    "Resample",
    "Shape",
    "flip_picks",
    "index_row",
    "repeat_picks",
    "roll_picks",
    "tile_picks",
]

Shape = tuple[int | None, ...]  # (None: a size not known; re-exported by ir.graph)
# per spatial axis, the input position of each output (``None``: the axis as it is)
Picks = list[tuple[int, ...] | None]


@dataclass(frozen=True)
class Resample:
    """A resize read through its interpolation's own source coordinates, for one no window
    describes (sizes that are not whole multiples, corners aligned): per output, the inputs
    geometry's :func:`~stridescope.geometry.resize_reads` gives. ``scales``: per spatial axis
    the ``scale_factor`` given, whose inverse places the sources (``None``: the sizes do).
    Mode ``"picks"``: data movement that puts positions elsewhere along their own axes
    (``flip``, ``roll``, an index tensor of constants along a spatial axis): ``picks`` gives,
    per spatial axis, the input position of each output (``None``: the axis as it is).

    >>> Resample("bilinear", True, (None,)).reads((4,), (3,))
    (((0, 1), (1, 3), (3, 4)),)
    >>> Resample("nearest", False, (None, None)).read_fraction((5, 4), (3, 2))
    0.3
    >>> Resample("picks", picks=((2, 1, 0), None)).reads((3, 2), (3, 2))  # x.flip(2)
    (((2, 3), (1, 2), (0, 1)), ((0, 1), (1, 2)))
    """

    mode: str
    align_corners: bool = False
    scales: tuple[float | None, ...] = ()
    picks: tuple[tuple[int, ...] | None, ...] = ()

    def reads(self, spatial: Shape, out: Shape) -> tuple[tuple[tuple[int, int], ...], ...] | None:
        """Per spatial axis, per output, the ``[first, end)`` inputs it reads; ``None`` for
        unknown sizes or a mode not modelled."""
        if self.mode == "picks":
            return _picked(self.picks, spatial, out)
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

    def steps(self, spatial: Shape, out: Shape) -> tuple[Fraction | None, ...]:
        """Per spatial axis, how far apart in inputs neighbouring outputs' sources are
        (:func:`~stridescope.geometry.resize_step`; sizes known, as :meth:`reads` has them);
        ``None`` for picks (the pattern of their reads says).

        >>> Resample("bilinear", True, (None,)).steps((8,), (16,))
        (Fraction(7, 15),)
        """
        if self.mode == "picks":
            return (None,) * len(spatial)
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


def _picked(
    picks: tuple[tuple[int, ...] | None, ...], spatial: Shape, out: Shape
) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    """:meth:`Resample.reads` of picks: each output reads its one source; an axis without
    picks reads each position itself. ``None`` where the sizes do not fit the picks."""
    if len(picks) != len(spatial) or len(out) != len(spatial):
        return None
    found = []
    for axis, n, o in zip(picks, spatial, out, strict=True):
        if n is None or o is None:
            return None
        sources = range(n) if axis is None else axis
        if len(sources) != o or not all(0 <= i < n for i in sources):
            return None
        found.append(tuple((i, i + 1) for i in sources))
    return tuple(found)


# The picks of the data movement both frontends read so (``Resample`` mode ``"picks"``); each
# takes the spatial axes as ``{axis: size}``, in order, and gives one entry per axis.


def flip_picks(sizes: Mapping[int, int], flipped: Collection[int]) -> Picks:
    """A flip of the axes ``flipped``: each read backwards.

    >>> flip_picks({2: 3, 3: 2}, (2,))
    [(2, 1, 0), None]
    """
    return [tuple(range(n - 1, -1, -1)) if a in flipped else None for a, n in sizes.items()]


def roll_picks(sizes: Mapping[int, int], shifts: Iterable[tuple[int, int]]) -> Picks:
    """A roll by ``(axis, shift)`` pairs (shifts on one axis add up): each output read from
    ``shift`` positions back, around the end; ``None`` where an axis comes back to itself.

    >>> roll_picks({2: 4, 3: 3}, [(2, 1), (3, 3)])
    [(3, 0, 1, 2), None]
    """
    total = dict.fromkeys(sizes, 0)
    for a, shift in shifts:
        if a in total:
            total[a] += shift
    return [
        tuple((j - total[a]) % n for j in range(n)) if total[a] % n else None
        for a, n in sizes.items()
    ]


def index_row(
    index: np.ndarray, axis: int, shape: Sequence[int], broadcast: bool
) -> list[int] | None:
    """A gather's constant ``index`` along ``axis`` (of the map's rank, as large as the map
    ``shape`` on every other axis, or of size 1 there where it ``broadcast``s) as the one row
    of positions it holds at every position of the other axes; ``None`` where it holds
    others (a pick that differs along another axis) or is empty.

    >>> rows = np.array([0, 4, 8]).reshape(1, 3, 1)
    >>> index_row(np.broadcast_to(rows, (2, 3, 5)), 1, (2, 9, 5), broadcast=False)
    [0, 4, 8]
    >>> index_row(rows, 1, (2, 9, 5), broadcast=True), index_row(rows, 1, (2, 9, 5), False)
    ([0, 4, 8], None)
    """
    if index.ndim != len(shape) or not index.size:
        return None
    for a, (k, n) in enumerate(zip(index.shape, shape, strict=True)):
        if a != axis and k != n and not (broadcast and k == 1):
            return None
    rows = np.moveaxis(index, axis, -1).reshape(-1, index.shape[axis])
    return [int(i) for i in rows[0]] if bool((rows == rows[:1]).all()) else None


def repeat_picks(sizes: Mapping[int, int], axis: int, r: int) -> Picks:
    """Each position of ``axis`` ``r`` times in a row (``repeat_interleave``).

    >>> repeat_picks({2: 2, 3: 2}, 3, 2)
    [None, (0, 0, 1, 1)]
    """
    return [tuple(j // r for j in range(n * r)) if a == axis else None for a, n in sizes.items()]


def tile_picks(sizes: Mapping[int, int], times: Mapping[int, int]) -> Picks:
    """Each axis read ``times[axis]`` times over, from its start (``repeat``, ``tile``).

    >>> tile_picks({2: 2, 3: 2}, {2: 1, 3: 2})
    [None, (0, 1, 0, 1)]
    """
    return [
        tuple(j % n for j in range(n * times[a])) if times[a] > 1 else None
        for a, n in sizes.items()
    ]
