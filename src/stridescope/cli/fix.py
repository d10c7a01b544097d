"""`stridescope fix TARGET --policy P [--select ...] [--input SHAPE] [--filter-size N]
[--save FILE] [--format table|json]`: swap the model's downsampling layers under a policy,
weights kept; show each change with its cost and what the output at the start keeps, and the
totals before and after (params, MACs, input coverage, findings by lint code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from stridescope.analysis.units import layout_text
from stridescope.cli._common import (
    InputOption,
    check_choice,
    console,
    guarded,
    input_shapes,
)
from stridescope.errors import StridescopeError
from stridescope.frameworks import is_keras_model

if TYPE_CHECKING:
    from stridescope.ir import Graph
    from stridescope.surgery import Fixed

__all__ = ["FORMATS", "register"]

FORMATS = ("table", "json")
TARGETS = (
    "FILE.py:FACTORY, package.module:ATTR (a model, or a function returning one) or FILE.keras"
)
POLICIES = (
    "**Policies** (docs/fix.md)\n\n"
    "* `blurpool`: strided conv / max pool at stride 1, then a binomial blur at the stride "
    "(Zhang 2019)\n"
    "* `blurpool-first`: the blur at stride 1 before a strided conv (a 1x1: the blur at the "
    "stride, then the 1x1 at stride 1)\n"
    "* `resnet-d`: a 1x1 stride-s conv becomes an s x s average pool, then the 1x1 (He et al. "
    "2019)\n"
    "* `s2d`: a 1x1 stride-2 conv becomes space-to-depth then a 1x1 on 4x the channels, the "
    "old weights on the phase it sampled: identical output at the start\n"
    "* `aps`: the op at stride 1, then adaptive polyphase sampling (Chaman & Dokmanic 2021)\n\n"
)
EPILOG = (
    POLICIES + "**Examples**\n\n"
    "* `stridescope fix examples/seed_cnn_keras.py:build --policy resnet-d --save fixed.keras`\n"
    "* `stridescope fix examples/seed_cnn_torch.py:build --input 1x3x32x32 --policy blurpool "
    "--filter-size 4 --save fixed.pt` (a state_dict)\n"
    "* `stridescope fix mymodel.py:build --input 1x3x224x224 --policy s2d --select DS101 "
    "--format json`"
)


def _totals(graph: Graph) -> dict[str, Any]:
    """Params, MACs, input coverage and lint's findings by code (the summary's count)."""
    from stridescope.api import summary

    result = summary(graph)
    return {
        "params": result.totals.params,
        "macs": result.totals.macs,
        "input_coverage": result.input_coverage,
        "findings": dict(result.lint),
    }


def _both(graphs: tuple[Graph, Graph]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Totals before and after, each with a count for every code found in either model."""
    before, after = (_totals(g) for g in graphs)
    codes = sorted({*before["findings"], *after["findings"]})
    for side in (before, after):
        side["findings"] = {code: side["findings"].get(code, 0) for code in codes}
    return before, after


def _writable(path: Path) -> None:
    """A one-line error, before any work, where ``--save`` cannot write ``path``."""
    if path.is_dir():
        raise StridescopeError(f"--save names a directory; give a file: received {str(path)!r}")
    if not path.parent.is_dir():
        raise StridescopeError(
            f"--save's folder {str(path.parent)!r} does not exist; received {str(path)!r}"
        )


def _check_suffix(model: object, path: Path) -> None:
    """A one-line error, before the fix runs, where ``--save``'s suffix does not suit the
    model: a Keras model saves to ``.keras``, a PyTorch model's state_dict not to ``.keras``."""
    if is_keras_model(model):
        if path.suffix != ".keras":
            raise StridescopeError(f"a Keras model saves to a .keras file; received {str(path)!r}")
    elif path.suffix == ".keras":
        raise StridescopeError(
            f"a PyTorch model saves its state_dict (e.g. fixed.pt); received {str(path)!r}"
        )


def _save(fixed: Fixed, path: Path) -> None:
    _check_suffix(fixed.model, path)
    if is_keras_model(fixed.model):
        fixed.model.save(path)
        return
    import torch

    try:
        torch.save(fixed.model.state_dict(), path)
    except (OSError, RuntimeError) as error:  # (a file it may not write: one line)
        raise StridescopeError(f"cannot save to {str(path)!r}: {error}") from None


def _signed(value: int) -> str:
    return f"{value:+,}"


def _coverage(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}" if value in (0.0, 1.0) else f"{value:.1%}"


