"""Plots of ``stridescope compare`` (matplotlib, Agg, imported lazily; never torch).

They take the plain JSON-ready record (``Comparison.to_dict()``), so a saved JSON file can be
plotted again without measuring:

- ``frequency_response.png``: output amplitude against input frequency, one line per
  operator; right of 0.25 cycles per position (pixel, sample) everything that passes aliases;
- ``read_grids.png``: per operator, the top-left corner of the input (a signal's first
  samples), each position labelled with the number of output windows that read it (blank:
  never read).

The record's ``position_unit`` (``pixels`` or ``samples``) names the axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stridescope.analysis.formatting import percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["frequency_response_png", "read_grids_png", "write_compare_plots"]

_DPI = 110


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def frequency_response_png(
    frequencies: Sequence[float],
    ops: Sequence[Mapping[str, Any]],
    path: Path,
    unit: str = "pixels",
) -> Path:
    """One line per operator: ``response`` against ``frequencies`` (cycles per position,
    ``unit`` naming the positions)."""
    fig = _figure(10.0, 4.8)
    ax = fig.add_subplot()
    ax.axvspan(0.25, 0.5, color="0.92", label="above output Nyquist (aliases)")
    styles = ("-", "--", "-.", ":")
    markers = ("o", "s", "^", "v", "D", "x", "+", "*")  # tell apart lines that coincide
    for index, op in enumerate(ops):
        ax.plot(
            frequencies,
            op["response"],
            styles[index % 4],
            lw=1.8,
            marker=markers[index % len(markers)],
            markersize=5,
            markevery=(index % 4, 4),
            label=f"{op['name']} (aliasing {op['aliasing']:.4f})",
        )
    ax.axvline(0.25, color="0.4", lw=0.8)
    ax.set_xlim(0.0, 0.5)
    ax.set_ylim(0.0, 1.05)
    one = unit.removesuffix("s")
    ax.set_xlabel(f"input frequency (cycles per {one}); output Nyquist = 0.25")
    ax.set_ylabel("output amplitude (relative to the peak)")
    probe = "sinusoids" if unit == "samples" else "horizontal gratings"
    ax.set_title(f"Frequency response of each downsampling operator ({probe})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="operator")
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def read_grids_png(ops: Sequence[Mapping[str, Any]], path: Path, unit: str = "pixels") -> Path:
    """A panel per operator: read counts of the top-left input pixels (a signal's first
    samples, one row per operator)."""
    strip = unit == "samples"
    cols = 1 if strip else min(4, len(ops))
    rows = math.ceil(len(ops) / cols)
    fig = _figure(10.0, 0.9 * rows + 0.6) if strip else _figure(2.6 * cols, 2.8 * rows)
    for index, op in enumerate(ops):
        grid = op["read_grid"]
        ax = fig.add_subplot(rows, cols, index + 1)
        peak = max((max(row) for row in grid), default=1) or 1
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=peak * 1.3)
        for y, row in enumerate(grid):
            for x, value in enumerate(row):
                if value:
                    ax.text(x, y, str(value), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(grid[0]) if grid else 0))
        ax.set_yticks(range(len(grid)))
        ax.tick_params(labelsize=6, length=0)
        label = f"{op['name']}\nread {percent(op['read_fraction'])}"
        if strip:
            ax.set_yticks([])
            ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        else:
            ax.set_title(label, fontsize=8)
    where = "first samples" if strip else "top-left corner"
    fig.suptitle(f"Input {unit} read ({where}; number = output windows reading it)")
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def write_compare_plots(record: Mapping[str, Any], directory: Path) -> tuple[Path, ...]:
    """Write both plots of a ``Comparison.to_dict()`` record into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ops, unit = record["ops"], record.get("position_unit", "pixels")
    return (
        frequency_response_png(
            record["frequencies"], ops, directory / "frequency_response.png", unit
        ),
        read_grids_png(ops, directory / "read_grids.png", unit),
    )
