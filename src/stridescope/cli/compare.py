"""`stridescope compare --input 3x224x224 --out-channels 64 [--ops a,b] [--device cpu|cuda]
[--format table|json|csv] [--plot DIR]`: every downsampling operator side by side, on an
image (C x H x W) or a signal (C x L: the zoo in 1-D, measured on speech, chirps and noise)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from stridescope.analysis.formatting import percent
from stridescope.analysis.units import size_text
from stridescope.cli._common import console, err_console, guarded
from stridescope.errors import StridescopeError

if TYPE_CHECKING:
    from stridescope.analysis.compare import CompareOptions, Comparison

__all__ = ["parse_chw", "parse_input", "register"]

FORMATS = ("table", "json", "csv")
#: CSV columns besides the JSON record's scalar keys: shift errors and latency, flattened.
_FLAT_COLUMNS = (
    "shift_circular",
    "shift_crop",
    "shift_one_position",
    "forward_ms",
    "forward_backward_ms",
)

EPILOG = """\
**Examples**

* `stridescope compare --input 3x64x64 --out-channels 16` : all operators, a table.

* `stridescope compare -i 64x56x56 -c 128 --ops conv1x1_s2,avgpool_conv1x1,blurpool_conv1x1
  --format json > shortcut.json` : three ResNet-shortcut choices, JSON for scripts.

* `stridescope compare -i 3x224x224 -c 64 --device cuda --plot plots/` : latency on the GPU,
  frequency_response.png and read_grids.png in plots/.

* `stridescope compare -i 32x64x64 -c 64 --ops conv1x1_s2,my_ops.py:make_down` : your own
  layer beside the seed's; `make_down(in_channels, out_channels)` returns an nn.Module that
  halves H and W.

* `stridescope compare -i 1x4096 -c 16` : the zoo in 1-D on a signal of 4096 samples;
  aliasing on speech (espeak-ng), chirps and band-limited noise.

Images: aliasing and shift errors on bundled photos (scikit-image, scikit-learn); signals: on
speech made by espeak-ng, chirps and noise. Weights are random (--seed). Details:
docs/compare.md and docs/sequences.md.
"""


def parse_input(text: str) -> tuple[int, ...]:
    """``"3x224x224"`` (channels, height, width) or ``"1x16000"`` (channels, length); no
    batch.

    >>> parse_input("3x64x64"), parse_input("1x16000")
    ((3, 64, 64), (1, 16000))
    """
    parts = [p.strip() for p in re.split(r"[xX,]", text.strip())]
    if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise StridescopeError(
            "--input must be C x L (a signal) or C x H x W (an image), positive sizes such as "
            f"1x16000 or 3x224x224; received {text!r}"
        )
    return tuple(int(p) for p in parts)


def parse_chw(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` (channels, height, width; no batch) to a tuple.

    >>> parse_chw("3x64x64")
    (3, 64, 64)
    """
    shape = parse_input(text)
    if len(shape) != 3:
        raise StridescopeError(
            f"--input must be C x H x W, three positive sizes such as 3x224x224; received {text!r}"
        )
    return (shape[0], shape[1], shape[2])


def _rows(comparison: Comparison) -> list[dict[str, object]]:
    rows = []
    for r in comparison.results:
        rows.append(
            {
                "name": r.name,
                "output_shape": size_text(r.output_shape),
                "params": r.params,
                "macs": r.macs,
                "read_fraction": round(r.read_fraction, 4),
                "recoverable": round(r.recoverable, 4),
                "aliasing": round(r.aliasing, 4),
                "shift_circular": round(r.shift_error.circular, 4),
                "shift_crop": round(r.shift_error.crop, 4),
                "shift_one_position": round(r.shift_error.one_position, 4),
                "forward_ms": round(r.latency.forward.median_ms, 4),
                "forward_backward_ms": round(r.latency.forward_backward.median_ms, 4),
            }
        )
    return rows