def _changes_table(fixed: Fixed, title: str) -> Table:
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
        title_justify="left",
    )
    for column in ("layer", "before", "after", "Δparams", "ΔMACs", "output at start"):
        numbers = column.startswith("Δ")  # (names and numbers whole; the rest wraps)
        whole = numbers or column == "layer"
        table.add_column(
            column, justify="right" if numbers else "left", no_wrap=whole, overflow="fold"
        )
    for c in fixed.changes:
        table.add_row(
            c.layer,
            c.before,
            c.after,
            _signed(c.delta_params),
            _signed(c.delta_macs),
            c.output_at_start,
        )
    return table


def _totals_table(before: dict[str, Any], after: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    for column in ("", "before", "after", "change"):
        table.add_column(column, justify="left" if not column else "right")
    for key, label in (("params", "params"), ("macs", "MACs")):
        table.add_row(
            label, f"{before[key]:,}", f"{after[key]:,}", _signed(after[key] - before[key])
        )
    cov = (_coverage(before["input_coverage"]), _coverage(after["input_coverage"]))
    table.add_row("input coverage", *cov, "")
    for code, count in before["findings"].items():
        later = after["findings"][code]
        table.add_row(f"{code} findings", str(count), str(later), _signed(later - count))
    return table


def _print_table(fixed: Fixed, doc: dict[str, Any], title: str) -> None:
    console.print(_changes_table(fixed, title))
    for c in fixed.changes:
        if c.note:
            console.print(f"note: {c.layer}: {c.note}", markup=False)
    for u in fixed.unchanged:
        console.print(f"unchanged: {u.layer} ({u.before}): {u.reason}", markup=False)
    console.print()
    console.print(_totals_table(doc["before"], doc["after"]))
    if doc["saved"]:
        console.print(f"saved: {doc['saved']}", markup=False)


def _run(
    target: str,
    policy: str,
    select: list[str] | None,
    input_shape: str | list[str] | None,
    filter_size: int | None,
    save: Path | None,
    fmt: str,
) -> None:
    check_choice("--format", fmt, FORMATS)
    if save is not None:
        _writable(save)
    from stridescope.api import fix

    chosen = [s for entry in select or [] for s in entry.split(",") if s.strip()] or None
    from stridescope.frontends.load import load_model

    model = load_model(target)  # the one loader: FILE.keras, FILE.py:FACTORY, module:ATTR
    if save is not None:
        _check_suffix(model, save)
    fixed = fix(model, policy, select=chosen, input_shape=input_shape, filter_size=filter_size)
    if save is not None:
        _save(fixed, save)
    before, after = _both((fixed.before, fixed.after))
    doc = {
        "target": target,
        **fixed.to_dict(),
        "before": before,
        "after": after,
        "saved": None if save is None else str(save),
    }
    if fmt == "json":
        console.print(json.dumps(doc), markup=False, highlight=False)
        return
    size = f"filter {filter_size}, " if filter_size else ""
    shape = fixed.before.input_shape
    layout = layout_text(fixed.before.layout, len(shape) - 2).lower()
    title = f"{target}  policy {policy} ({size}input {shape}, {layout})"
    _print_table(fixed, doc, title)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("fix", epilog=EPILOG)
    @guarded
    def fix_command(
        target: Annotated[str, typer.Argument(help=TARGETS + ".", show_default=False)],
        policy: Annotated[
            str,
            typer.Option(
                "--policy",
                "-p",
                help="blurpool, blurpool-first, resnet-d, s2d or aps.",
                show_default=False,
            ),
        ],
        select: Annotated[
            list[str] | None,
            typer.Option(
                "--select",
                "-s",
                show_default=False,
                help="Only these layers: module paths / Keras layer names (a path selects the "
                "layers under it) or lint codes (DS101: the layers that skip input). Repeat "
                "it or separate with commas. Default: every strided layer.",
            ),
        ] = None,
        input_shape: InputOption = None,
        filter_size: Annotated[
            int | None,
            typer.Option(
                help="Blur taps per axis for blurpool and blurpool-first: 3 (default), 4 or 5.",
                show_default=False,
            ),
        ] = None,
        save: Annotated[
            Path | None,
            typer.Option(
                help="Write the fixed model: a PyTorch state_dict (e.g. fixed.pt) or "
                "a .keras file.",
                show_default=False,
            ),
        ] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    ) -> None:
        """Swap a model's downsampling layers for better ones, keeping its weights: each
        change with its cost and whether the output at the start is identical, equal in
        expectation or changed; totals before and after."""
        _run(target, policy, select, input_shapes(input_shape), filter_size, save, fmt)
