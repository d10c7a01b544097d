"""A coverage map as text, in the form that fits the input: a 2-D map as its top-left grid of
counts, a 1-D map as a strip (the whole signal in cells, the first samples with their counts,
and the runs of unread samples summarised), a 3-D map as one grid per slice along its first
axis. Rendering only; the map comes from :func:`~stridescope.analysis.coverage.coverage_map`.

>>> from stridescope.ir import GraphBuilder
>>> from stridescope.analysis.coverage import coverage_map
>>> b = GraphBuilder((1, 1, 16), "nchw")
>>> _ = b.conv(b.input, "c", out_channels=1, kernel=1, stride=2)
>>> unread_text(coverage_map(b.build()).counts)
['8 runs of 1 sample, every 2 samples from 1 to 15']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stridescope.analysis.coverage import CoverageMap
from stridescope.analysis.formatting import number_text, percent
from stridescope.analysis.units import milliseconds, ms_text, position_noun, size_text

__all__ = [
    "RunGroup",
    "coverage_lines",
    "grid_text",
    "run_groups",
    "strip_cells",
    "unread_runs",
    "unread_text",
]

GRID = 16  #: side of the grids shown (2-D corner, 3-D slices)
STRIP_CELLS = 80  #: cells of the whole-signal strip
FIRST_SAMPLES = 48  #: samples shown with their counts
SLICES = 4  #: 3-D slices shown as grids
GROUPS = 6  #: groups of unread runs listed


def grid_text(
    counts: npt.NDArray[np.int64], size: int = GRID, width: int | None = None
) -> list[str]:
    """The top-left ``size x size`` counts of a 2-D map as text rows; ``.`` never read;
    ``width`` characters per count (default: the widest shown).

    >>> grid_text(np.array([[1, 0], [0, 12]]))
    [' 1 ..', '.. 12']
    """
    corner = counts[:size, :size]
    if width is None:
        width = max(1, len(str(int(corner.max()))) if corner.size else 1)
    return [
        " ".join("." * width if v == 0 else f"{int(v):>{width}}" for v in row) for row in corner
    ]


def unread_runs(counts: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """``(start, length)`` of each run of unread samples of a 1-D map.

    >>> unread_runs(np.array([1, 0, 0, 1, 0, 1]))
    [(1, 2), (4, 1)]
    """
    unread = np.concatenate(([False], counts == 0, [False]))
    edges = np.flatnonzero(np.diff(unread.astype(np.int8)))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@dataclass(frozen=True)
class RunGroup:
    """Runs of equal length whose starts are evenly spaced (``period`` 0: a single run)."""

    start: int
    length: int
    period: int
    count: int

    @property
    def last(self) -> int:
        """Start of the last run."""
        return self.start + self.period * (self.count - 1)


def run_groups(runs: Sequence[tuple[int, int]]) -> list[RunGroup]:
    """Consecutive runs of one length at one spacing, grouped: a 1-tap stride-2 layer's
    unread samples are one group, however long the signal.

    >>> run_groups([(1, 1), (3, 1), (5, 1), (10, 4)])
    [RunGroup(start=1, length=1, period=2, count=3), RunGroup(start=10, length=4, period=0, count=1)]
    """
    groups: list[RunGroup] = []
    for start, length in runs:
        if groups:
            g = groups[-1]
            period = start - g.last
            if g.length == length and (g.count == 1 or g.period == period):
                groups[-1] = RunGroup(g.start, length, period, g.count + 1)
                continue
        groups.append(RunGroup(start, length, 0, 1))
    return groups


def _noun(n: int) -> str:
    return position_noun(1, plural=n != 1)


def _group_text(g: RunGroup, rate: float | None) -> str:
    span = f"{g.length} {_noun(g.length)}"
    if rate is not None:
        span += f" ({ms_text(milliseconds(g.length, rate))})"
    if g.count == 1:
        end = g.start + g.length - 1
        where = f"{g.start}" if g.length == 1 else f"{g.start}-{end}"
        return f"1 run of {span}: {where}"
    return f"{g.count} runs of {span}, every {g.period} samples from {g.start} to {g.last}"


def unread_text(counts: npt.NDArray[np.int64], rate: float | None = None) -> list[str]:
    """The runs of unread samples of a 1-D map, grouped (:func:`run_groups`), one line per
    group; the groups past :data:`GROUPS` are counted, not listed."""
    groups = run_groups(unread_runs(counts))
    lines = [_group_text(g, rate) for g in groups[:GROUPS]]
    if len(groups) > GROUPS:
        rest = groups[GROUPS:]
        samples = sum(g.length * g.count for g in rest)
        lines.append(f"... {len(rest)} more groups ({samples} samples)")
    return lines


def strip_cells(counts: npt.NDArray[np.int64], cells: int = STRIP_CELLS) -> str:
    """The whole 1-D map in at most ``cells`` characters, each covering an equal span of
    samples: ``█`` all read, ``▒`` partly read, ``·`` none read.

    >>> strip_cells(np.array([1, 1, 0, 0, 1, 0]), cells=3)
    '█·▒'
    """
    spans = np.array_split(counts > 0, min(cells, counts.size))
    return "".join("█" if s.all() else "·" if not s.any() else "▒" for s in spans)


def _strip_lines(cov: CoverageMap, rate: float | None) -> list[str]:
    counts = cov.counts
    n = counts.size
    per = -(-n // min(STRIP_CELLS, n))
    first = counts[:FIRST_SAMPLES]
    lines = [
        f"all {n} samples, about {per} per cell (█ all read, ▒ partly, · none):",
        strip_cells(counts),
        f"first {first.size} samples, windows per sample ('.' = never read):",
        grid_text(first[None, :], size=FIRST_SAMPLES)[0],
    ]
    runs = unread_text(counts, rate)
    lines.append("unread samples: none" if not runs else "unread samples:")
    lines.extend(f"  {line}" for line in runs)
    return lines


def _shares_text(shares: Sequence[str]) -> str:
    """Per-slice shares, consecutive equal ones merged: ``0-3: 25%, 4: 0%``.

    >>> _shares_text(["25%", "25%", "0%", "25%"])
    '0-1: 25%, 2: 0%, 3: 25%'
    """
    parts: list[str] = []
    start = 0
    for d in range(1, len(shares) + 1):
        if d == len(shares) or shares[d] != shares[start]:
            where = f"{start}" if d - 1 == start else f"{start}-{d - 1}"
            parts.append(f"{where}: {shares[start]}")
            start = d
    return ", ".join(parts)


def _slice_lines(cov: CoverageMap) -> list[str]:
    """Per-slice shares, then the first :data:`SLICES` slices: a grid each, one line for a
    slice nothing reads or one equal to a slice shown above."""
    counts = cov.counts
    depth = counts.shape[0]
    shares = [percent(float((s > 0).mean())) for s in counts]
    lines = [f"read per slice (D): {_shares_text(shares)}"]
    width = max(1, len(str(int(counts.max()))))
    for d in range(min(SLICES, depth)):
        head = f"slice D={d} ({shares[d]} read)"
        same = next((e for e in range(d) if np.array_equal(counts[e], counts[d])), None)
        if not counts[d].any():
            lines.append(f"{head}: never read")
        elif same is not None:
            lines.append(f"{head}: the same counts as D={same}")
        else:
            rows = min(GRID, counts.shape[1])
            lines.append(f"{head}, top-left {rows} rows ('.' = never read):")
            lines.extend(grid_text(counts[d], width=width))
    if depth > SLICES:
        lines.append(f"slices D={SLICES}-{depth - 1} not shown (--format json has every one)")
    return lines


def coverage_lines(
    cov: CoverageMap,
    target: str,
    sample_rate: float | None = None,
    field: tuple[int, float] | None = None,
) -> list[str]:
    """The text of ``stridescope coverage``; ``field`` is ``(size, jump)`` of the output's
    receptive field along the first axis, shown in milliseconds with a ``sample_rate``."""
    counts = cov.counts
    rank, noun = counts.ndim, cov.position_unit
    read = counts[counts > 0]
    size = size_text(cov.input_spatial)
    lines = [
        f"{target}: {cov.fraction:.1%} of the {size} input {noun} can influence the output "
        f"({int((counts == 0).sum())} never read)",
        f"windows per {position_noun(rank, plural=False)} (outputs of {cov.output_node}, "
        f"{'x'.join(map(str, cov.output_spatial))}): "
        + (f"min {int(read.min())}, max {int(read.max())}" if read.size else "none"),
    ]
    if sample_rate is not None and field is not None:
        unit = noun if rank == 1 else "frames"
        lines.append(
            f"receptive field {field[0]} {unit} = {ms_text(milliseconds(field[0], sample_rate))}"
            f", outputs {number_text(field[1])} {unit} = "
            f"{ms_text(milliseconds(field[1], sample_rate))} apart"
            f" (at {sample_rate:g} Hz)"
        )
    if rank == 1:
        lines.extend(_strip_lines(cov, sample_rate))
    elif rank == 3:
        lines.extend(_slice_lines(cov))
    else:
        plane = counts if rank == 2 else counts.reshape(1, -1)
        lines.append(f"top-left {min(GRID, plane.shape[0])} rows ('.' = never read):")
        lines.extend(grid_text(plane))
    lines.extend(f"note: {note}" for note in cov.notes)
    return lines
