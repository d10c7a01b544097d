"""A coverage map as a PNG, in the form that fits the input: per input position, how many
receptive-field windows of the last spatial layer contain it (0 = it can never influence the
output).

- 2-D: a heatmap of the image's pixels.
- 1-D: a strip, the counts along the signal as a step line over a one-row heatmap, unread
  samples marked in red; with a sample rate a second axis in milliseconds.
- 3-D: one heatmap per slice along the first axis (up to 16, evenly spaced), one colour scale.

matplotlib (Agg) is imported lazily; nothing here imports torch.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from stridescope.analysis.coverage import CoverageMap
from stridescope.analysis.formatting import percent

__all__ = ["MAX_SLICES", "coverage_png", "write_coverage_png"]

MAX_SLICES = 16
_LABEL = "output windows containing the {}"


def _heading(cov: CoverageMap, title: str) -> str:
    unread = int((np.asarray(cov.counts) == 0).sum())
    size = "x".join(map(str, cov.input_spatial))
    return (
        f"{title or 'input coverage'}\n{cov.fraction:.1%} of {size} input {cov.position_unit} "
        f"influence {cov.output_node or 'the output'}; {unread} never read"
    )


def _plane_figure(cov: CoverageMap, title: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    plane = np.asarray(cov.counts)
    height, width = plane.shape
    aspect = height / max(width, 1)
    fig = Figure(figsize=(6.4, max(2.0, min(6.4, 5.4 * aspect + 1.0))), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(
        plane, cmap="viridis", interpolation="nearest", origin="upper", vmin=0, aspect="equal"
    )
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(_LABEL.format("pixel"))
    colorbar.locator = MaxNLocator(integer=True)
    colorbar.update_ticks()
    ax.set_xlabel("input column (pixel)")
    ax.set_ylabel("input row (pixel)")
    ax.set_title(_heading(cov, title), fontsize=10)
    return fig


def _strip_figure(cov: CoverageMap, title: str, sample_rate: float | None) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    counts = np.asarray(cov.counts)
    n = counts.size
    fig = Figure(figsize=(9.6, 4.0), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    edges = np.arange(n + 1) - 0.5
    top.stairs(counts, edges, color="#1f4e79", linewidth=1.0)
    unread = np.flatnonzero(counts == 0)
    top.plot(unread, np.zeros(unread.size), "|", color="#c0392b", markersize=8, label="never read")
    if unread.size:
        top.legend(loc="upper right", fontsize=8)
    top.set_ylabel(_LABEL.format("sample").replace("containing", "containing\n"), fontsize=8)
    top.set_ylim(bottom=-0.05 * max(1, int(counts.max())))
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.imshow(
        counts[None, :],
        cmap="viridis",
        interpolation="nearest",
        aspect="auto",
        vmin=0,
        extent=(-0.5, n - 0.5, 0, 1),
    )
    bottom.set_yticks([])
    bottom.set_xlabel("input sample")
    if sample_rate is not None:  # the same axis in milliseconds, on top
        to_ms = 1000.0 / sample_rate
        axis = top.secondary_xaxis("top", functions=(lambda s: s * to_ms, lambda m: m / to_ms))
        axis.set_xlabel(f"time (ms at {sample_rate:g} Hz)", fontsize=8)
    fig.suptitle(_heading(cov, title), fontsize=10)
    return fig


def _slices_figure(cov: CoverageMap, title: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    counts = np.asarray(cov.counts)
    depth = counts.shape[0]
    chosen = sorted(set(np.linspace(0, depth - 1, min(depth, MAX_SLICES)).round().astype(int)))
    columns = min(4, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    fig = Figure(figsize=(2.6 * columns + 1.2, 2.5 * rows + 1.0), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    vmax = max(1, int(counts.max()))
    image = None
    for ax, d in zip(axes, chosen, strict=False):
        plane = counts[d]
        image = ax.imshow(plane, cmap="viridis", interpolation="nearest", vmin=0, vmax=vmax)
        ax.set_title(f"D={d}: {percent(float((plane > 0).mean()))} read", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(chosen) :]:
        ax.set_axis_off()
    if image is not None:
        colorbar = fig.colorbar(image, ax=list(axes), shrink=0.8)
        colorbar.set_label(_LABEL.format("voxel"))
        colorbar.locator = MaxNLocator(integer=True)
        colorbar.update_ticks()
    shown = "" if len(chosen) == depth else f" ({len(chosen)} of {depth} slices shown)"
    fig.suptitle(_heading(cov, title) + shown, fontsize=10)
    return fig


def coverage_png(cov: CoverageMap, title: str = "", sample_rate: float | None = None) -> bytes:
    """PNG bytes of the map in its rank's form (see the module docstring), with a title
    giving the share of the input read. ``sample_rate`` adds a time axis to a 1-D strip.

    >>> from stridescope.ir import GraphBuilder
    >>> from stridescope.analysis.coverage import coverage_map
    >>> b = GraphBuilder((1, 1, 8, 8), "nchw")
    >>> _ = b.conv(b.input, "c", out_channels=1, kernel=1, stride=2)
    >>> coverage_png(coverage_map(b.build()))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    rank = np.asarray(cov.counts).ndim
    if rank == 1:
        fig = _strip_figure(cov, title, sample_rate)
    elif rank == 3:
        fig = _slices_figure(cov, title)
    else:
        fig = _plane_figure(cov, title)
    if rank != 3:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_coverage_png(
    cov: CoverageMap, path: str | Path, title: str = "", sample_rate: float | None = None
) -> Path:
    """Write :func:`coverage_png` to ``path``; return the path."""
    path = Path(path)
    path.write_bytes(coverage_png(cov, title, sample_rate))
    return path
