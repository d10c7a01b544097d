"""`stridescope lint TARGET [--input SHAPE] [--select CODES] [--ignore CODES]
[--severity CODE=LEVEL] [--fail-on error|warning|info|never] [--format table|json]`: every
downsampling problem of a model, with its evidence and the fix policy that removes it.

Exit code 0 when nothing at or above ``--fail-on`` (default ``warning``) was found, 1 when
something was, 2 for bad input: it gates a CI job like any linter."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from stridescope.analysis.formatting import percent
from stridescope.analysis.lint import FAIL_ON, Finding, LintReport, rule_named
from stridescope.analysis.units import layout_text, size_text
from stridescope.api import lint as lint_target
from stridescope.cli._common import (
    InputOption,
    PartialOption,
    TargetArgument,
    check_choice,
    console,
    guarded,
    input_shapes,
)

__all__ = ["FORMATS", "register", "rule_tables", "summary_line"]

FORMATS = ("table", "json")
EPILOG = (
    "**Examples**\n\n"
    "* `stridescope lint examples/seed_cnn.toml` (the seed's 1x1 stride-2 conv: DS101)\n"
    "* `stridescope lint my_model.py:build --input 1x3x224x224 --select DS1,DS2 --format json`\n"
    "* `stridescope lint examples/seed_cnn_keras.py:build --ignore DS4 --fail-on error`\n"
    "* `stridescope lint model.keras --severity DS201=warning` (a dropped border fails CI)\n\n"
    "**Rules** DS001 op not understood, DS101 skipped input, DS201 dropped border, DS202 "
    "unread input, DS301 misaligned merge, DS401 aliasing, DS501 receptive field short of the "
    "input (docs/lint.md). Exit code 0: nothing at or above --fail-on; 1: something; 2: bad "
    "input. DS401 measures each new layer configuration once (seconds), then reads its cache."
)


def _fix(finding: Finding) -> str:
    """The policy and, on a second line, its cost (and, on a third, the codes the swap
    brings); the policy alone where it was not priced or cannot swap the layer as it is
    (``fix`` is ``None``)."""
    if finding.fix is not None:
        f = finding.fix
        adds = f"\nadds {', '.join(f.adds)}" if f.adds else ""
        return f"{f.policy}\n{f.delta_params:+,} params, {f.delta_macs:+,} MACs{adds}"
    return finding.policy or "-"


def rule_tables(report: LintReport) -> list[Table]:
    """One table per rule that found something, in code order."""
    tables = []
    for code in dict.fromkeys(f.code for f in report.findings):
        found = [f for f in report.findings if f.code == code]
        rule = rule_named(code)
        count = f"{len(found)} finding{'s' if len(found) > 1 else ''}"
        table = Table(
            title=f"{code} {rule.name} ({found[0].severity}, {count})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            padding=(0, 1, 0, 0),
            show_edge=False,
        )
        table.add_column("layer", no_wrap=True)
        table.add_column("finding", ratio=1)
        table.add_column("fix", no_wrap=True)
        for finding in found:
            table.add_row(finding.layer or "(network)", finding.message, _fix(finding))
        tables.append(table)
    return tables


def summary_line(report: LintReport, fail_on: str) -> str:
    """Counts, input coverage and the verdict at ``fail_on``."""
    counts = report.counts
    parts = [
        f"{n} {level}{'s' if n != 1 and level != 'info' else ''}" for level, n in counts.items()
    ]
    coverage = report.input_coverage
    seen = "unknown" if coverage is None else percent(coverage)
    verdict = "fails" if report.fails(fail_on) else "passes"
    return f"{', '.join(parts)}; input coverage {seen}; {verdict} --fail-on {fail_on}"


def _run(
    target: str,
    input_shape: str | list[str] | None,
    select: str | None,
    ignore: str | None,
    severity: list[str] | None,
    fail_on: str,
    fmt: str,
    partial: bool = False,
) -> int:
    check_choice("--format", fmt, FORMATS)
    check_choice("--fail-on", fail_on, FAIL_ON)
    report = lint_target(target, input_shape, select, ignore, severity or None, partial=partial)
    if fmt == "json":
        console.print(report.to_json(), markup=False, highlight=False)
    else:
        shape = size_text(report.input_shape)
        layout = layout_text(report.layout, len(report.input_shape) - 2).lower()
        console.print(f"{report.source or target}  input {shape} ({layout})", markup=False)
        if not report.findings:
            console.print("no findings", markup=False)
        for table in rule_tables(report):
            console.print()
            console.print(table)
        console.print()
        console.print(summary_line(report, fail_on), markup=False)
    return 1 if report.fails(fail_on) else 0


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("lint", epilog=EPILOG)
    @guarded
    def lint_command(
        target: TargetArgument,
        input_shape: InputOption = None,
        select: Annotated[
            str | None,
            typer.Option(help="Only these codes or prefixes, comma-separated: DS101,DS2."),
        ] = None,
        ignore: Annotated[
            str | None, typer.Option(help="Skip these codes or prefixes, comma-separated.")
        ] = None,
        severity: Annotated[
            list[str] | None,
            typer.Option(
                help="Override a severity: CODE=LEVEL (DS201=warning; a prefix: DS2=error). "
                "Repeatable."
            ),
        ] = None,
        fail_on: Annotated[
            str,
            typer.Option(
                "--fail-on",
                help="Exit 1 when a finding is at or above: error, warning, info, never.",
            ),
        ] = "warning",
        fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
        partial: PartialOption = False,
    ) -> None:
        """Find every downsampling problem in a model: skipped input, dropped borders,
        unread input, misaligned merges, aliasing, a receptive field short of the input;
        each with its evidence and the `stridescope fix` policy that removes it."""
        shapes = input_shapes(input_shape)
        code = _run(target, shapes, select, ignore, severity, fail_on, fmt, partial)
        if code:
            raise typer.Exit(code=code)
