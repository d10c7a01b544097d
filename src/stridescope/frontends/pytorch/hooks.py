"""A module's forward hooks and pre-hooks, run around its traced call as ``nn.Module.__call__``
runs them around ``forward``: a pre-hook may replace the arguments, a hook the output. They
are part of what a forward computes: Hugging Face ``transformers`` (5.x) collects hidden
states with hooks it installs on the layers (DPT and Depth Anything read them back), timm's
``features_only`` models of the hook kind collect their features so. Global hooks
(``register_module_forward_hook``) run too; backward hooks do not change a forward and are
not run. A hook sees proxies, as the forward does: one that reads tensor values stops the
trace with the one-line error a forward reading them gets.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> conv = nn.Conv2d(3, 4, 1)
>>> handle = conv.register_forward_hook(lambda module, args, out: out[:, :2])
>>> [n.output_shape for n in trace_torch(conv, (1, 3, 8, 8)).nodes]
[(1, 3, 8, 8), (1, 4, 8, 8), (1, 2, 8, 8)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.nn.modules import module as _torch_module

from stridescope.frontends.pytorch.errors import TraceError
from stridescope.frontends.pytorch.state_writes import keep
from stridescope.frontends.pytorch.tensor_writes import hook_writes, keep_tensors
from stridescope.frontends.pytorch.thread_state import STATE

__all__ = ["any_global_hooks", "call_hooked"]

Call = Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], Any]


def any_global_hooks() -> bool:
    """Whether forward hooks or pre-hooks are registered for every module."""
    return bool(_torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks)


def call_hooked(call: Call, module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    """``call(module, args, kw)`` between the forward pre-hooks and hooks (global ones first);
    a hook the trace cannot follow (one reading tensor values) is named in the error. A
    module with pre-hooks has its state kept: a pre-hook may store what it computes (spectral
    norm's weight), which the trace's end puts back (:mod:`state_writes`), and where one may
    write a tensor in place (spectral norm's power iteration, ``out=self.u``), the module's
    buffers' values too (:mod:`tensor_writes`)."""
    tracer = STATE.tracer
    if module._forward_pre_hooks and tracer is not None:
        keep(tracer.kept, module)
        if any(hook_writes(h) for h in module._forward_pre_hooks.values()):  # its buffers
            keep_tensors(tracer.tensors_kept, module, tuple((b,) for b in module._buffers))
    try:
        args, kw = _pre_hooks(module, args, kw)
    except TraceError as error:
        raise TraceError(f"{error}, in a forward pre-hook of {type(module).__name__}") from None
    out = call(module, args, kw)
    try:
        return _hooks(module, args, kw, out)
    except TraceError as error:
        raise TraceError(f"{error}, in a forward hook of {type(module).__name__}") from None


def _pre_hooks(
    module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    pre = (*_torch_module._global_forward_pre_hooks.items(), *module._forward_pre_hooks.items())
    for hook_id, hook in pre:
        if hook_id in module._forward_pre_hooks_with_kwargs:
            result = hook(module, args, kw)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        "forward pre-hook must return None or a tuple of (new_args, "
                        f"new_kwargs), but got {result}."
                    )
                args, kw = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    return args, kw


def _hooks(module: nn.Module, args: tuple[Any, ...], kw: dict[str, Any], out: Any) -> Any:
    with_kwargs = (
        module._forward_hooks_with_kwargs,
        _torch_module._global_forward_hooks_with_kwargs,
    )
    for hook_id, hook in (
        *_torch_module._global_forward_hooks.items(),
        *module._forward_hooks.items(),
    ):
        if hook_id in with_kwargs[0] or hook_id in with_kwargs[1]:
            result = hook(module, args, kw, out)
        else:
            result = hook(module, args, out)
        if result is not None:
            out = result
    return out
