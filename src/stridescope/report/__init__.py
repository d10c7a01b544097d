"""Reports of a training study: one self-contained HTML file and a Markdown file with PNGs.

Reads plain records (:class:`stridescope.analysis.stats.StudySummary`,
:class:`stridescope.records.RunResult`, read grids as nested lists of bools); never imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stridescope.analysis.stats import StudySummary
from stridescope.records import RunResult, op_label
from stridescope.report.html import render_html
from stridescope.report.markdown import render_markdown
from stridescope.report.plots import accuracy_vs_macs_png, consistency_png, read_grid_png

__all__ = ["DEFAULT_TITLE", "ReportPaths", "write_report"]

DEFAULT_TITLE = "stridescope: downsampling operators, trained and measured"


@dataclass(frozen=True)
class ReportPaths:
    """Where the report went: the HTML page, the Markdown file and its PNG files."""

    html: Path
    markdown: Path
    images: tuple[Path, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "html": str(self.html),
            "markdown": str(self.markdown),
            "images": [str(p) for p in self.images],
        }


def _safe(name: str) -> str:
    """A file-name-safe form of an operator name.

    >>> _safe("blur/pool 1x1")
    'blur-pool-1x1'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "op"


def write_report(
    out_dir: Path,
    summary: StudySummary,
    runs: Sequence[RunResult],
    read_grids: Mapping[str, Sequence[Sequence[bool]]] | None = None,
    title: str = DEFAULT_TITLE,
) -> ReportPaths:
    """Write ``out_dir/report.html`` (self-contained) and ``out_dir/report.md`` + its PNGs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "accuracy vs MACs": ("report-accuracy-vs-macs.png", accuracy_vs_macs_png(summary)),
        "consistency per operator": ("report-consistency.png", consistency_png(summary)),
    }
    grids = {
        op: (f"report-read-{_safe(op)}.png", read_grid_png(grid, op_label(op)))
        for op, grid in (read_grids or {}).items()
    }
    images = []
    for name, png in (*plots.values(), *grids.values()):
        path = out_dir / name
        path.write_bytes(png)
        images.append(path)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    for path, render in ((html_path, render_html), (md_path, render_markdown)):
        path.write_text(render(summary, runs, plots, grids, title), encoding="utf-8")
    return ReportPaths(html_path, md_path, tuple(images))
