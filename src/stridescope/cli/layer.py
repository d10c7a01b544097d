"""`stridescope layer EXPR --input SHAPE [--compare EXPR ...]`: one layer call (Keras or
PyTorch spelling) on one input shape, side by side with alternatives: output shape, params,
MACs, padding per axis, and which input pixels are ever read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from stridescope.analysis import coverage_map, read_grid
from stridescope.cli._common import check_choice, console, guarded
from stridescope.errors import StridescopeError
from stridescope.frontends import add_layer, default_layout, parse_layer, parse_shape
from stridescope.geometry import GeometryError
from stridescope.ir import GraphBuilder, LayerError, Layout

__all__ = ["LayerReport", "analyse_layer", "register"]

_LAYOUTS = ("nhwc", "nchw")
_FORMATS = ("table", "json")
_AXIS_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}
_GRID = 8
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

    def to_dict(self) -> dict[str, Any]:
        """The record of ``--format json`` (the documented keys only)."""
        data = asdict(self)
        return {
            "expr": self.expr,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "read_fraction": self.read_fraction,
            "padding": [list(p) for p in data["padding"]],
        }


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
    if graph.spatial(graph.input_shape):
        cov = coverage_map(graph)
        fraction, grid = cov.fraction, read_grid(cov, _GRID)
    else:  # no spatial axes (e.g. Dense on (N, F)): every feature is read
        fraction, grid = 1.0, []
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
    )


def _padding_text(padding: tuple[tuple[int, int], ...]) -> str:
    if not padding:
        return "none"
    names = _AXIS_NAMES.get(len(padding), tuple(f"a{i}" for i in range(len(padding))))
    return " ".join(f"{n} {b}+{a}" for n, (b, a) in zip(names, padding, strict=True))


def _picture(grid: tuple[tuple[bool, ...], ...]) -> list[str]:
    return [" ".join("█" if cell else "·" for cell in row) for row in grid]


def _render(reports: list[LayerReport], shape: tuple[int, ...], layout: Layout) -> None:
    table = Table(
        title=f"input {'x'.join(map(str, shape))} ({layout.upper()})", title_justify="left"
    )
    table.add_column("", style="bold", no_wrap=True)
    for i in range(len(reports)):
        table.add_column("layer" if i == 0 else f"compare {i}", overflow="fold")
    rows: list[tuple[str, list[str]]] = [
        ("expr", [r.expr for r in reports]),
        ("layout", [r.layout.upper() for r in reports]),
        ("output shape", [str(r.output_shape) for r in reports]),
        ("params", [f"{r.params:,}" for r in reports]),
        ("MACs", [f"{r.macs:,}" for r in reports]),
        ("padding", [_padding_text(r.padding) for r in reports]),
        ("pixels read", [f"{r.read_fraction:.0%}" for r in reports]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)
    shown = [r for r in reports if r.grid]
    if not shown:
        return
    where = f"first {_GRID} positions" if len(shown[0].grid) == 1 else f"top-left {_GRID}x{_GRID}"
    console.print(f"Input pixels read, {where} (█ read by some output, · never read):")
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
            help="Layout of --input: nhwc or nchw. Default: the first layer's framework "
            "(Keras NHWC, PyTorch NCHW)."
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Output shape, params, MACs (1 multiply-add = 1 MAC), padding per axis and the share of
    input pixels read, for one layer and its alternatives. Keras layers run in NHWC, PyTorch
    layers in NCHW; the input shape is permuted to each layer's layout."""
    check_choice("--format", format, _FORMATS)
    if layout is not None:
        check_choice("--layout", layout.lower(), _LAYOUTS)
    shape = parse_shape(input, what="--input")
    texts = [expr, *(compare or [])]
    chosen: Layout = "nchw" if layout and layout.lower() == "nchw" else "nhwc"
    if layout is None:
        chosen = default_layout(parse_layer(expr))
    reports = [analyse_layer(text, shape, chosen) for text in texts]
    if format == "json":
        typer.echo(json.dumps({"layers": [r.to_dict() for r in reports]}))
        return
    _render(reports, shape, chosen)


def register(app: typer.Typer) -> None:
    """Add ``stridescope layer`` to the app."""
    app.command("layer", epilog=EPILOG)(layer)
