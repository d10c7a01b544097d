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
    columns,
    footer_lines,
    table_cells,
    title_text,
    to_csv,
    to_markdown,
)
from stridescope.api import summary as summarize_target
from stridescope.cli._common import (
    InputOption,
    PartialOption,
    SampleRateOption,
    TargetArgument,
    check_choice,
    console,
    guarded,
    input_shapes,
)
from stridescope.errors import StridescopeError

__all__ = ["FORMATS", "register", "rich_table"]

FORMATS = ("table", "json", "csv", "markdown")
_RIGHT = {"params", "MACs", "memory", "RF", "jump", "RF ms", "jump ms", "reads"}

EPILOG = (
    "**Examples**\n\n"
    "* `stridescope summary examples/seed_cnn.toml` (a spec file)\n"
    "* `stridescope summary examples/seed_cnn_torch.py:build --input 1x3x32x32 --format json`\n"
    "* `stridescope summary examples/seed_cnn_keras.py:build --depth 1 --format markdown`\n"
    "* `stridescope summary examples/wav2vec2_encoder.py:build --input 1x1x16000 "
    "--sample-rate 16000` (receptive field and jump in ms)\n\n"
    "MACs: 1 multiply-add = 1 MAC; pooling counts one per window element, adds one per "
    "element; normalisation, activations and padding count 0."
)


_MIN_FLAGS_WIDTH = 20  # narrower than this (and than its widest cell), flags move below


def rich_table(summary: Summary, width: int | None = None) -> Table:
    """The summary as a rich table; the footer lines become its caption. When ``width`` (the
    console's) leaves the flags column fewer than 20 characters and less than its widest
    cell, the flags are listed under the table instead, so a narrow terminal never hides
    them."""
    rows = table_cells(summary)
    names = columns(summary)
    widths = [max([len(column), *(len(r[i]) for r in rows)]) for i, column in enumerate(names)]
    flags_at = names.index("flags")
    # each column before the flags costs its width + 1 of padding + 1 of separator
    fixed = sum(w + 2 for i, w in enumerate(widths) if i != flags_at)
    inline = width is None or width - fixed >= min(_MIN_FLAGS_WIDTH, widths[flags_at])
    below = [f"flag: {r[0]}: {r[flags_at]}" for r in rows if r[flags_at] and not inline]
    table = Table(
        title=title_text(summary),
        caption="\n".join([*below, *footer_lines(summary)]),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_edge=False,
    )
    for index, column in enumerate(names):
        if index == flags_at and not inline:
            continue
        wraps = index == flags_at
        table.add_column(
            column,
            justify="right" if column in _RIGHT else "left",
            no_wrap=not wraps,
            min_width=None if wraps else widths[index],
        )
    for cells in rows:
        table.add_row(*(c for i, c in enumerate(cells) if inline or i != flags_at))
    return table


def _run(
    target: str,
    input_shape: str | list[str] | None,
    depth: int | None,
    fmt: str,
    sample_rate: float | None = None,
    partial: bool = False,
) -> None:
    check_choice("--format", fmt, FORMATS)
    if depth is not None and depth < 1:
        raise StridescopeError(f"--depth must be a positive integer; received {depth}")
    result = summarize_target(target, input_shape, depth, sample_rate=sample_rate, partial=partial)
    if fmt == "json":
        console.print(result.to_json(), markup=False, highlight=False)
    elif fmt == "csv":
        console.print(to_csv(result), markup=False, highlight=False, end="")
    elif fmt == "markdown":
        console.print(to_markdown(result), markup=False, highlight=False, end="")
    else:
        console.print(rich_table(result, console.width))


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("summary", epilog=EPILOG)
    @guarded
    def summary_command(
        target: TargetArgument,
        input_shape: InputOption = None,
        depth: Annotated[
            int | None,
            typer.Option(help="Group layers by the first N components of their module path."),
        ] = None,
        fmt: Annotated[
            str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
        ] = "table",
        sample_rate: SampleRateOption = None,
        partial: PartialOption = False,
    ) -> None:
        """Summarise a model: shapes, params, MACs, memory, receptive field, what each
        layer reads, and which input positions (samples, pixels, voxels) can influence the
        output."""
        _run(target, input_shapes(input_shape), depth, fmt, sample_rate, partial)
