"""TorchScript inside a traced model: scripted functions, scripted and traced modules.

TorchScript runs compiled code that takes real tensors only, so a
:class:`~stridescope.frontends.pytorch.proxy.ShapeProxy` cannot go through it (the trace
failed on the first such call). Now:

- a function made by ``torch.jit.script`` or ``torch.jit.trace`` keeps the Python function
  it was compiled from (``torch.jit`` stores it for TorchDynamo): that function is traced as
  any other code, so its operations are counted; a compiled function without one is one
  uncounted node, its outputs' shapes from a run on meta tensors;
- a scripted ``nn.Sequential`` (also one loaded by ``torch.jit.load``) is read layer by layer
  (a traced one cannot call its layers one by one); any other scripted or traced module is one node standing for its compiled forward: its output shapes from a run on meta
  tensors (on zeros where the compiled code cannot run on meta tensors), all its parameters
  counted there, its cost listed as unknown (``counted=False``, lint's DS001).

The model is not changed: the compiled code runs as it is, on stand-in inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from stridescope.frontends.pytorch.meta_calls import map_values, to_meta
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.script_graphs import interpret

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = [
    "SCRIPT_MODULE",
    "call_script_function",
    "call_script_module",
    "compiled_from",
    "compiled_name",
]

SCRIPT_MODULE = torch.jit.ScriptModule
_SCRIPTED: Any = torch.jit._script.RecursiveScriptModule


def compiled_from(module: torch.nn.Module) -> torch.nn.Module:
    """The module ``torch.compile`` wrapped (its ``OptimizedModule`` would run TorchDynamo on
    the proxies), else ``module`` itself; known without importing ``torch._dynamo``."""
    if type(module).__name__ != "OptimizedModule":
        return module
    inner = getattr(module, "_orig_mod", None)
    return inner if isinstance(inner, torch.nn.Module) else module


def compiled_name(module: torch.nn.Module) -> str:
    """The class a scripted or traced module was compiled from (``Conv2d``), else its own."""
    return str(getattr(module, "original_name", "") or type(module).__name__)


def call_script_function(tracer: Tracer, fn: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """A compiled function called on proxies: its Python function traced, else one node."""
    python = getattr(fn, "_torchdynamo_inline", None)
    if callable(python):
        return python(*args, **kwargs)
    return tracer.fallback(fn, args, kwargs, run=lambda: _run(fn, args, kwargs, tracer.device))


def call_script_module(
    tracer: Tracer, module: torch.nn.Module, path: str, args: tuple[Any, ...], kwargs: Any
) -> Any:
    """A scripted or traced module called in the forward (see the module docstring)."""
    kind = compiled_name(module)
    scripted = type(module) is _SCRIPTED  # (a traced one runs whole)
    if scripted and kind == "Sequential" and len(args) == 1 and not kwargs:
        x = args[0]
        for layer in module._modules.values():
            if layer is not None:
                x = tracer.call_module(layer, (x,), {})
        return x
    if not tracer.exact:  # its graph op by op; should that fail, the exact run reads it whole
        return interpret(tracer, module, path, args, kwargs)
    forward = module.forward
    return tracer.fallback(
        forward,
        args,
        kwargs,
        name=tracer.unique(path or kind),
        op=kind,
        params=_take_all(tracer, module),
        run=lambda: _run(forward, args, kwargs, tracer.device),
        note=f"TorchScript {kind} is compiled: shape from running it, cost unknown",
    )


def _take_all(tracer: Tracer, module: torch.nn.Module) -> int:
    """Elements of all the module's parameters not counted yet, marked counted (a module
    loaded by ``torch.jit.load`` holds them as plain tensors, not ``nn.Parameter``)."""
    total, counted = 0, tracer.counted
    for p in module.parameters():
        if id(p) not in counted:
            counted[id(p)] = None
            total += p.numel()
    return total


def _run(forward: Callable[..., Any], args: tuple[Any, ...], kwargs: Any, device: Any) -> Any:
    """``forward`` on meta tensors standing for the proxies, else (compiled code that cannot
    run on meta tensors, e.g. one that branches on values) on zeros on the model's device."""
    try:
        return forward(*map_values(args, to_meta), **map_values(kwargs, to_meta))
    except Exception:  # any failure of the meta run: the real run decides

        def zeros(value: Any) -> Any:
            if isinstance(value, ShapeProxy):
                return torch.zeros(value.dims, dtype=value.dtype, device=device)
            return value

        with torch.no_grad():
            return forward(*map_values(args, zeros), **map_values(kwargs, zeros))
