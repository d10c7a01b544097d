"""Where a compiled graph's operations came from, and their names as the Python trace gives them.

A TorchScript graph records on each inlined operation the modules it ran in
(``SELF(ResNet).layer1(Sequential).0(BasicBlock).conv1(Conv2d)``); an exported program records
``nn_module_stack`` (each module's path and class, one key per call). An operation is named
``<path>.<operation>`` (``layer1.0.add``), as a function called inside a Python forward is.

A module the Python trace reads whole (a conv, a norm, an activation, a pool:
:data:`~stridescope.frontends.pytorch.module_table.MODULES`) is one node there, named by its
path (``layer1.0.conv1``); compiled, it is the operation its forward ran (``aten::conv2d``).
So a run of operations in such a module that made one node (or one and the activation fused
into it, as a quantized ``ConvReLU2d``'s) is named by the module's path, made unique as a second
call of the module is (``layer1.0.relu_1``), and a compiled model's rows are the Python
model's. A module of such a class whose compiled forward made several other nodes
(``nn.LocalResponseNorm``'s pool, products and power) keeps ``<path>.<operation>`` on each.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from stridescope.ir import OpKind

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["ModuleRuns", "find_module", "module_path", "read_whole"]

_PART = re.compile(r"([^.()]+)\(([^()]*)\)")
_SKIPPED = ("SELF", "UNKNOWN_INSTANCE")
_FUSED = OpKind.ACTIVATION  # what a layer read whole may apply after itself
_MANGLED = re.compile(r"(^__torch__\.)|(___torch_mangle_\d+\.)")


def module_path(hierarchy: str, root: torch.nn.Module | None = None) -> str:
    """The dotted module path TorchScript records on an inlined operation; given the module
    it runs in, with the ``nn.ModuleList`` or ``nn.ModuleDict`` it leaves out (its own items
    are called, never the container).

    >>> module_path("SELF(ResNet).layer1(Sequential).0(BasicBlock).conv1(Conv2d).SELF(Conv2d)")
    'layer1.0.conv1'
    """
    return find_module(hierarchy, root)[0]


def find_module(hierarchy: str, root: torch.nn.Module | None) -> tuple[str, torch.nn.Module | None]:
    """:func:`module_path`, and the module there (``None`` without ``root``). An item of a
    container the record leaves out is looked for among the containers by its name and the
    class the record gives it (``0(MaxVitBlock)``: in ``blocks``, not in ``stem``, which has a
    ``0`` too)."""
    parts = [(n, kind) for n, kind in _PART.findall(hierarchy) if n not in _SKIPPED]
    path: list[str] = []
    module = root
    for name, kind in parts:
        children = dict(module.named_children()) if module is not None else {}
        if name not in children:  # an item of a container the record leaves out
            held = [
                (outer, inner)
                for outer, container in children.items()
                if name in (inner := dict(container.named_children()))
            ]
            for outer, inner in sorted(held, key=lambda h: _class_name(h[1][name]) != kind):
                path.append(outer)
                children = inner
                break
        path.append(name)
        module = children.get(name)
    return ".".join(path), module


def _class_name(module: torch.nn.Module) -> str:
    """The class name TorchScript records for ``module`` (a compiled one's original)."""
    return getattr(module, "original_name", None) or type(module).__name__


def read_whole(kind: Any, table: Mapping[Any, Any]) -> str | None:
    """The class name of a module the Python trace reads whole (its class's forward is in
    ``table``, the tracer's :data:`~stridescope.frontends.pytorch.module_table.MODULES`), given
    its class, the name an exported program records (``torch.nn.modules.conv.Conv2d``) or a
    compiled module (TorchScript's qualified name, mangled:
    ``__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d``); ``None`` for any other
    module, and for a class of a module not imported.

    >>> from stridescope.frontends.pytorch.module_table import MODULES
    >>> read_whole("torch.nn.modules.conv.Conv2d", MODULES)
    'Conv2d'
    >>> read_whole(torch.nn.Sequential, MODULES) is None
    True
    >>> read_whole(torch.jit.script(torch.nn.ReLU()), MODULES)
    'ReLU'
    """
    cls = kind
    if isinstance(kind, torch.jit.ScriptModule):
        kind = kind._c._type().qualified_name()
    if isinstance(kind, str):
        where, _, name = _MANGLED.sub("", kind).rpartition(".")
        cls = getattr(sys.modules.get(where), name, None)
    if not isinstance(cls, type) or getattr(cls, "forward", None) not in table:
        return None
    return cls.__name__


class ModuleRuns:
    """Sets the tracer's scope to each compiled operation's module, and names a run of
    operations in one call of a module read whole that made one node by that module's path
    (see the module docstring); :meth:`close` at the end of the graph."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.key: object = None
        self.path = ""
        self.whole: str | None = None
        self.start = 0

    def enter(self, key: object, path: str, kind: Any) -> None:
        """Before an operation of the module at ``path`` (``key``: its call, whose operations
        come one after another; ``kind``: its class, as :func:`read_whole` takes it)."""
        tracer = self.tracer
        tracer.scope[-1] = path
        if key != self.key:
            self.close()
            self.key, self.path = key, path
            self.whole = read_whole(kind, tracer.modules)
            self.start = tracer.builder.size

    def close(self) -> None:
        """Name the last run's first node by its module, where the run was in a module read
        whole and made one node, or one and the activations fused into it (a quantized
        ``ConvReLU2d``'s ``conv2d`` and ``relu``: ``conv1`` and ``conv1.relu``, as the Python
        trace names them)."""
        made = self.tracer.builder._nodes[self.start :]
        if self.whole is not None and made and all(n.kind is _FUSED for n in made[1:]):
            name = self.tracer.unique(self.path or self.whole)
            object.__setattr__(made[0], "name", name)
        self.key, self.whole = None, None
