"""Plain-text renderings of a :class:`Summary`: the cells of the table, CSV and Markdown.

The rich terminal table is assembled from :func:`table_cells` by the CLI; CSV carries raw
numbers (no separators, bytes as integers) so it loads into a spreadsheet as is.
"""

from __future__ import annotations

import csv
import io

from stridescope.analysis.formatting import percent
from stridescope.analysis.lint import rule_named
from stridescope.analysis.summary import LayerRow, Summary

__all__ = ["COLUMNS", "footer_lines", "human_bytes", "table_cells", "to_csv", "to_markdown"]

COLUMNS = (
    "layer",
    "kind",
    "output shape",
    "params",
    "MACs",
    "memory",
    "RF",
    "jump",
    "reads",
    "flags",
)


_RF_CELL = {"whole input": "whole"}


def human_bytes(n: int) -> str:
    """Bytes in binary units.

    >>> human_bytes(512), human_bytes(115200), human_bytes(3 * 2**20)
    ('512 B', '112.5 KiB', '3.0 MiB')
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _axes(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def _shape(shape: tuple[int | None, ...]) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def _cells(row: LayerRow) -> list[str]:
    rf = _RF_CELL.get(row.rf_note, row.rf_note) if row.rf_size is None else _axes(row.rf_size)
    jump = "" if row.rf_jump is None else _axes(row.rf_jump)
    return [
        row.path,
        row.kind,
        _shape(row.output_shape),
        f"{row.params:,}",
        "?" if row.kind == "uncounted" else f"{row.macs:,}",  # unknown, never a silent 0
        human_bytes(row.activation_bytes),
        rf,
        jump,
        "" if row.read_fraction is None else percent(row.read_fraction),
        ", ".join(row.flags),
    ]


def table_cells(summary: Summary) -> list[list[str]]:
    """One list of cells per row, in :data:`COLUMNS` order."""
    return [_cells(row) for row in summary.layers]


def footer_lines(summary: Summary) -> list[str]:
    """Totals, input coverage and the lint findings by code, as sentences.

    >>> from stridescope.ir import GraphBuilder
    >>> from stridescope.analysis.summary import summarize
    >>> b = GraphBuilder((1, 8, 8, 3), "nhwc")
    >>> _ = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
    >>> footer_lines(summarize(b.build()))[-2]
    'input coverage: 25% of the 8x8 input pixels can influence the output'
    >>> footer_lines(summarize(b.build()))[-1][:36]
    'lint: 1 DS101 skipped input, 1 DS202'
    """
    t = summary.totals
    batch = summary.input_shape[0]
    lines = [
        f"total params: {t.params:,}",
        f"total MACs: {t.macs:,}",
        f"activation memory: {human_bytes(t.activation_bytes)} "
        f"(every layer's output, float32, batch {batch})",
    ]
    if t.uncounted:
        lines.append(f"uncounted (MACs unknown): {', '.join(t.uncounted)}")
    lines.extend(f"note: {note}" for note in summary.notes)  # unused parameters, inputs
    spatial = _spatial(summary)
    if summary.input_coverage is None:
        lines.append(
            "input coverage: unknown (no spatial input, unknown geometry, or too large to compute)"
        )
    else:
        lines.append(
            f"input coverage: {percent(summary.input_coverage)} of the {spatial} input pixels "
            "can influence the output"
        )
    if summary.lint:
        counts = ", ".join(f"{n} {code} {rule_named(code).name}" for code, n in summary.lint)
        lines.append(f"lint: {counts} (evidence and fixes: stridescope lint)")
    return lines


def _spatial(summary: Summary) -> str:
    shape = summary.input_shape
    spatial = shape[1:-1] if summary.layout == "nhwc" else shape[2:]
    return "x".join("?" if d is None else str(d) for d in spatial)


def to_csv(summary: Summary) -> str:
    """CSV with raw numbers: one line per row, RF and jump as ``8x8``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "layer",
            "kind",
            "output_shape",
            "params",
            "macs",
            "activation_bytes",
            "rf_size",
            "rf_jump",
            "read_fraction",
            "flags",
        ]
    )
    for row in summary.layers:
        writer.writerow(
            [
                row.path,
                row.kind,
                "x".join("?" if d is None else str(d) for d in row.output_shape),
                row.params,
                "" if row.kind == "uncounted" else row.macs,
                row.activation_bytes,
                row.rf_note if row.rf_size is None else _axes(row.rf_size),
                "" if row.rf_jump is None else _axes(row.rf_jump),
                "" if row.read_fraction is None else f"{row.read_fraction:.6g}",
                ", ".join(row.flags),
            ]
        )
    return out.getvalue()


def to_markdown(summary: Summary) -> str:
    """A GitHub Markdown table followed by the footer lines."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|"
        + "|".join("---:" if c in ("params", "MACs", "memory") else "---" for c in COLUMNS)
        + "|",
    ]
    for cells in table_cells(summary):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    lines.extend(f"- {line}" for line in footer_lines(summary))
    return "\n".join(lines) + "\n"
