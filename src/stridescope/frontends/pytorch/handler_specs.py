"""What the tracer's two tables hold: a :class:`FunctionSpec` per torch function, a
:data:`ModuleHandler` per ``nn.Module`` forward."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.proxy import ShapeProxy
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["TRACED_ONLY", "FunctionSpec", "ModuleHandler", "counts_all", "is_inplace"]
__all__ += ["traced_only"]

# handlers that count every parameter among their call's arguments themselves (see counts_all)
_COUNTING: set[Callable[..., Any]] = set()


def counts_all(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``handler`` as counting every parameter among its call's arguments (and those a
    tensor among them was computed from) itself: the tracer's walk for what a handler left
    (``take_leftover``) is skipped after it, a few µs per call (timm's ``BatchNormAct2d``
    hands ``F.batch_norm`` four tensors besides its input)."""
    _COUNTING.add(handler)
    return handler


# module handlers that read a layer called on a traced tensor only (see traced_only)
TRACED_ONLY: set[Callable[..., Any]] = set()


def traced_only(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mark module ``handler`` as reading its layer on a traced tensor only: called on a
    tensor the forward made (a fake quantizer on a weight), the layer's own forward runs, so
    what it returns is a tensor computed from parameters, as the layer's caller expects (not
    a node standing for a positional encoding the layer transforms)."""
    TRACED_ONLY.add(handler)
    return handler


@dataclass(frozen=True)
class FunctionSpec:
    """How one torch function is traced: node base name, torch spelling, handler, and
    what traces the call where the handler declines it (``NotHandled``): ``otherwise``, for
    the indexing and reshaping functions that are data movement then (else, and where that
    declines too, the tracer's meta-run fallback)."""

    name: str
    op: str
    handler: Callable[..., Any]
    inplace: bool = False
    otherwise: Callable[..., Any] | None = None
    view: Callable[..., Any] | None = None  # returns a view: its key (``views.KEYS``)
    # the handler counts every parameter among the arguments (:func:`counts_all`), and no
    # other function traces a call it declines
    counts: bool = field(init=False)

    def __post_init__(self) -> None:
        counts = self.handler in _COUNTING and self.otherwise is None
        object.__setattr__(self, "counts", counts)


ModuleHandler = Callable[["Tracer", nn.Module, str, "ShapeProxy"], Any]


_INPLACE_DUNDERS = frozenset(
    (
        "__iadd__",
        "__isub__",
        "__imul__",
        "__itruediv__",
        "__idiv__",
        "__ipow__",
        "__iand__",
        "__ior__",
        "__ixor__",
        "__setitem__",
    )
)


def is_inplace(spelling: str) -> bool:
    """Whether torch's name says the call writes into its first argument: a trailing ``_``
    (``relu_``, ``Tensor.add_``), an augmented assignment (``__iadd__``...) or ``__setitem__``.

    >>> [is_inplace(s) for s in ("F.relu_", "Tensor.__iadd__", "Tensor.__add__", "relu")]
    [True, True, False, False]
    """
    name = spelling.rpartition(".")[2]
    return (name.endswith("_") and not name.endswith("__")) or name in _INPLACE_DUNDERS
