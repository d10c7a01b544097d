"""The command line: ``stridescope layer|summary|coverage|compare|study|results``.

The only package that prints or exits; nothing imports it. Each command lives in its own
module with a ``register(app)`` function.
"""

from __future__ import annotations

import typer

from stridescope.cli import compare, coverage, layer, results, study, summary

__all__ = ["app", "main"]

app = typer.Typer(
    name="stridescope",
    help=(
        "What does this downsampling layer do to my network? Shapes, params, MACs, "
        "receptive field, which input pixels are read, aliasing, shift-consistency, latency "
        "and accuracy after training, measured."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

for _module in (layer, summary, coverage, compare, study, results):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
