"""`stridescope compare --input 3x224x224 --out-channels 64 [--ops a,b] [--device cpu|cuda]
[--format table|json|csv] [--plot DIR]`: every downsampling operator side by side."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from stridescope.cli._common import console, err_console, guarded
from stridescope.errors import StridescopeError

if TYPE_CHECKING:
    from stridescope.analysis.compare import CompareOptions, Comparison

__all__ = ["parse_chw", "register"]

FORMATS = ("table", "json", "csv")
_COLUMNS = (
    "name",
    "output_shape",
    "params",
    "macs",
    "read_fraction",
    "recoverable",
    "aliasing",
    "shift_circular",
    "shift_crop",
    "shift_one_pixel",
    "forward_ms",
    "forward_backward_ms",
)


def parse_chw(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` (channels, height, width; no batch) to a tuple.

    >>> parse_chw("3x64x64")
    (3, 64, 64)
    """
    parts = [p.strip() for p in re.split(r"[xX,]", text.strip())]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise StridescopeError(
            f"--input must be C x H x W, three positive sizes such as 3x224x224; received {text!r}"
        )
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _rows(comparison: Comparison) -> list[dict[str, object]]:
    rows = []
    for r in comparison.results:
        rows.append(
            {
                "name": r.name,
                "output_shape": "x".join(map(str, r.output_shape)),
                "params": r.params,
                "macs": r.macs,
                "read_fraction": round(r.read_fraction, 4),
                "recoverable": round(r.recoverable, 4),
                "aliasing": round(r.aliasing, 4),
                "shift_circular": round(r.shift_error.circular, 4),
                "shift_crop": round(r.shift_error.crop, 4),
                "shift_one_pixel": round(r.shift_error.one_pixel, 4),
                "forward_ms": round(r.latency.forward.median_ms, 4),
                "forward_backward_ms": round(r.latency.forward_backward.median_ms, 4),
            }
        )
    return rows


def _table(comparison: Comparison) -> None:
    from rich.table import Table

    c, h, w = comparison.input_shape
    table = Table(
        title=f"{c}x{h}x{w} -> {comparison.out_channels} channels, {comparison.device}, "
        f"seed {comparison.seed}",
        title_justify="left",
    )
    heads = (
        "operator",
        "output",
        "params",
        "MACs",
        "read",
        "recov.",
        "aliasing",
        "shift circ",
        "shift crop",
        "shift 1px",
        "fwd ms",
        "fwd+bwd ms",
    )
    rows = [
        (
            r.name,
            "x".join(map(str, r.output_shape)),
            f"{r.params:,}",
            f"{r.macs:,}",
            f"{r.read_fraction:.0%}",
            f"{r.recoverable:.2f}",
            f"{r.aliasing:.4f}",
            f"{r.shift_error.circular:.3f}",
            f"{r.shift_error.crop:.3f}",
            f"{r.shift_error.one_pixel:.3f}",
            f"{r.latency.forward.median_ms:.3f}",
            f"{r.latency.forward_backward.median_ms:.3f}",
        )
        for r in comparison.results
    ]
    for index, head in enumerate(heads):
        width = max(len(head), *(len(row[index]) for row in rows))
        justify: Literal["left", "right"] = "left" if index < 2 else "right"
        table.add_column(head, justify=justify, no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    console.print(table)  # min widths: never truncated; a narrow terminal scrolls


def _csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_rows(comparison))
    return buffer.getvalue()


def _measure(
    shape: tuple[int, int, int],
    out_channels: int,
    names: list[str] | None,
    device: str,
    seed: int,
    options: CompareOptions,
) -> Comparison:
    from rich.progress import Progress

    from stridescope.analysis.compare import compare

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("measuring", total=len(names) if names else None)

        def advance(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"measured {name}")

        return compare(
            shape, out_channels, names, device=device, seed=seed, options=options, progress=advance
        )


def _run(
    input_shape: str,
    out_channels: int,
    ops: str | None,
    device: str,
    fmt: str,
    plot: Path | None,
    seed: int,
    options: CompareOptions,
) -> None:
    if fmt not in FORMATS:
        raise StridescopeError(f"--format {fmt!r} is not known; allowed: {', '.join(FORMATS)}")
    if out_channels < 1:
        raise StridescopeError(f"--out-channels must be positive; received {out_channels}")
    if options.latency_min_time <= 0:
        raise StridescopeError(
            f"--latency-time must be positive; received {options.latency_min_time}"
        )
    shape = parse_chw(input_shape)
    names = None if ops is None else [n.strip() for n in ops.split(",") if n.strip()]
    comparison = _measure(shape, out_channels, names, device, seed, options)
    if fmt == "json":
        console.print(json.dumps(comparison.to_dict()), markup=False, highlight=False)
    elif fmt == "csv":
        console.print(_csv(comparison), end="", markup=False, highlight=False)
    else:
        _table(comparison)
    if plot is not None:
        from stridescope.report.compare_plots import write_compare_plots

        try:
            paths = write_compare_plots(comparison.to_dict(), plot)
        except OSError as error:
            raise StridescopeError(f"cannot write plots to {str(plot)!r}: {error}") from None
        for path in paths:
            err_console.print(f"wrote {path}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("compare")
    @guarded
    def compare_command(
        input_shape: Annotated[
            str, typer.Option("--input", "-i", help="Input C x H x W, e.g. 3x224x224.")
        ] = "3x64x64",
        out_channels: Annotated[
            int, typer.Option("--out-channels", "-c", help="Output channels of every operator.")
        ] = 16,
        ops: Annotated[
            str | None,
            typer.Option(help="Comma-separated operator names (default: all).", show_default=False),
        ] = None,
        device: Annotated[str, typer.Option(help="cpu or cuda (latency only).")] = "cpu",
        fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
        plot: Annotated[
            Path | None,
            typer.Option(help="Write frequency_response.png and read_grids.png here."),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
        latency_time: Annotated[
            float, typer.Option(help="Seconds of timing per operator and pass.")
        ] = 0.05,
        images: Annotated[
            int, typer.Option(help="Bundled photos for aliasing and shift errors (1-8).")
        ] = 4,
    ) -> None:
        """Every downsampling operator side by side: cost, pixels read, recoverable
        information, aliasing, shift errors and latency."""
        from stridescope.analysis.compare import CompareOptions

        options = CompareOptions(images=images, latency_min_time=latency_time)
        _run(input_shape, out_channels, ops, device, fmt, plot, seed, options)
