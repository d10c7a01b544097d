"""The command line: ``stridescope layer|summary|lint|coverage|fix|consistency|compare|study|
results``.

The only package that prints or exits; nothing imports it. Each command lives in its own
module with a ``register(app)`` function.
"""

from __future__ import annotations

import sys

import typer

from stridescope.cli import (
    compare,
    consistency,
    coverage,
    fix,
    layer,
    lint,
    results,
    study,
    summary,
)
from stridescope.cli._common import err_console

__all__ = ["app", "main"]

app = typer.Typer(
    name="stridescope",
    help=(
        "What does this downsampling layer do to my network? Shapes, params, MACs, "
        "receptive field, which input positions are read, aliasing, shift-consistency, latency "
        "and accuracy after training, measured."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

for _module in (layer, summary, lint, coverage, fix, consistency, compare, study, results):
    _module.register(app)


# click's UsageError, reached through typer's public BadParameter (typer 0.29 vendors click
# under a private name; older typer versions use the click package).
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def main() -> None:
    """Console-script entry point. Usage errors (a missing option, a value of the wrong type)
    are one line on stderr with exit code 2, like every other bad input."""
    try:
        code = app(standalone_mode=False)
    except _UsageError as error:
        format_message = getattr(error, "format_message", None)
        message = str(format_message() if callable(format_message) else error).rstrip(".")
        ctx = getattr(error, "ctx", None)
        if message:
            where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
            err_console.print(f"error: {message}{where}", markup=False)
        sys.exit(2)
    except typer.Abort:
        err_console.print("interrupted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
