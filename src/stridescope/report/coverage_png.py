"""A coverage map as a PNG heatmap: per input pixel, how many receptive-field windows of the
last spatial layer contain it (0 = the pixel can never influence the output).

matplotlib (Agg) is imported lazily; nothing here imports torch.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from stridescope.analysis.coverage import CoverageMap

__all__ = ["coverage_png", "write_coverage_png"]


def _plane(cov: CoverageMap) -> np.ndarray:
    counts = np.asarray(cov.counts)
    if counts.ndim == 1:
        return counts[None, :]
    while counts.ndim > 2:  # 3-D inputs: the middle slice along the leading axes
        counts = counts[counts.shape[0] // 2]
    return counts


def coverage_png(cov: CoverageMap, title: str = "") -> bytes:
    """PNG bytes of the heatmap, with axes in input pixels, a colour bar and a title giving the
    share of input pixels read.

    >>> from stridescope.ir import GraphBuilder
    >>> from stridescope.analysis.coverage import coverage_map
    >>> b = GraphBuilder((1, 1, 8, 8), "nchw")
    >>> _ = b.conv(b.input, "c", out_channels=1, kernel=1, stride=2)
    >>> coverage_png(coverage_map(b.build()))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    plane = _plane(cov)
    height, width = plane.shape
    aspect = height / max(width, 1)
    fig = Figure(figsize=(6.4, max(2.0, min(6.4, 5.4 * aspect + 1.0))), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(
        plane, cmap="viridis", interpolation="nearest", origin="upper", vmin=0, aspect="equal"
    )
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label("output windows containing the pixel")
    colorbar.locator = MaxNLocator(integer=True)
    colorbar.update_ticks()
    ax.set_xlabel("input column (pixel)")
    ax.set_ylabel("input row (pixel)" if height > 1 else "")
    unread = int((plane == 0).sum())
    heading = title or "input coverage"
    ax.set_title(
        f"{heading}\n{cov.fraction:.1%} of {'x'.join(map(str, cov.input_spatial))} input pixels "
        f"influence {cov.output_node or 'the output'}; {unread} never read",
        fontsize=10,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_coverage_png(cov: CoverageMap, path: str | Path, title: str = "") -> Path:
    """Write :func:`coverage_png` to ``path``; return the path."""
    path = Path(path)
    path.write_bytes(coverage_png(cov, title))
    return path
