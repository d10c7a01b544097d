"""What every command shares: consoles and the guard that turns user errors into one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from stridescope.errors import StridescopeError
from stridescope.geometry import GeometryError

__all__ = ["console", "err_console", "fail", "guarded"]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


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
        except (StridescopeError, GeometryError) as error:
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            raise typer.Exit(code=130) from None

    return wrapper
