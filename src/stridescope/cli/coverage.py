"""`stridescope coverage TARGET [--input SHAPE] [--png FILE] [--format text|json]
[--sample-rate HZ]`: which network-input positions (samples of a signal, pixels of an image,
voxels of a volume) can influence any output, computed exactly from geometry (union across
branches), and per position how many receptive-field windows of the last spatial layer contain
it (so checkerboards show). A 1-D map is drawn as a strip with its runs of unread samples
summarised, a 3-D map as one grid per slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from stridescope.analysis.coverage import CoverageMap, coverage_map
from stridescope.analysis.coverage_format import coverage_lines
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.analysis.units import check_sample_rate, milliseconds, plain_number
from stridescope.cli._common import (
    InputOption,
    SampleRateOption,
    TargetArgument,
    check_choice,
    console,
    guarded,
    input_shapes,
)
from stridescope.errors import StridescopeError
from stridescope.frontends.load import load_graph
from stridescope.ir import Graph

__all__ = ["register"]

FORMATS = ("text", "json")
EPILOG = (
    "**Examples**\n\n"
    "* `stridescope coverage examples/conv1x1_s2.toml` (a 1x1 stride-2 conv reads 25%)\n"
    "* `stridescope coverage examples/seed_cnn_torch.py:build --input 1x3x32x32 --png cov.png`\n"
    "* `stridescope coverage examples/seed_cnn.toml --format json`\n"
    "* `stridescope coverage examples/wav2vec2_encoder.py:build --input 1x1x16000 "
    "--sample-rate 16000` (a strip of samples, times in ms)\n\n"
    "The map is exact, from geometry: zero padding reads nothing; reflect, replicate and "
    "circular padding read the positions they copy."
)


def _field(graph: Graph, cov: CoverageMap) -> tuple[int, float] | None:
    """``(size, jump)`` along the first axis of the mapped node's receptive field."""
    node = next((n for n in graph.nodes if n.name == cov.output_node), None)
    state = None if node is None else receptive_fields(graph)[node.id]
    if not isinstance(state, tuple) or not state:
        return None
    return state[0].size, plain_number(state[0].jump)


def _record(cov: CoverageMap, rate: float | None, field: tuple[int, float] | None) -> Any:
    record = cov.to_dict()
    if rate is not None:
        record["sample_rate"] = rate
        record["receptive_field"] = (
            None
            if field is None
            else {
                "size": field[0],
                "jump": field[1],
                "size_ms": milliseconds(field[0], rate),
                "jump_ms": milliseconds(field[1], rate),
            }
        )
    return record


def _run(
    target: str,
    input_shape: str | list[str] | None,
    png: Path | None,
    fmt: str,
    sample_rate: float | None = None,
) -> None:
    check_choice("--format", fmt, FORMATS)
    if png is not None and png.suffix.lower() != ".png":
        raise StridescopeError(f"--png must name a .png file; received {str(png)!r}")
    graph = load_graph(target, input_shape)
    cov = coverage_map(graph)
    rate = check_sample_rate(sample_rate, len(cov.input_spatial))
    field = None if rate is None else _field(graph, cov)
    if png is not None:
        from stridescope.report.coverage_png import write_coverage_png

        try:
            write_coverage_png(cov, png, title=f"coverage of {target}", sample_rate=rate)
        except OSError as error:
            raise StridescopeError(f"cannot write {str(png)!r}: {error.strerror}") from None
    if fmt == "json":
        console.print(json.dumps(_record(cov, rate, field)), markup=False, highlight=False)
        return
    for line in coverage_lines(cov, target, rate, field):
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
            Path | None,
            typer.Option(
                help="Also write the map as a PNG here: a heatmap (2-D), a strip of counts "
                "(1-D), one heatmap per slice (3-D)."
            ),
        ] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
        sample_rate: SampleRateOption = None,
    ) -> None:
        """Which input positions (samples, pixels, voxels) can influence the output, and
        through how many windows."""
        _run(target, input_shapes(input_shape), png, fmt, sample_rate)
