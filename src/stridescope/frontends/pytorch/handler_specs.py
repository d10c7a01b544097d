"""What the tracer's two tables hold: a :class:`FunctionSpec` per torch function, a
:data:`ModuleHandler` per ``nn.Module`` forward."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.proxy import ShapeProxy
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["FunctionSpec", "ModuleHandler"]


@dataclass(frozen=True)
class FunctionSpec:
    """How one torch function is traced: node base name, torch spelling, handler."""

    name: str
    op: str
    handler: Callable[..., Any]
    inplace: bool = False


ModuleHandler = Callable[["Tracer", nn.Module, str, "ShapeProxy"], Any]
