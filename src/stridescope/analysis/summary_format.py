"""Plain-text renderings of a :class:`Summary`: the cells of the table, CSV and Markdown.

The rich terminal table is assembled from :func:`table_cells` by the CLI; CSV carries raw
numbers (no separators, bytes as integers) so it loads into a spreadsheet as is. With a sample
rate (:meth:`Summary.at_sample_rate`) every rendering adds the receptive field and jump of the
time axis in milliseconds (:func:`columns`).
"""

from __future__ import annotations

import csv
import io
import math

from stridescope.analysis.formatting import axes_text, number_text, percent
from stridescope.analysis.lint import rule_named
from stridescope.analysis.summary import LayerRow, Summary
from stridescope.analysis.summary_rf import WHOLE
from stridescope.analysis.units import layout_text, milliseconds, ms_text, size_text

__all__ = [
    "COLUMNS",
    "columns",
    "footer_lines",
    "human_bytes",
    "table_cells",
    "title_text",
    "to_csv",
    "to_markdown",
]

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
_TIME_COLUMNS = ("RF ms", "jump ms")


# how the footer names activations of a size other than float32's
_VALUES = {1: "1 byte per value", 2: "2 bytes per value", 8: "float64"}


def _values(summary: Summary) -> str:
    """The values' size the footer names: the model's dtype, or how many rows of one layer
    hold values of another (an int64 index, a bool mask, an 8-bit quantized output), each
    counted at its own size."""
    size = summary.bytes_per_value
    named = _VALUES.get(size, "float32")
    single = [r for r in summary.layers if r.nodes == 1 and None not in r.output_shape]
    other = sum([r.activation_bytes != _elements(r) * size for r in single])
    if not other:
        return named
    return f"at its dtype's size: {other} of {len(single)} layers are not {named}"


def _elements(row: LayerRow) -> int:
    return math.prod([d for d in row.output_shape if d is not None])


def columns(summary: Summary) -> tuple[str, ...]:
    """The table's columns: :data:`COLUMNS`, with ``RF ms`` and ``jump ms`` after ``jump``
    when the summary has a sample rate."""
    if summary.sample_rate is None:
        return COLUMNS
    at = COLUMNS.index("jump") + 1
    return (*COLUMNS[:at], *_TIME_COLUMNS, *COLUMNS[at:])


def title_text(summary: Summary) -> str:
    """``source  input (1, 1, 16000) (ncl)``: the layout named for the input's rank (``nl``
    for a ``(batch, samples)`` input, which has no channel axis)."""
    layout = layout_text(summary.layout, len(summary.input_shape) - 2).lower()
    return f"{summary.source or 'model'}  input {summary.input_shape} ({layout})"


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


def _ms(values: tuple[float, ...] | None, rate: float) -> str:
    """The first axis's value in milliseconds; blank where there is none (no field, or one
    over no axes: a further input of lengths)."""
    return "" if not values else f"{milliseconds(values[0], rate):.4g}"


def _cells(row: LayerRow, rate: float | None = None) -> list[str]:
    rf = _RF_CELL.get(row.rf_note, row.rf_note) if row.rf_size is None else axes_text(row.rf_size)
    jump = "" if row.rf_jump is None else axes_text(row.rf_jump)
    times = [] if rate is None else [_ms(row.rf_size, rate), _ms(row.rf_jump, rate)]
    return [
        row.path,
        row.kind,
        size_text(row.output_shape),
        f"{row.params:,}",
        "?" if row.kind == "uncounted" else f"{row.macs:,}",  # unknown, never a silent 0
        human_bytes(row.activation_bytes),
        rf,
        jump,
        *times,
        "" if row.read_fraction is None else percent(row.read_fraction),
        ", ".join(row.flags),
    ]


def table_cells(summary: Summary) -> list[list[str]]:
    """One list of cells per row, in :func:`columns` order."""
    return [_cells(row, summary.sample_rate) for row in summary.layers]


