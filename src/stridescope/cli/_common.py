"""What every command shares: consoles and the guard that turns user errors into one line."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleDimensions

from stridescope.errors import StridescopeError

__all__ = [
    "INPUT_HELP",
    "SAMPLE_RATE_HELP",
    "TARGET_HELP",
    "InputOption",
    "PartialOption",
    "SampleRateOption",
    "TargetArgument",
    "check_choice",
    "console",
    "err_console",
    "fail",
    "guarded",
    "input_shapes",
]

P = ParamSpec("P")
R = TypeVar("R")

# no markup: what is printed (layer names, notes, errors) comes from the model and the user,
# and brackets in it (``x[mask]``, ``topk[1]``) are text (styles are given as ``Text``)
MIN_WIDTH = 80  # (COLUMNS=0 printed nothing, 40 dropped columns: a narrower one wraps lines)


class _Console(Console):
    """A console at least :data:`MIN_WIDTH` wide, whatever the terminal or ``COLUMNS`` say."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        return ConsoleDimensions(max(found.width, MIN_WIDTH), found.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = _Console(highlight=False, soft_wrap=True, markup=False)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

TARGET_HELP = (
    "FILE.py:FACTORY, package.module:ATTR (a model, or a function returning one), "
    "FILE.keras or FILE.h5 (loaded with safe_mode=True), FILE.pt (a TorchScript archive: "
    "torch.jit.save), "
    "FILE.pt2 (torch.export.save; knows its input shape) or FILE.toml (a spec file)."
)
INPUT_HELP = (
    "Input shape, batch first: 1x3x32x32 (PyTorch, NCHW) or 1x32x32x3 (Keras, NHWC); "
    "1x1x16000 for a signal (NCL), 1x3x16x112x112 for a video (NCDHW). "
    "Required for PyTorch models; overrides a spec's or Keras model's own. Repeat it for a "
    "model that takes several inputs (coverage is of the first; a further one may be a batch "
    "of numbers, e.g. 1 for a diffusion model's timesteps). Join shapes with + for a forward "
    "that takes one list of tensors: 1x3x8x224x224+1x3x32x224x224. An input of another "
    "dtype than the model's floats names it: 1x16:int64 (token ids), 1x196:bool (a mask). "
    "NAME=SHAPE gives an input by keyword, after the positional ones: --input 1x16:int64 "
    "--input attention_mask=1x16:int64 (a PyTorch forward's parameter, a Keras model's input)."
)
# The TARGET argument and --input option of the commands that read a whole model.
TargetArgument = Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False)]
InputOption = Annotated[
    list[str] | None, typer.Option("--input", "-i", help=INPUT_HELP, show_default=False)
]
SAMPLE_RATE_HELP = (
    "Positions per second along the first spatial axis (the samples of a 1-D signal, the "
    "frames of a 3-D video): adds the receptive field and jump in milliseconds."
)
SampleRateOption = Annotated[
    float | None,
    typer.Option("--sample-rate", metavar="HZ", help=SAMPLE_RATE_HELP, show_default=False),
]

PARTIAL_HELP = (
    "Where a PyTorch forward reads tensor values (a detector's post-processing: "
    "int(box[2] - box[0]), .item()), which a shape-only trace refuses, report the ops "
    "traced before it, with a note that says where it stopped."
)
PartialOption = Annotated[bool, typer.Option("--partial", help=PARTIAL_HELP)]


def input_shapes(values: list[str] | None) -> str | list[str] | None:
    """What ``--input`` (repeatable) gave: nothing, one shape, or several.

    >>> input_shapes(None), input_shapes(["1x3x8x8"]), input_shapes(["1x3x8x8", "1x1x8x8"])
    (None, '1x3x8x8', ['1x3x8x8', '1x1x8x8'])
    """
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def check_choice(option: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else a one-line user error naming both.

    >>> check_choice("--format", "json", ("table", "json"))
    'json'
    >>> check_choice("--format", "xml", ("table", "json"))
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: --format must be one of those allowed; received 'xml'; allowed: table, json
    """
    if value not in allowed:
        raise StridescopeError(
            f"{option} must be one of those allowed; received {value!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    return value


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit(2) to raise."""
    err_console.print(f"error: {message}", markup=False)
    return typer.Exit(code=2)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command; user errors become one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except StridescopeError as error:  # geometry errors included
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            raise typer.Exit(code=130) from None

    return wrapper
