"""The study report as Markdown, with the plots as sibling PNG files referenced by name."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from stridescope.analysis.stats import StudySummary
from stridescope.records import RunResult
from stridescope.report.tables import (
    COMPARISON_COLUMNS,
    SUMMARY_COLUMNS,
    common_config,
    comparison_rows,
    named_columns,
    no_comparison_reason,
    run_counts,
    summary_rows,
)

__all__ = ["markdown_table", "render_markdown"]


def _text(text: str) -> str:
    """Text with HTML special characters escaped and on one line."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; ``|`` and HTML in cells are escaped.

    >>> print(markdown_table(("a", "b"), [("1", "x|<y>")]))
    | a | b |
    |---|---|
    | 1 | x\\|&lt;y&gt; |
    """

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_text(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(columns), "|" + "---|" * len(columns), *(line(r) for r in rows)])


def render_markdown(
    summary: StudySummary,
    runs: Sequence[RunResult],
    plot_files: Mapping[str, tuple[str, bytes]],
    grid_files: Mapping[str, tuple[str, bytes]],
    title: str,
) -> str:
    """The report text. ``plot_files``/``grid_files`` map a caption / op to ``(file name, PNG)``;
    the text links the files by relative name (``write_report`` writes them next to it)."""
    out = [
        f"# {_text(title)}",
        "",
        f"{run_counts(summary)}. "
        f"Baseline: `{summary.baseline}`. Intervals: {summary.confidence:.0%} Student-t; "
        "differences paired by seed.",
        "",
        f"## Per {summary.varied}",
        "",
        markdown_table(named_columns(SUMMARY_COLUMNS, summary), summary_rows(summary)),
        "",
        f"## Paired comparison with {summary.baseline}",
        "",
        f"Difference = {summary.varied} − baseline per seed; *not significant*: the interval contains 0.",
        "",
    ]
    comparison = comparison_rows(summary)
    out.append(
        markdown_table(named_columns(COMPARISON_COLUMNS, summary), comparison)
        if comparison
        else no_comparison_reason(summary)
    )
    out += ["", "## Plots", ""]
    out += [f"![{_text(caption)}]({name})" for caption, (name, _) in plot_files.items()]
    if grid_files:
        out += ["", "## Which input pixels each operator reads", ""]
        out += [f"![read grid of {_text(op)}]({name})" for op, (name, _) in grid_files.items()]
    shared, varying = common_config(runs)
    out += ["", "## Study config", "", "```json", json.dumps(shared, indent=2, sort_keys=True)]
    out += ["```"]
    if varying:
        out += [
            "",
            markdown_table(
                ("config key", "values"), [(k, ", ".join(v)) for k, v in varying.items()]
            ),
        ]
    out += ["", f"## Failed runs ({len(summary.failures)})", ""]
    if summary.failures:
        columns = ("op", "arch", "dataset", "seed", "key", "reason")
        rows = [(f.op, f.arch, f.dataset, str(f.seed), f.key, f.error) for f in summary.failures]
        out.append(markdown_table(columns, rows))
    else:
        out.append("None.")
    return "\n".join(out) + "\n"
