"""The PyTorch model as a whole, as ``fix`` takes it: what it refuses (a wrapped, compiled,
scripted, lazy or quantized model: :func:`model_refusal`) and the copy it swaps layers in
(:func:`copied`)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import is_lazy

from stridescope.errors import StridescopeError

__all__ = ["check_torch_model", "copied", "model_refusal"]


def check_torch_model(model: nn.Module) -> None:
    """Refuse wrapped, compiled or scripted models (their module paths are not the model's),
    lazy ones (no weights yet) and quantized ones: :func:`model_refusal`."""
    if refusal := model_refusal(model):
        raise StridescopeError(refusal)


def model_refusal(model: nn.Module) -> str:
    """Why ``fix`` refuses ``model`` as a whole ('' when it takes it)."""
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return (
            f"fix needs the bare model; received it wrapped in {type(model).__name__}: pass "
            "model.module, and wrap the fixed model again"
        )
    if hasattr(model, "_orig_mod"):
        return (
            "fix needs the bare model; received one compiled with torch.compile: pass "
            "model._orig_mod (or fix before compiling), and compile the fixed model"
        )
    if isinstance(model, torch.jit.ScriptModule):
        return (
            "fix needs the Python model; received a TorchScript one (torch.jit.script or "
            "trace), whose layers cannot be swapped: fix the model, then script the fixed one"
        )
    lazy = quantized = None  # (the first of each, and how many are quantized)
    count = 0
    for path, m in model.named_modules():  # (one walk, by class: a lint asks it too)
        made_lazy = issubclass(type(m), LazyModuleMixin)  # (until its first call)
        if lazy is None and made_lazy and any(map(is_lazy, m.parameters(False))):
            lazy = (path, m)
        if _quantized(m):
            quantized, count = quantized or (path, type(m).__name__), count + 1
    if lazy is not None:
        path, layer = lazy
        return (
            f"fix keeps a model's weights, and {path or 'the model'} ({type(layer).__name__}) "
            "has none yet: a lazy layer makes them at its first call; run the model once on an "
            "input of its shape, then fix it"
        )
    if quantized is not None:
        path, name = quantized
        return (
            f"fix needs the float model; received a quantized one: it holds {count} "
            f"quantized layer{'s' if count > 1 else ''} (the first: "
            f"{path or 'the model'} ({name})), whose tensors are quantized, which float layers "
            "swapped in cannot take; fix the float model, then quantize the fixed one"
        )
    return ""


# where torch.ao.quantization's convert puts the layers that take quantized tensors (those of
# quantize_dynamic, in ``...quantized.dynamic``, and the reference ones take float tensors)
_STATIC = ("torch.ao.nn.quantized.modules", "torch.ao.nn.intrinsic.quantized.modules")


def _quantized(module: nn.Module) -> bool:
    """Whether ``module`` takes quantized tensors (a float model's ``FloatFunctional``,
    which convert turns into a ``QFunctional``, does not; a layer's packed weights, held apart
    as a ``LinearPackedParams``, are not a layer)."""
    cls = type(module)
    return cls.__module__.startswith(_STATIC) and not cls.__name__.endswith(
        ("FloatFunctional", "PackedParams")
    )


def copied(model: nn.Module) -> nn.Module:
    """A deep copy of ``model``. A tensor a hook computed from parameters and set as a plain
    attribute (``torch.nn.utils.prune``'s ``weight = weight_orig * mask``, the old
    ``weight_norm``'s weight), which holds autograd history after a forward, is one torch
    will not copy: the copy takes it detached (the hook computes it again at the next
    forward); the model keeps its own."""
    held = [
        (m, name, value)
        for m in model.modules()
        for name, value in vars(m).items()
        if isinstance(value, torch.Tensor) and value.grad_fn is not None
    ]
    for m, name, value in held:
        m.__dict__[name] = value.detach()
    try:
        return copy.deepcopy(model)
    except RuntimeError as error:
        raise StridescopeError(
            "fix swaps layers in a copy of the model, and torch cannot copy this one: "
            f"{str(error).split('.')[0]}"
        ) from None
    finally:
        for m, name, value in held:
            m.__dict__[name] = value
