"""`stridescope coverage TARGET [--input SHAPE] [--png FILE] [--format text|json]`: which
network-input pixels can influence any output, computed exactly from geometry (union across
branches), and per pixel how many receptive-field windows of the last spatial layer contain it
(so checkerboards show)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stridescope.api import coverage as coverage_of
from stridescope.cli._common import (
    InputOption,
    TargetArgument,
    check_choice,
    console,
    guarded,
    input_shapes,
)
from stridescope.errors import StridescopeError

if TYPE_CHECKING:
    from stridescope.analysis.coverage import CoverageMap

__all__ = ["corner_text", "register"]

FORMATS = ("text", "json")
EPILOG = (
    "**Examples**\n\n"
    "* `stridescope coverage examples/conv1x1_s2.toml` (a 1x1 stride-2 conv reads 25%)\n"
    "* `stridescope coverage examples/seed_cnn_torch.py:build --input 1x3x32x32 --png cov.png`\n"
    "* `stridescope coverage examples/seed_cnn.toml --format json`\n\n"
    "The map is exact, from geometry: zero padding reads no pixel; reflect, replicate and "
    "circular padding read the pixels they copy."
)
_CORNER = 16


def corner_text(cov: CoverageMap, size: int = _CORNER) -> list[str]:
    """The top-left ``size x size`` counts as text rows; ``.`` marks a pixel never read."""
    counts = cov.counts
    while counts.ndim > 2:
        counts = counts[0]
    if counts.ndim == 1:
        counts = counts[None, :]
    corner = counts[:size, :size]
    width = max(1, len(str(int(corner.max()))) if corner.size else 1)
    return [
        " ".join("." * width if v == 0 else f"{int(v):>{width}}" for v in row) for row in corner
    ]


def _text(cov: CoverageMap, target: str) -> list[str]:
    counts = cov.counts
    read = counts[counts > 0]
    size = "x".join(map(str, cov.input_spatial))
    lines = [
        f"{target}: {cov.fraction:.1%} of the {size} input pixels can influence the output "
        f"({int((counts == 0).sum())} never read)",
        f"windows per pixel (outputs of {cov.output_node}, "
        f"{'x'.join(map(str, cov.output_spatial))}): "
        + (f"min {int(read.min())}, max {int(read.max())}" if read.size else "none"),
        f"top-left {min(_CORNER, counts.shape[0])} rows ('.' = never read):",
        *corner_text(cov),
    ]
    lines.extend(f"note: {note}" for note in cov.notes)
    return lines


def _run(target: str, input_shape: str | list[str] | None, png: Path | None, fmt: str) -> None:
    check_choice("--format", fmt, FORMATS)
    if png is not None and png.suffix.lower() != ".png":
        raise StridescopeError(f"--png must name a .png file; received {str(png)!r}")
    cov = coverage_of(target, input_shape)
    if png is not None:
        from stridescope.report.coverage_png import write_coverage_png

        try:
            write_coverage_png(cov, png, title=f"coverage of {target}")
        except OSError as error:
            raise StridescopeError(f"cannot write {str(png)!r}: {error.strerror}") from None
    if fmt == "json":
        console.print(json.dumps(cov.to_dict()), markup=False, highlight=False)
        return
    for line in _text(cov, target):
        console.print(line, markup=False, highlight=False)
    if png is not None:
        console.print(f"wrote {png}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("coverage", epilog=EPILOG)
    @guarded
    def coverage_command(
        target: TargetArgument,
        input_shape: InputOption = None,
        png: Annotated[
            Path | None, typer.Option(help="Also write the map as a PNG heatmap here.")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    ) -> None:
        """Which input pixels can influence the output, and through how many windows."""
        _run(target, input_shapes(input_shape), png, fmt)
