"""`stridescope results OUT`: read a study's results store and show it as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stridescope.cli._common import console, guarded

if TYPE_CHECKING:
    from stridescope.analysis.stats import StudySummary
    from stridescope.records import RunResult

__all__ = ["register", "render_summary", "results"]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _rich_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from rich.table import Table
    from rich.text import Text

    settings = {row[1] for row in rows}
    if len(settings) == 1 and columns[1] == "setting":  # one setting: say it once, in the title
        title = f"{title} — {settings.pop()}"
        columns = (columns[0], *columns[2:])
        rows = [(row[0], *row[2:]) for row in rows]

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        styled = [Text(c, style=_style(c)) for c in row]
        table.add_row(*styled)
    console.print(table)


def _style(cell: str) -> str:
    """Dim for a difference that is not significant, green for one that is."""
    if "not significant" in cell:
        return "dim"
    return "green" if cell.endswith(" significant") else ""


def render_summary(summary: StudySummary) -> None:
    """Print the per-operator table with CIs, the paired comparison and the failures."""
    from stridescope.report.tables import (
        COMPARISON_COLUMNS,
        SUMMARY_COLUMNS,
        comparison_rows,
        named_columns,
        no_comparison_reason,
        run_counts,
        summary_rows,
    )

    _rich_table(
        f"Per {summary.varied} ({summary.confidence:.0%} Student-t intervals)",
        named_columns(SUMMARY_COLUMNS, summary),
        summary_rows(summary),
    )
    comparison = comparison_rows(summary)
    if comparison:
        _rich_table(
            f"Paired by seed: {summary.varied} − {summary.baseline}",
            named_columns(COMPARISON_COLUMNS, summary),
            comparison,
        )
    else:
        console.print(no_comparison_reason(summary), markup=False)
    for failure in summary.failures:
        console.print(
            f"failed: {failure.op} seed {failure.seed} ({failure.key}): {failure.error}",
            markup=False,
        )
    console.print(run_counts(summary), markup=False)


def _store_path(out: Path) -> Path:
    from stridescope.errors import StridescopeError
    from stridescope.study.store import RESULTS_FILE

    if out.is_file():
        return out
    if not out.exists():
        raise StridescopeError(f"no such folder {str(out)!r}; give the OUT folder of a study")
    path = out / RESULTS_FILE
    if not path.is_file():
        raise StridescopeError(
            f"no {RESULTS_FILE} in {str(out)!r}; give the OUT folder of a `stridescope study`"
        )
    return path


def _baseline(runs: list[RunResult], wanted: str | None) -> str:
    from stridescope.errors import StridescopeError

    ops = list(dict.fromkeys(run.op for run in runs))
    if wanted is None:
        # as the study chose it: conv1x1_s2, or original for a study of your own model
        return next(
            (b for b in ("conv1x1_s2", "original") if b in ops), ops[0] if ops else "conv1x1_s2"
        )
    if wanted not in ops:
        raise StridescopeError(
            f"--baseline {wanted!r} is not an operator of this study; its operators: "
            + ", ".join(ops)
        )
    return wanted


def _csv(runs: list[RunResult]) -> str:
    from stridescope.report.tables import RUN_COLUMNS

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*RUN_COLUMNS, "config"))
    for run in runs:
        values = run.to_dict()
        cells = ["" if values[c] is None else values[c] for c in RUN_COLUMNS]
        writer.writerow((*cells, json.dumps(run.config, sort_keys=True)))
    return buffer.getvalue()


@guarded
def results(
    out: Annotated[Path, typer.Argument(help="A study's OUT folder (or its results.sqlite).")],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table: summary; csv/json: one row per run.")
    ] = Format.table,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Operator the others are compared with, paired by seed "
            "(default: conv1x1_s2 or original where the study has it, else its first operator)."
        ),
    ] = None,
) -> None:
    """Show a study's results: per-operator means with CIs and the paired comparison."""
    from stridescope.study.store import ResultStore

    with ResultStore(_store_path(out), create=False) as store:
        runs = store.runs()
    if format is Format.json:
        typer.echo(json.dumps([run.to_dict() for run in runs], indent=2))
    elif format is Format.csv:
        typer.echo(_csv(runs), nl=False)
    else:
        from stridescope.analysis.stats import summarize_study

        render_summary(summarize_study(runs, baseline=_baseline(runs, baseline)))


EPILOG = """**Examples**


`stridescope results study-out` — the per-operator table with CIs and the paired comparison


`stridescope results study-out --baseline maxpool_conv1x1` — compare with another operator


`stridescope results study-out --format csv > runs.csv` — one row per run (also `--format json`)
"""


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("results", epilog=EPILOG)(results)