def _cells(comparison: Comparison) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table's heads and rows: a signal gets one aliasing column per source and shifts
    by samples; an image one aliasing column (photos) and shifts by pixels."""
    signal = len(comparison.input_shape) == 2
    aliasing = [f"alias {s}" for s in comparison.sources] if signal else ["aliasing"]
    heads = (
        *("operator", "output", "params", "MACs", "read", "recov."),
        *aliasing,
        *("shift circ", "shift crop", "shift 1 sample" if signal else "shift 1px"),
        *("fwd ms", "fwd+bwd ms"),
    )
    rows = [
        (
            r.name,
            size_text(r.output_shape),
            f"{r.params:,}",
            f"{r.macs:,}",
            percent(r.read_fraction),
            f"{r.recoverable:.2f}",
            *(
                f"{a:.4f}"
                for a in (dict(r.aliasing_by_source).values() if signal else [r.aliasing])
            ),
            f"{r.shift_error.circular:.3f}",
            f"{r.shift_error.crop:.3f}",
            f"{r.shift_error.one_position:.3f}",
            f"{r.latency.forward.median_ms:.3f}",
            f"{r.latency.forward_backward.median_ms:.3f}",
        )
        for r in comparison.results
    ]
    return heads, rows


def _table(comparison: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table

    size = size_text(comparison.input_shape)
    signal = len(comparison.input_shape) == 2
    measured = f"; aliasing on {', '.join(comparison.sources)}" if signal else ""
    table = Table(
        title=f"{size} -> {comparison.out_channels} channels, {comparison.device}, "
        f"seed {comparison.seed}{measured}",
        title_justify="left",
    )
    heads, rows = _cells(comparison)
    widths = [
        max(len(head), *(len(row[index]) for row in rows)) for index, head in enumerate(heads)
    ]
    for index, head in enumerate(heads):
        justify: Literal["left", "right"] = "left" if index < 2 else "right"
        table.add_column(head, justify=justify, no_wrap=True, min_width=widths[index])
    for row in rows:
        table.add_row(*row)
    # never truncated: a table wider than the terminal is printed whole (the terminal scrolls)
    wide = Console(
        highlight=False, markup=False, width=max(console.width, sum(widths) + 3 * len(widths) + 1)
    )
    wide.print(table)
    for note in comparison.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def _csv(comparison: Comparison) -> str:
    from stridescope.analysis.compare import RECORD_KEYS

    nested = ("shift_error", "latency_ms")
    columns = [k for k in RECORD_KEYS if k not in nested] + list(_FLAT_COLUMNS)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_rows(comparison))
    return buffer.getvalue()


def _custom_ops(names: list[str] | None) -> tuple[list[str] | None, dict[str, Any]]:
    """Entries ``FILE.py:FACTORY`` / ``package.module:FACTORY`` in ``--ops`` are a user's
    operators, named by FACTORY: ``factory(in_channels, out_channels)`` returns the module."""
    if names is None:
        return None, {}
    from stridescope.frontends.load import resolve_factory
    from stridescope.ops import op_names

    custom: dict[str, Any] = {}
    plain: list[str] = []
    for entry in names:
        if ":" not in entry:
            plain.append(entry)
            continue
        factory = resolve_factory(entry)
        name = entry.rpartition(":")[2]
        if name in op_names() or name in custom:
            raise StridescopeError(f"operator name {name!r} from {entry!r} is taken; rename it")
        custom[name] = factory
        plain.append(name)
    return plain, custom


def _measure(
    shape: tuple[int, ...],
    out_channels: int,
    names: list[str] | None,
    device: str,
    seed: int,
    options: CompareOptions,
    custom: dict[str, Any],
) -> Comparison:
    from rich.progress import Progress

    from stridescope.api import compare
    from stridescope.ops import op_names

    # a live bar on a terminal; nothing when stderr is a pipe or a file
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        total = len(names) if names else len(op_names())
        task = bar.add_task(f"measuring {total} operators", total=total)

        def advance(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"measured {name}")

        return compare(
            shape,
            out_channels,
            names,
            device=device,
            seed=seed,
            options=options,
            progress=advance,
            custom=custom,
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
    shape = parse_input(input_shape)
    names = None if ops is None else [n.strip() for n in ops.split(",") if n.strip()]
    from stridescope.analysis.compare import check_request
    from stridescope.ops import op_names

    names, custom = _custom_ops(names)
    # every one-line error comes before the progress bar starts
    listed = op_names() if names is None else names
    from stridescope.frontends.pytorch import trace_torch

    check_request(shape, out_channels, listed, device, options, custom, trace_torch)
    if plot is not None:
        try:  # before measuring: a bad directory fails in a second, not after the run
            plot.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StridescopeError(f"cannot write plots to {str(plot)!r}: {error}") from None
    comparison = _measure(shape, out_channels, names, device, seed, options, custom)
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

    @app.command("compare", epilog=EPILOG)
    @guarded
    def compare_command(
        input_shape: Annotated[
            str,
            typer.Option(
                "--input",
                "-i",
                help="Input C x H x W (an image, e.g. 3x224x224) or C x L (a signal, e.g. "
                "1x16000).",
            ),
        ] = "3x64x64",
        out_channels: Annotated[
            int, typer.Option("--out-channels", "-c", help="Output channels of every operator.")
        ] = 16,
        ops: Annotated[
            str | None,
            typer.Option(
                help="Comma-separated operator names (default: all); FILE.py:FACTORY adds your "
                "own, FACTORY(in_channels, out_channels) returning an nn.Module.",
                show_default=False,
            ),
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
            int,
            typer.Option(
                "--images",
                "--signals",
                help="Bundled photos (an image input), or crops per source (a signal), for "
                "aliasing and shift errors (1-8).",
            ),
        ] = 4,
        sources: Annotated[
            str,
            typer.Option(
                help="Signal sources (C x L inputs): speech (needs espeak-ng), chirp, noise; "
                "the first is the main one (shift errors, latency)."
            ),
        ] = "speech,chirp,noise",
    ) -> None:
        """Every downsampling operator side by side: cost, positions read (pixels of an
        image, samples of a signal), recoverable information, aliasing, shift errors and
        latency."""
        from stridescope.analysis.compare import CompareOptions

        names = tuple(s.strip() for s in sources.split(",") if s.strip())
        options = CompareOptions(images=images, latency_min_time=latency_time, sources=names)
        _run(input_shape, out_channels, ops, device, fmt, plot, seed, options)
