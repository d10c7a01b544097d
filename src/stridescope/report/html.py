"""The study report as ONE self-contained HTML file: inline CSS, a few lines of inline script
(sortable tables), plots embedded as base64 PNG data URIs. It works offline and loads nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from html import escape

from stridescope.analysis.stats import StudySummary
from stridescope.records import RunResult
from stridescope.report.tables import (
    COMPARISON_COLUMNS,
    RUN_COLUMNS,
    SUMMARY_COLUMNS,
    common_config,
    comparison_rows,
    named_columns,
    no_comparison_reason,
    run_counts,
    run_rows,
    summary_rows,
)

__all__ = ["READY_ATTRIBUTE", "render_html"]

READY_ATTRIBUTE = "data-report-ready"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem 2rem;
       color: #1b1b1b; background: #fff; max-width: 1400px; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #eef2f7; cursor: pointer; user-select: none; }
tr:nth-child(even) td { background: #f8f9fb; }
td.sig { color: #0a6b2a; font-weight: 600; } td.nsig { color: #777; }
.plots img { max-width: 100%; border: 1px solid #e0e0e0; margin: 0.3rem 0.6rem 0.3rem 0; }
.grids { display: flex; flex-wrap: wrap; gap: 0.6rem; }
.grids figure { margin: 0; } .grids img { width: 160px; border: 1px solid #e0e0e0; }
pre { background: #f4f4f4; padding: 0.6rem; font-size: 0.8rem; overflow-x: auto; }
.scroll { overflow-x: auto; }
.failed td { background: #fff1f0 !important; }
"""

# Click a header to sort its table; numbers sort as numbers. Marks the page ready at the end.
_SCRIPT = """
(function () {
  function key(cell) {
    var text = cell.textContent.trim();
    var num = parseFloat(text.replace(/[^0-9eE+.\\-]/g, ""));
    return isNaN(num) ? text.toLowerCase() : num;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
        th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x > y ? 1 : x < y ? -1 : 0) * dir;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.body.setAttribute("READY", "1");
})();
""".replace("READY", READY_ATTRIBUTE)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], classes: str = "") -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for value in row:
            css = " class='nsig'" if "not significant" in value else ""
            if not css and value.endswith(" significant"):
                css = " class='sig'"
            cells.append(f"<td{css}>{escape(value)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table class='sortable {classes}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _comparison_section(summary: StudySummary) -> str:
    rows = comparison_rows(summary)
    head = f"<h2>Paired comparison with {escape(summary.baseline)}</h2>"
    if not rows:
        return f"{head}<p>{escape(no_comparison_reason(summary))}</p>"
    note = (
        f"<p>Difference = {summary.varied} − baseline, per seed (same data split and initial seed), "
        "then mean and Student-t interval over seeds. <em>not significant</em>: the interval "
        "contains 0.</p>"
    )
    return head + note + _table(named_columns(COMPARISON_COLUMNS, summary), rows)


def _config_section(runs: Sequence[RunResult]) -> str:
    shared, varying = common_config(runs)
    parts = ["<h2>Study config</h2>"]
    parts.append("<p>Shared by every run:</p>")
    parts.append(f"<pre>{escape(json.dumps(shared, indent=2, sort_keys=True))}</pre>")
    if varying:
        rows = [(k, ", ".join(v)) for k, v in varying.items()]
        parts.append("<p>Varied across runs:</p>")
        parts.append(_table(("config key", "values"), rows))
    return "".join(parts)


def _failures_section(summary: StudySummary) -> str:
    if not summary.failures:
        return "<h2>Failed runs</h2><p>None.</p>"
    rows = [(f.op, f.arch, f.dataset, str(f.seed), f.key, f.error) for f in summary.failures]
    columns = ("op", "arch", "dataset", "seed", "key", "reason")
    return f"<h2>Failed runs ({len(rows)})</h2>" + _table(columns, rows, "failed")


def render_html(
    summary: StudySummary,
    runs: Sequence[RunResult],
    plots: Mapping[str, tuple[str, bytes]],
    grids: Mapping[str, tuple[str, bytes]],
    title: str,
) -> str:
    """The whole page. ``plots`` maps a caption, ``grids`` an op, to ``(file name, PNG bytes)``;
    the page embeds the bytes (the file names are for the Markdown report)."""
    counts = (
        f"{run_counts(summary)}. "
        f"Baseline: {summary.baseline}. Intervals: {summary.confidence:.0%} Student-t; "
        f"differences paired by seed."
    )
    plot_html = "".join(
        f"<img alt='{escape(caption)}' title='{escape(caption)}' src='{_data_uri(png)}'>"
        for caption, (_, png) in plots.items()
    )
    grid_html = "".join(
        f"<figure><img alt='read grid of {escape(op)}' src='{_data_uri(png)}'>"
        f"<figcaption>{escape(op)}</figcaption></figure>"
        for op, (_, png) in grids.items()
    )
    grids_section = (
        "<h2>Which input pixels each operator reads</h2>"
        "<p>Dark: read by some output; light: never read.</p>"
        f"<div class='grids'>{grid_html}</div>"
        if grids
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="sub">{escape(counts)}</p>
<h2>Per {summary.varied}</h2>
{_table(named_columns(SUMMARY_COLUMNS, summary), summary_rows(summary))}
{_comparison_section(summary)}
<h2>Plots</h2>
<div class="plots">{plot_html}</div>
{grids_section}
{_config_section(runs)}
{_failures_section(summary)}
<h2>All runs</h2>
<div class="scroll">{_table(RUN_COLUMNS, run_rows(runs))}</div>
<script>{_SCRIPT}</script>
</body>
</html>
"""