def footer_lines(summary: Summary) -> list[str]:
    """Totals, input coverage and the lint findings by code, as sentences; with a sample
    rate, the receptive field and jump of the output in milliseconds.

    >>> from stridescope.ir import GraphBuilder
    >>> from stridescope.analysis.summary import summarize
    >>> b = GraphBuilder((1, 8, 8, 3), "nhwc")
    >>> _ = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
    >>> footer_lines(summarize(b.build()))[-2]
    'input coverage: 25% of the 8x8 input pixels can influence the output'
    >>> footer_lines(summarize(b.build()))[-1][:36]
    'lint: 1 DS101 skipped input, 1 DS202'
    >>> b = GraphBuilder((1, 1, 16000), "nchw")
    >>> _ = b.conv(b.input, "conv", out_channels=4, kernel=400, stride=320)
    >>> coverage, output = footer_lines(summarize(b.build()).at_sample_rate(16000))[-3:-1]
    >>> coverage[16:76]
    '98.5% of the 16000 input samples (1,000 ms at 16000 Hz) can '
    >>> output
    'output (conv): receptive field 400 samples = 25 ms, jump 320 samples = 20 ms'
    """
    t = summary.totals
    batch = summary.input_shape[0]
    lines = [
        f"total params: {t.params:,}",
        f"total MACs: {t.macs:,}",
        f"activation memory: {human_bytes(t.activation_bytes)} "
        f"(every layer's output, {_values(summary)}, batch {batch})",
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
            f"input coverage: {percent(summary.input_coverage)} of the {spatial} input "
            f"{summary.position_unit}{_duration(summary)} can influence the output"
        )
        lines.extend(_output_time(summary))
    if summary.lint:
        counts = ", ".join(f"{n} {code} {rule_named(code).name}" for code, n in summary.lint)
        lines.append(f"lint: {counts} (evidence and fixes: stridescope lint)")
    return lines


def _spatial(summary: Summary) -> str:
    return size_text(summary.spatial)


def _duration(summary: Summary) -> str:
    """`` (1,000 ms at 16000 Hz)``: the input's time axis, with a sample rate."""
    rate, spatial = summary.sample_rate, summary.spatial
    if rate is None or not spatial or spatial[0] is None:
        return ""
    return f" ({ms_text(milliseconds(spatial[0], rate))} at {rate:g} Hz)"


def _output_time(summary: Summary) -> list[str]:
    """With a sample rate: the last row with a receptive field, in samples (or frames) and
    milliseconds along the time axis; named the output's where it is the last row, else with
    what the output's field is (a transformer after a conv encoder: the whole input)."""
    rate = summary.sample_rate
    rows = [r for r in summary.layers if r.rf_size and r.rf_jump]  # (a field over no axes: not)
    if rate is None or not rows:
        return []
    row, last = rows[-1], summary.layers[-1]
    assert row.rf_size is not None and row.rf_jump is not None
    unit = summary.position_unit if len(summary.spatial) == 1 else "frames"
    size, jump = row.rf_size[0], row.rf_jump[0]
    field = (
        f"receptive field {size} {unit} = {ms_text(milliseconds(size, rate))}, "
        f"jump {number_text(jump)} {unit} = {ms_text(milliseconds(jump, rate))}"
    )
    if row is last:
        return [f"output ({row.path}): {field}"]
    seen, covered = last.rf_note, summary.input_coverage
    if seen == WHOLE and covered is not None and covered < 1:  # mixed, not all of it read
        seen = f"every position mixed, {percent(covered)} of the input read"
    return [f"last finite field ({row.path}): {field}; output ({last.path}): {seen}"]


def to_csv(summary: Summary) -> str:
    """CSV with raw numbers: one line per row, RF and jump as ``8x8`` (with a sample rate,
    ``rf_ms`` and ``jump_ms`` of the time axis after them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rate = summary.sample_rate
    head = ["layer", "kind", "output_shape", "params", "macs", "activation_bytes", "rf_size"]
    times = [] if rate is None else ["rf_ms", "jump_ms"]
    writer.writerow([*head, "rf_jump", *times, "read_fraction", "flags"])
    for row in summary.layers:
        ms = [] if rate is None else [_ms(row.rf_size, rate), _ms(row.rf_jump, rate)]
        writer.writerow(
            [
                row.path,
                row.kind,
                size_text(row.output_shape),
                row.params,
                "" if row.kind == "uncounted" else row.macs,
                row.activation_bytes,
                row.rf_note if row.rf_size is None else axes_text(row.rf_size),
                "" if row.rf_jump is None else "x".join(f"{j:.6g}" for j in row.rf_jump),
                *ms,
                "" if row.read_fraction is None else f"{row.read_fraction:.6g}",
                ", ".join(row.flags),
            ]
        )
    return out.getvalue()


def to_markdown(summary: Summary) -> str:
    """A GitHub Markdown table followed by the footer lines."""
    names = columns(summary)
    lines = [
        "| " + " | ".join(names) + " |",
        "|" + "|".join("---:" if c in ("params", "MACs", "memory") else "---" for c in names) + "|",
    ]
    for cells in table_cells(summary):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    lines.extend(f"- {line}" for line in footer_lines(summary))
    return "\n".join(lines) + "\n"
