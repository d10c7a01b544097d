"""The study's plots as PNG bytes (matplotlib, Agg, imported lazily; never torch).

- accuracy against MACs, one point per operator, with CI error bars;
- consistency per operator with CI bars;
- the read grid of an operator: which input pixels its output ever reads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stridescope.analysis.formatting import percent
from stridescope.analysis.stats import Estimate, OpRow, StudySummary
from stridescope.records import op_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["accuracy_vs_macs_png", "consistency_png", "read_fraction", "read_grid_png"]

_DPI = 100


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _empty(fig: Figure, message: str) -> bytes:
    fig.text(0.5, 0.5, message, ha="center", va="center")
    return _png(fig)


def _err(est: Estimate) -> float:
    return est.half_width or 0.0


def _label(row: OpRow, summary: StudySummary) -> str:
    settings = {(r.dataset, r.arch, r.epochs) for r in summary.rows}
    name = op_label(row.op)
    return name if len(settings) == 1 else f"{name} ({row.dataset}/{row.arch}/{row.epochs}ep)"


def accuracy_vs_macs_png(summary: StudySummary) -> bytes:
    """Mean test accuracy (with CI bars) against MACs per image, one labelled point per row."""
    fig = _figure(8.0, 4.6)
    rows = [r for r in summary.rows if r.accuracy.mean is not None and r.macs is not None]
    if not rows:
        return _empty(fig, "no finished runs with accuracy and MACs")
    ax = fig.add_subplot()
    markers = "oD^v<>pPX*h"  # the square is the baseline's
    for i, row in enumerate(rows):
        marker = "s" if row.op == summary.baseline else markers[i % len(markers)]
        x, y = float(row.macs or 0), float(row.accuracy.mean or 0.0)
        ax.errorbar(
            [x], [y], yerr=[_err(row.accuracy)], fmt=marker, capsize=4, label=_label(row, summary)
        )
        # name each point too: operators of equal cost share an x and are hard to tell apart
        ax.annotate(op_label(row.op), (x, y), xytext=(7, 0), textcoords="offset points", fontsize=7)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.margins(x=0.2, y=0.1)
    ax.set_xlabel("MACs per image")
    ax.set_ylabel(f"test accuracy (mean, {summary.confidence:.0%} CI)")
    ax.set_title("Accuracy against cost")
    ax.grid(alpha=0.3)
    return _png(fig)


def consistency_png(summary: StudySummary) -> bytes:
    """Mean shift-consistency per operator with CI bars (baseline on top, in red)."""
    rows = [r for r in summary.rows if r.consistency.mean is not None]
    fig = _figure(7.0, 1.2 + 0.45 * max(len(rows), 1))
    if not rows:
        return _empty(fig, "no finished runs with consistency")
    ax = fig.add_subplot()
    labels = [_label(r, summary) for r in rows]
    means = [r.consistency.mean or 0.0 for r in rows]
    errs = [_err(r.consistency) for r in rows]
    colors = ["#d62728" if r.op == summary.baseline else "#1f77b4" for r in rows]
    positions = list(range(len(rows)))
    for pos, mean, err, color in zip(positions, means, errs, colors, strict=True):
        # points with CI bars, not bars: the axis is zoomed, and a cut bar would mislead
        ax.errorbar([mean], [pos], xerr=[err], fmt="o", color=color, capsize=4)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    low = min(m - e for m, e in zip(means, errs, strict=True))
    high = max(m + e for m, e in zip(means, errs, strict=True))
    ax.set_xlim(max(0.0, low - 0.05), min(1.0, high + 0.05))
    ax.set_xlabel(f"shift-consistency (mean, {summary.confidence:.0%} CI)")
    ax.set_title("Consistency per operator")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def read_fraction(grid: Sequence[Sequence[bool]]) -> float:
    """Share of the grid's pixels that are read.

    >>> read_fraction([[True, False], [False, False]])
    0.25
    """
    cells = [bool(v) for line in grid for v in line]
    return sum(cells) / len(cells) if cells else 0.0


def read_grid_png(grid: Sequence[Sequence[bool]], title: str) -> bytes:
    """A small image of the grid: read pixels dark, never-read pixels light."""
    import numpy as np

    values = np.asarray([[1.0 if v else 0.0 for v in line] for line in grid])
    fig = _figure(2.2, 2.4)
    ax = fig.add_subplot()
    if values.ndim == 2 and values.size:
        ax.imshow(values, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\n{percent(read_fraction(grid))} read", fontsize=8)
    return _png(fig)
