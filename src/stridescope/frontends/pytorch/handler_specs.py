"""What the tracer's two tables hold: a :class:`FunctionSpec` per torch function, a
:data:`ModuleHandler` per ``nn.Module`` forward."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.proxy import ShapeProxy
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["TRACED_ONLY", "FunctionSpec", "ModuleHandler", "counts_all", "is_inplace"]
__all__ += ["class_handler", "traced_only"]

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


def class_handler(
    modules: Mapping[Callable[..., Any], ModuleHandler], cls: type
) -> ModuleHandler | None:
    """The handler of ``cls``'s ``forward`` in ``modules``, unless ``cls`` overrides a method
    that forward calls (a conv subclass's own ``_conv_forward``, which pads its input first; a
    batch norm's own ``_check_input_dim``): the handler reads the base class's forward, so such
    a class's forward is traced instead."""
    handler = modules.get(getattr(cls, "forward", None))  # type: ignore[arg-type]
    return None if handler is None or _overrides(cls) else handler


@functools.cache
def _overrides(cls: type) -> bool:
    """Whether ``cls`` holds another method than torch's class it derives from (the nearest
    in its MRO, whose forward the handler reads) under a name that forward's code reads
    (``self._conv_forward``)."""
    owner = next((c for c in cls.__mro__ if c.__module__.startswith("torch.")), cls)
    if owner is cls:
        return False
    forward = cls.forward  # type: ignore[attr-defined]
    code = getattr(forward, "__code__", None)
    names = code.co_names if code is not None else ()
    return any(
        callable(mine := getattr(cls, n, None)) and mine is not getattr(owner, n, None)
        for n in names
        if hasattr(owner, n)
    )
