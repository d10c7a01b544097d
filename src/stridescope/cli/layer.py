"""`stridescope layer EXPR --input SHAPE [--compare EXPR ...] [--sample-rate HZ]`: one layer
call (Keras or PyTorch spelling) on one input shape, side by side with alternatives: output
shape, params, MACs, padding per axis, and which input positions (samples of a signal, pixels
of an image, voxels of a volume) are ever read; with a sample rate, the layer's receptive
field and jump in milliseconds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from stridescope.analysis import coverage_map, read_grid
from stridescope.analysis.formatting import number_text, percent
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.analysis.units import (
    axis_letters,
    check_sample_rate,
    layout_text,
    milliseconds,
    ms_text,
    plain_number,
    position_noun,
)
from stridescope.cli._common import SampleRateOption, check_choice, console, guarded
from stridescope.errors import StridescopeError
from stridescope.frontends import add_layer, default_layout, parse_layer, parse_shape
from stridescope.geometry import GeometryError
from stridescope.ir import GraphBuilder, LayerError, Layout

__all__ = ["LayerReport", "analyse_layer", "register"]

# --layout: channels last or first, in any rank's spelling
_LAYOUTS: dict[str, Layout] = {
    "nhwc": "nhwc",
    "nchw": "nchw",
    "nlc": "nhwc",
    "ncl": "nchw",
    "ndhwc": "nhwc",
    "ncdhw": "nchw",
}
_FORMATS = ("table", "json")
_GRID = 8
_STRIP = 32  # samples of a 1-D input in the picture
EPILOG = (
    "**Examples**\n\n"
    "* `stridescope layer \"Conv2D(16, 1, strides=2, padding='same')\" --input 1x32x32x3 "
    '--compare "MaxPool2D(pool_size=2)"`\n'
    '* `stridescope layer "nn.Conv2d(3, 16, 3, stride=2, padding=1)" --input 1x3x224x224 '
    '--compare "nn.AvgPool2d(2)" --format json`\n'
    '* `stridescope layer "DepthwiseConv2D(3, strides=2)" --input 1,64,64,8`\n\n'
    "MACs: 1 multiply-add = 1 MAC (a conv: output elements x C_in/groups x kernel area)."
)


@dataclass(frozen=True)
class LayerReport:
    """What one layer does to one input."""

    expr: str
    layer: str
    layout: Layout
    output_shape: tuple[int, ...]
    params: int
    macs: int
    read_fraction: float
    padding: tuple[tuple[int, int], ...]
    grid: tuple[tuple[bool, ...], ...]
    rank: int = 2  #: spatial axes of the input
    rf_size: tuple[int, ...] | None = None  #: the layer's receptive field, per axis
    rf_jump: tuple[float, ...] | None = None  #: an int where whole (units.plain_number)

    def to_dict(self, sample_rate: float | None = None) -> dict[str, Any]:
        """The record of ``--format json`` (the documented keys only); with a sample rate,
        also the receptive field and jump, in positions and in milliseconds."""
        data = asdict(self)
        record: dict[str, Any] = {
            "expr": self.expr,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "read_fraction": self.read_fraction,
            "padding": [list(p) for p in data["padding"]],
        }
        if sample_rate is not None:
            record["receptive_field"] = None
            if self.rf_size is not None and self.rf_jump is not None:
                record["receptive_field"] = {
                    "size": list(self.rf_size),
                    "jump": list(self.rf_jump),
                    "size_ms": milliseconds(self.rf_size[0], sample_rate),
                    "jump_ms": milliseconds(self.rf_jump[0], sample_rate),
                }
        return record


def _to_layout(shape: tuple[int, ...], source: Layout, target: Layout) -> tuple[int, ...]:
    if source == target or len(shape) < 3:
        return shape
    if target == "nchw":  # (N, *S, C) -> (N, C, *S)
        return (shape[0], shape[-1], *shape[1:-1])
    return (shape[0], *shape[2:], shape[1])


def analyse_layer(text: str, shape: tuple[int, ...], layout: Layout) -> LayerReport:
    """Build a one-layer graph on ``shape`` (given in ``layout``) and measure it. The layer runs
    in its framework's own layout; the input shape is permuted to it where they differ.

    >>> r = analyse_layer("MaxPool2D(pool_size=2)", (1, 32, 32, 3), "nhwc")
    >>> r.output_shape, r.params, r.read_fraction, r.padding
    ((1, 16, 16, 3), 0, 1.0, ((0, 0), (0, 0)))
    >>> r = analyse_layer("nn.Conv1d(1, 8, 10, stride=5)", (1, 1, 400), "nchw")
    >>> r.rank, r.rf_size, r.rf_jump, r.read_fraction
    (1, (10,), (5,), 1.0)
    """
    call = parse_layer(text)
    own = default_layout(call)
    builder = GraphBuilder(_to_layout(shape, layout, own), own, source=text)
    try:
        add_layer(builder, builder.input, call, call.layer)
    except GeometryError as error:  # the expression names its layer; a part keeps its name
        reason = str(error)
        if isinstance(error, LayerError) and error.layer == call.layer:
            reason = error.reason
        raise StridescopeError(f"{call.text} on input {builder.shape(0)!r}: {reason}") from None
    graph = builder.build()
    # a sliding window, or a transposed conv's scatter: its padding is what the layer declares
    windows = [w for n in graph.nodes[1:] if (w := n.window or n.scatter) is not None]
    padding = windows[0].padding if windows else ()
    rank = len(graph.spatial(graph.input_shape))
    if rank:
        cov = coverage_map(graph)
        fraction, grid = cov.fraction, read_grid(cov, _STRIP if rank == 1 else _GRID)
    else:  # no spatial axes (e.g. Dense on (N, F)): every feature is read
        fraction, grid = 1.0, []
    state = receptive_fields(graph)[-1]
    fields = state if isinstance(state, tuple) else None
    return LayerReport(
        expr=call.text,
        layer=call.layer,
        layout=own,
        output_shape=tuple(d or 0 for d in graph.output.output_shape),
        params=graph.params,
        macs=graph.macs,
        read_fraction=fraction,
        padding=tuple(padding),
        grid=tuple(tuple(row) for row in grid),
        rank=rank,
        rf_size=None if fields is None else tuple(f.size for f in fields),
        rf_jump=None if fields is None else tuple(plain_number(f.jump) for f in fields),
    )


def _padding_text(padding: tuple[tuple[int, int], ...]) -> str:
    if not padding:
        return "none"
    names = axis_letters(len(padding))
    return " ".join(f"{n} {b}+{a}" for n, (b, a) in zip(names, padding, strict=True))


def _time_text(values: tuple[float, ...] | None, rank: int, rate: float) -> str:
    """``10 samples = 0.625 ms`` (1-D); ``3x7x7, 3 frames = 120 ms`` (3-D: time first)."""
    if values is None:
        return "unknown"
    first, time = number_text(values[0]), ms_text(milliseconds(values[0], rate))
    if rank == 1:
        return f"{first} {position_noun(1, plural=values[0] != 1)} = {time}"
    return f"{'x'.join(map(number_text, values))}, {first} frame{'s' * (values[0] != 1)} = {time}"


def _picture(grid: tuple[tuple[bool, ...], ...]) -> list[str]:
    return [" ".join("█" if cell else "·" for cell in row) for row in grid]


def _where(report: LayerReport) -> str:
    """Which part of the input the picture shows."""
    if report.rank == 1:
        return f"first {len(report.grid[0])} samples"
    corner = f"top-left {_GRID}x{_GRID}"
    return f"first slice (D=0), {corner}" if report.rank == 3 else corner


def _render(
    reports: list[LayerReport],
    shape: tuple[int, ...],
    layout: Layout,
    sample_rate: float | None = None,
) -> None:
    rank = reports[0].rank
    table = Table(
        title=f"input {'x'.join(map(str, shape))} ({layout_text(layout, rank)})",
        title_justify="left",
    )
    table.add_column("", style="bold", no_wrap=True)
    for i in range(len(reports)):
        table.add_column("layer" if i == 0 else f"compare {i}", overflow="fold")
    rows: list[tuple[str, list[str]]] = [
        ("expr", [r.expr for r in reports]),
        ("layout", [layout_text(r.layout, r.rank) for r in reports]),
        ("output shape", [str(r.output_shape) for r in reports]),
        ("params", [f"{r.params:,}" for r in reports]),
        ("MACs", [f"{r.macs:,}" for r in reports]),
        ("padding", [_padding_text(r.padding) for r in reports]),
        (f"{position_noun(rank)} read", [percent(r.read_fraction) for r in reports]),
    ]
    if sample_rate is not None:
        rows.append(("RF", [_time_text(r.rf_size, r.rank, sample_rate) for r in reports]))
        rows.append(("jump", [_time_text(r.rf_jump, r.rank, sample_rate) for r in reports]))
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)
    shown = [r for r in reports if r.grid]
    if not shown:
        return
    noun = position_noun(rank)
    console.print(f"Input {noun} read, {_where(shown[0])} (█ read by some output, · never read):")
    if rank == 1:  # one strip per layer, one line each
        width = max(len(r.layer) for r in shown)
        for r in shown:
            console.print(Text(f"{r.layer:<{width}}  {_picture(r.grid)[0]}"))
        return
    for start in range(0, len(shown), 4):
        chunk = shown[start : start + 4]
        pictures = [_picture(r.grid) for r in chunk]
        width = max(len(line) for pic in pictures for line in pic)
        console.print(Text("   ".join(f"{r.layer:<{width}.{width}}" for r in chunk).rstrip()))
        for lines in zip(*pictures, strict=False):
            console.print(Text("   ".join(f"{line:<{width}}" for line in lines).rstrip()))


@guarded
def layer(
    expr: Annotated[
        str, typer.Argument(help="A layer call, e.g. \"Conv2D(16, 1, strides=2, padding='same')\"")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="Input shape, batch first: 1x32x32x3 or 1,32,32,3 (rank = 2 + spatial axes).",
        ),
    ],
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare", "-c", help="Another layer call to show side by side (repeatable)."
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="Layout of --input: nhwc or nchw (also spelled for the rank: nlc / ncl, "
            "ndhwc / ncdhw). Default: the first layer's framework (Keras channels last, "
            "PyTorch channels first)."
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    sample_rate: SampleRateOption = None,
) -> None:
    """Output shape, params, MACs (1 multiply-add = 1 MAC), padding per axis and the share of
    input positions read (samples, pixels or voxels), for one layer and its alternatives.
    Keras layers run channels last, PyTorch layers channels first; the input shape is
    permuted to each layer's layout."""
    check_choice("--format", format, _FORMATS)
    if layout is not None:
        check_choice("--layout", layout.lower(), tuple(_LAYOUTS))
    shape = parse_shape(input, what="--input")
    texts = [expr, *(compare or [])]
    chosen = _LAYOUTS[layout.lower()] if layout else default_layout(parse_layer(expr))
    if layout and layout.lower() not in ("nhwc", "nchw") and len(layout) != len(shape):
        raise StridescopeError(
            f"--layout {layout} names {len(layout) - 2} spatial axes; --input {input} has "
            f"{len(shape) - 2} (nhwc / nchw fit any rank)"
        )
    check_sample_rate(sample_rate, max(len(shape) - 2, 0))  # before any layer is built
    reports = [analyse_layer(text, shape, chosen) for text in texts]
    if format == "json":
        records = [r.to_dict(sample_rate) for r in reports]
        typer.echo(json.dumps({"layers": records}))
        return
    _render(reports, shape, chosen, sample_rate)


def register(app: typer.Typer) -> None:
    """Add ``stridescope layer`` to the app."""
    app.command("layer", epilog=EPILOG)(layer)
