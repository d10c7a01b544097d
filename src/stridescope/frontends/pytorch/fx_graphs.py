"""An exported program's graph run node by node, each operation named after its module.

``torch.export``'s ``ExportedProgram.module()`` is a ``GraphModule`` whose generated forward
calls ATen overloads one after another; run as that code, every node was named by its
operation alone (``conv2d_7``). Each node of the graph records the module it came from
(``node.meta["nn_module_stack"]``: the path and class of every module it ran in), so the
graph is run here node by node (``torch.fx.Interpreter``) with the tracer's scope set to that
path, as the Python model's nodes are named (``layer1.0.conv1``, ``layer1.0.add``:
:mod:`~stridescope.frontends.pytorch.compiled_names`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

import torch
from torch.fx import GraphModule, Interpreter

from stridescope.frontends.pytorch.compiled_names import ModuleRuns
from stridescope.frontends.pytorch.tensor_writes import keep_tensor

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["recorded", "run_recorded"]


def recorded(module: object) -> TypeGuard[GraphModule]:
    """Whether ``module`` is a graph whose operations record the modules they came from."""
    return isinstance(module, GraphModule) and any(
        "nn_module_stack" in node.meta for node in module.graph.nodes
    )


class _Named(Interpreter):
    """Runs the graph with the tracer's scope at each operation's module."""

    def __init__(self, tracer: Tracer, module: torch.nn.Module) -> None:
        super().__init__(module)
        self.tracer = tracer
        self.runs = ModuleRuns(tracer)

    def run_node(self, n: torch.fx.Node) -> Any:
        if n.op == "call_function":
            stack = n.meta.get("nn_module_stack")
            if stack:  # the innermost module: its call's key, its path and class
                key, (path, kind) = next(reversed(stack.items()))
                self.runs.enter(key, path, kind)
            else:
                self.runs.enter(None, "", None)
            if _writes_first(n.target):  # (a buffer a training graph updates in place)
                target = self.fetch_args_kwargs_from_env(n)[0][:1]
                if target and type(target[0]) is torch.Tensor:
                    keep_tensor(self.tracer.tensors_kept, target[0])
        return super().run_node(n)


def _writes_first(target: Any) -> bool:
    """Whether an ATen overload writes its first argument in place (``add_``, ``copy_``: a
    training graph's running statistics and batch counter): the trace puts it back after."""
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.arguments:
        return False
    alias = schema.arguments[0].alias_info
    return alias is not None and alias.is_write


def run_recorded(
    tracer: Tracer, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The graph's output on ``args`` and ``kwargs``, its operations named by their modules
    (the inputs and outputs flattened and rebuilt by the graph's own code generator, as its
    forward does: keyword arguments after the positional ones, in the order it was exported
    with)."""
    tracer.scope.append("")
    try:
        named = _Named(tracer, module)
        out = named.run(*args, *_in_order(module, kwargs).values())
        named.runs.close()
        return out
    finally:
        tracer.scope.pop()


def _in_order(module: torch.nn.Module, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` in the order of the graph's inputs (its ``(args, kwargs)`` spec's); a
    keyword it does not take raises torch's own error, as its forward does."""
    spec = getattr(module, "_in_spec", None)
    if not kwargs or spec is None:
        return kwargs
    from torch.export._tree_utils import reorder_kwargs

    return reorder_kwargs(kwargs, spec)
