"""`stridescope consistency TARGET [--weights FILE] [--dataset D] [--dataset-path P]
[--max-shift K] [--image-size N] [--seed S] [--plot FILE.png] [--format table|json]`: how
shift-consistent a trained model is — accuracy, random-shift and circular-shift consistency,
and the diagonal-shift curve (docs/consistency.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from stridescope.cli._common import check_choice, console, guarded
from stridescope.errors import StridescopeError

if TYPE_CHECKING:
    from stridescope.analysis.consistency_records import ConsistencyReport

__all__ = ["FORMATS", "register"]

FORMATS = ("table", "json")
TARGETS = (
    "FILE.py:FACTORY or package.module:ATTR (a model, or a function returning one; called with "
    "num_classes= when it takes it) or FILE.keras"
)
EPILOG = (
    "**Examples**\n\n"
    "* `stridescope consistency examples/resnet18_mini.py:build --weights model.pt`\n"
    "* `stridescope consistency model.keras --image-size 32 --max-shift 4 --plot curve.png`\n"
    "* `stridescope consistency mynet.py:build --weights w.pt --dataset cifar10 "
    "--dataset-path ~/data/cifar-10-batches-py --format json`\n\n"
    "Shifts move the image content down and right, filling with the background value; the "
    "test images are the study's (the same split of the dataset)."
)


def _pct(value: float) -> str:
    return f"{value:.2%}"


def _table(report: ConsistencyReport) -> Table:
    m = report.measured
    c, h, w = report.input_shape
    title = (
        f"{report.source} on {report.dataset}: {m.images} test images {c}x{h}x{w}, "
        f"{report.num_classes} classes; shifts in [0, {m.max_shift}), seed {m.seed}"
    )
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("")
    low, high = m.consistency_ci
    confidence = f"{m.confidence:.0%}"
    table.add_row("accuracy", _pct(m.accuracy), "")
    table.add_row(
        "consistency", _pct(m.consistency), f"{confidence} CI [{_pct(low)}, {_pct(high)}]"
    )
    table.add_row("circular consistency", _pct(m.circular_consistency), "")
    return table


def _curve(report: ConsistencyReport) -> str:
    points = report.measured.shift_curve
    shifts = " ".join(f"{p.shift:>5}" for p in points)
    probs = " ".join(f"{p.p_correct:>5.3f}" for p in points)
    return f"diagonal shift (s, s)  {shifts}\np(correct class)       {probs}"


def _run(
    target: str,
    weights: Path | None,
    dataset: str,
    dataset_path: Path | None,
    max_shift: int | None,
    image_size: int | None,
    seed: int,
    plot: Path | None,
    fmt: str,
) -> None:
    check_choice("--format", fmt, FORMATS)
    if plot is not None and plot.suffix.lower() != ".png":
        raise StridescopeError(f"--plot must name a .png file; received {str(plot)!r}")
    from stridescope.analysis.consistency_records import ConsistencyOptions
    from stridescope.api import consistency

    options = ConsistencyOptions(max_shift=max_shift, seed=seed)
    report = consistency(
        target,
        weights=weights,
        dataset=dataset,
        dataset_path=dataset_path,
        image_size=image_size,
        options=options,
    )
    if plot is not None:
        from stridescope.report.shift_curve import write_shift_curve_png

        try:
            write_shift_curve_png(report, plot)
        except OSError as error:
            raise StridescopeError(f"cannot write {str(plot)!r}: {error.strerror}") from None
    if fmt == "json":
        console.print(json.dumps(report.to_dict()), markup=False, highlight=False)
        return
    console.print(_table(report))
    console.print()
    console.print(_curve(report), markup=False)
    if plot is not None:
        console.print(f"wrote {plot}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("consistency", epilog=EPILOG)
    @guarded
    def consistency_command(
        target: Annotated[str, typer.Argument(help=TARGETS + ".", show_default=False)],
        weights: Annotated[
            Path | None,
            typer.Option(
                help="Trained weights: a PyTorch state_dict (read with torch.load("
                "weights_only=True)) or a .keras file for a Keras model.",
                show_default=False,
            ),
        ] = None,
        dataset: Annotated[
            str,
            typer.Option(
                help="mnist5k (bundled), digits, mnist-idx, fashion-mnist-idx, "
                "cifar10, cifar100 or imagefolder."
            ),
        ] = "mnist5k",
        dataset_path: Annotated[
            Path | None,
            typer.Option(
                help="The dataset's folder, for the formats read from disk.", show_default=False
            ),
        ] = None,
        max_shift: Annotated[
            int | None,
            typer.Option(
                help="K: random shifts in [0, K) per axis; the curve runs 0..K "
                "(default: a seventh of the image size, 4 at 28 px).",
                show_default=False,
            ),
        ] = None,
        image_size: Annotated[
            int | None,
            typer.Option(
                help="Resize the images to N x N (default: the dataset's own).", show_default=False
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the random shifts.")] = 0,
        plot: Annotated[
            Path | None,
            typer.Option(help="Write the diagonal-shift curve as a PNG.", show_default=False),
        ] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    ) -> None:
        """How shift-consistent a trained model is: accuracy, random-shift consistency (the
        share of images whose class agrees under two random shifts, with a 95% interval),
        circular-shift consistency, and the probability of the correct class along a
        diagonal shift."""
        _run(target, weights, dataset, dataset_path, max_shift, image_size, seed, plot, fmt)
