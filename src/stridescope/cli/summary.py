"""`stridescope summary TARGET [--input SHAPE] [--depth N] [--format table|json|csv|markdown]`:
per layer output shape, params, MACs, activation memory, cumulative receptive field (size and
jump), the share of its own input the layer reads, and flags; totals and input coverage."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from stridescope.analysis.summary import Summary
from stridescope.analysis.summary_format import (
    COLUMNS,
    footer_lines,
    table_cells,
    to_csv,
    to_markdown,
)
from stridescope.api import summary as summarize_target
from stridescope.cli._common import console, guarded
from stridescope.errors import StridescopeError

__all__ = ["FORMATS", "register", "rich_table"]

FORMATS = ("table", "json", "csv", "markdown")
_RIGHT = {"params", "MACs", "memory", "RF", "jump", "reads"}

TARGET_HELP = (
    "FILE.py:FACTORY, package.module:ATTR (a model, or a function returning one), "
    "FILE.keras (loaded with safe_mode=True) or FILE.toml (a spec file)."
)
INPUT_HELP = (
    "Input shape, batch first: 1x3x32x32 (PyTorch, NCHW) or 1x32x32x3 (Keras, NHWC). "
    "Required for PyTorch models; overrides a spec's or Keras model's own."
)


def rich_table(summary: Summary) -> Table:
    """The summary as a rich table; the footer lines become its caption."""
    table = Table(
        title=f"{summary.source or 'model'}  input {summary.input_shape} ({summary.layout})",
        caption="\n".join(footer_lines(summary)),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_edge=False,
    )
    rows = table_cells(summary)
    for index, column in enumerate(COLUMNS):
        wraps = column == "flags"
        table.add_column(
            column,
            justify="right" if column in _RIGHT else "left",
            no_wrap=not wraps,
            min_width=None if wraps else max([len(column), *(len(r[index]) for r in rows)]),
        )
    for cells in rows:
        table.add_row(*cells)
    return table


def _run(target: str, input_shape: str | None, depth: int | None, fmt: str) -> None:
    if fmt not in FORMATS:
        raise StridescopeError(f"--format {fmt!r} is not known; allowed: {', '.join(FORMATS)}")
    if depth is not None and depth < 1:
        raise StridescopeError(f"--depth must be a positive integer; received {depth}")
    result = summarize_target(target, input_shape, depth)
    if fmt == "json":
        console.print(result.to_json(), markup=False, highlight=False)
    elif fmt == "csv":
        console.print(to_csv(result), markup=False, highlight=False, end="")
    elif fmt == "markdown":
        console.print(to_markdown(result), markup=False, highlight=False, end="")
    else:
        console.print(rich_table(result))


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("summary")
    @guarded
    def summary_command(
        target: Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False)],
        input_shape: Annotated[
            str | None, typer.Option("--input", "-i", help=INPUT_HELP, show_default=False)
        ] = None,
        depth: Annotated[
            int | None,
            typer.Option(help="Group layers by the first N components of their module path."),
        ] = None,
        fmt: Annotated[
            str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
        ] = "table",
    ) -> None:
        """Summarise a model: shapes, params, MACs, memory, receptive field, what each
        layer reads, and which input pixels can influence the output."""
        _run(target, input_shape, depth, fmt)
