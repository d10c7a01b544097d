"""Plans turned into PyTorch modules: surgery by module path on a deep copy of the model.

A layer is swapped only when its module path names an ``nn.Conv1d/2d/3d`` or
``nn.MaxPool1d/2d/3d`` whose ``forward`` is the class's own (found by the class's
``forward``, as the tracer does); a conv called functionally inside a ``forward`` has no
module to swap and is reported unchanged, with that reason. The replacement is an
``nn.Sequential`` with named parts (``conv``/``pool``, ``blur``, ``aps``), or the zoo's
:class:`~stridescope.ops.space_to_depth.SpaceToDepthConv`; weights and biases are copied
exactly, on the old module's device and dtype, and the training mode is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from itertools import chain
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from stridescope.ir import Graph, Node, OpKind, Shape
from stridescope.ops.blurpool import Blur
from stridescope.ops.polyphase import AdaptivePolyphase
from stridescope.ops.space_to_depth import SpaceToDepthConv
from stridescope.surgery.estimate import LayerCheck
from stridescope.surgery.plans import (
    AvgPoolStep,
    BlurStep,
    Plan,
    PolyphaseStep,
    Restride,
    SpaceToDepthStep,
    Step,
)
from stridescope.surgery.torch_custom import custom_layer, measured, restrided_copy
from stridescope.surgery.torch_models import copied, model_refusal

__all__ = ["apply_torch", "layer_check"]

_CONVS: dict[Any, type[nn.Module]] = {c.forward: c for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d)}
_MAXPOOLS: dict[Any, type[nn.Module]] = {
    c.forward: c for c in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
}
_AVGPOOLS: tuple[type[nn.Module], ...] = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def _swappable(model: nn.Module, node: Node) -> tuple[nn.Module | None, str]:
    """The module at ``node``'s path, or why there is none that can be swapped."""
    try:
        module = model.get_submodule(node.name)
    except AttributeError:
        return None, (
            "not a module path (a functional call inside a forward, or a module called a "
            "second time): only nn.Conv* and nn.MaxPool* modules (or their subclasses) can "
            "be swapped"
        )
    table = _CONVS if node.kind is OpKind.CONV else _MAXPOOLS
    if "forward" in module.__dict__ or type(module).forward not in table:
        return None, (
            f"{type(module).__name__} is not an nn.Conv*/nn.MaxPool* with its own forward: "
            "only those can be swapped"
        )
    if parametrize.is_parametrized(module) or module._forward_pre_hooks or module._forward_hooks:
        return None, (
            "its weight is parametrized or it has hooks (weight_norm, spectral_norm, "
            "torch.nn.utils.parametrize, a forward hook), which the layers swapped in would "
            "not carry: left as it is"
        )
    return module, ""


def _symmetric(padding: Iterable[tuple[int, int]]) -> tuple[int, ...] | None:
    pads = list(padding)
    return None if any(b != a for b, a in pads) else tuple(b for b, _ in pads)


def _restride(module: Any, step: Restride) -> nn.Module | str:
    pads = _symmetric(step.padding)
    if pads is None:
        return f"padding {step.padding} is not the same on both sides of an axis"
    base = _CONVS.get(type(module).forward)
    if base is None:  # a max pool (not one that returns indices: policies._refusal)
        pool_class = _MAXPOOLS[type(module).forward]
        return pool_class(
            module.kernel_size, step.stride, pads, module.dilation, ceil_mode=module.ceil_mode
        )
    weight = module.weight
    conv: Any = base(
        *_channels(module),
        module.kernel_size,
        step.stride,
        pads,
        module.dilation,
        module.groups,
        module.bias is not None,
        module.padding_mode,
        device="meta",  # (its own tensors are never used: the layer's are)
    )
    _hold(conv, "weight", weight)
    _hold(conv, "bias", module.bias)
    return cast(nn.Module, conv)


def _channels(module: Any) -> tuple[int, int]:
    """A conv's input and output channels, as its weight holds them (a weight pruned by hand
    may leave ``in_channels`` / ``out_channels`` as they were; torch runs the weight)."""
    shape = module.weight.shape
    return int(shape[1]) * module.groups, int(shape[0])


def _hold(layer: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
    """``layer.<name>`` is the old layer's own ``tensor``, the same object: a weight tied to
    another layer stays tied, and a plain tensor stays a plain tensor (not a new parameter)."""
    if tensor is None or isinstance(tensor, nn.Parameter):
        setattr(layer, name, tensor)
        return
    delattr(layer, name)
    setattr(layer, name, tensor)


def _copy(target: torch.Tensor, source: torch.Tensor) -> None:
    with torch.no_grad():
        target.copy_(source)
    target.requires_grad_(source.requires_grad)


def _space_to_depth(module: Any) -> nn.Module:
    """The zoo's space-to-depth + 1x1 whose weight is the old one on phase (0, 0)."""
    weight = module.weight  # (C_out, C_in, 1, 1)
    op = SpaceToDepthConv(*_channels(module), bias=module.bias is not None)
    op = op.to(device=weight.device, dtype=weight.dtype)
    new = torch.zeros_like(op.conv.weight)  # (C_out, 4 C_in, 1, 1), channels c*4 + 2i + j
    new[:, 0::4] = weight.detach()
    _copy(op.conv.weight, new)
    op.conv.weight.requires_grad_(weight.requires_grad)
    if module.bias is not None and op.conv.bias is not None:
        _copy(op.conv.bias, module.bias)
    return op


class Swapped(nn.Sequential):
    """The parts that replace a layer, in order. The layer's attributes (its settings,
    ``kernel_size``, ``stride``..., and what a parent attached to it) still answer as the
    layer's: a parent's forward may read them (timm's DaViT pads its input to a multiple of
    ``self.conv.kernel_size``; ultralytics' model routes each layer's input by the ``f`` it
    set on the layer), and the parts keep the layer's output shape for any input.

    >>> conv = nn.Conv2d(3, 8, 2, stride=2)
    >>> swapped = Swapped(OrderedDict(blur=nn.Identity(), conv=conv), conv)
    >>> swapped.kernel_size, swapped.out_channels, isinstance(swapped, nn.Sequential)
    ((2, 2), 8, True)
    """

    def __init__(self, parts: OrderedDict[str, nn.Module], replaced: nn.Module) -> None:
        super().__init__(parts)
        self.settings = {
            k: v for k, v in vars(replaced).items() if not k.startswith("_") and k != "training"
        }

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            settings = self.__dict__.get("settings", {})
            if name in settings:
                return settings[name]
            raise


def _part(
    module: Any, node: Node, step: Step, channels: int, device: torch.device
) -> tuple[str, nn.Module | str]:
    if isinstance(step, Restride):
        return ("conv" if node.kind is OpKind.CONV else "pool"), _restride(module, step)
    if isinstance(step, SpaceToDepthStep) and type(module).forward not in _CONVS:
        return "s2d", (
            f"s2d rebuilds the conv from its weight, and {type(module).__name__}'s forward "
            "does more with it (padding, standardisation)"
        )
    if isinstance(step, BlurStep):
        blur = Blur(channels, step.size, step.stride, len(step.stride), step.padding)
        return "blur", blur.to(device)
    if isinstance(step, AvgPoolStep):
        pool = _AVGPOOLS[len(step.size) - 1]
        return "pool", pool(step.size, step.size, ceil_mode=True, count_include_pad=False)
    if isinstance(step, PolyphaseStep):
        return "aps", AdaptivePolyphase()
    return "s2d", _space_to_depth(module)


def _replacement(
    module: Any,
    node: Node,
    plan: Plan,
    channels: tuple[int, int],
    device: torch.device,
    inputs: Shape | None = None,
) -> nn.Module | str:
    """``module`` rebuilt under ``plan``; ``channels``: (input, output) of the layer;
    ``inputs``: the module's input shape where its class has a forward of its own (then its
    restrided part is a checked copy, :mod:`.torch_custom`)."""
    parts: list[tuple[str, nn.Module]] = []
    current = channels[0]
    for step in plan.steps:
        if isinstance(step, Restride) and inputs is not None:  # a subclass with its forward
            copied = restrided_copy(module, node, step, inputs)
            if isinstance(copied, str):
                return copied
            parts += copied
            current = channels[1]
            continue
        name, made = _part(module, node, step, current, device)
        if isinstance(made, str):
            return made
        parts.append((name, made))
        if isinstance(step, Restride | SpaceToDepthStep):
            current = channels[1]
    built = parts[0][1] if len(parts) == 1 else Swapped(OrderedDict(parts), module)
    return built.train(module.training)


def apply_torch(
    model: nn.Module, plans: dict[str, tuple[Node, Plan, tuple[int, int]]], graph: Graph
) -> tuple[nn.Module, dict[str, str], dict[str, tuple[int, int]]]:
    """A deep copy of ``model`` with each planned layer (by node name = module path, or
    ``<path>.conv2d`` inside a conv subclass's own forward) replaced; returns it with the
    reasons for the planned layers that could not be swapped (``graph``: the model's IR) and
    the Δparams and ΔMACs measured for those swapped as checked copies."""
    fixed = copied(model)
    device = _device(fixed)
    refused: dict[str, str] = {}
    costs: dict[str, tuple[int, int]] = {}
    for name, (node, plan, channels) in plans.items():
        swap = _swap(fixed, graph, node, plan, channels, device)
        if isinstance(swap, str):
            refused[name] = swap
            continue
        module, made, cost = swap
        if cost is not None:
            costs[name] = cost
        _put(fixed, module, made)
    return fixed, refused, costs


def _device(model: nn.Module) -> torch.device:
    """Where the model's first parameter or buffer is (the CPU for a model without)."""
    first = next(chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if first is None else first.device


def _swap(
    model: nn.Module,
    graph: Graph,
    node: Node,
    plan: Plan,
    channels: tuple[int, int],
    device: torch.device,
) -> tuple[nn.Module, nn.Module, tuple[int, int] | None] | str:
    """The module of ``node`` in ``model``, its replacement under ``plan`` and, where that is
    a checked copy of a conv subclass (:mod:`.torch_custom`), its measured Δparams and ΔMACs;
    or why the layer stays as it is."""
    inputs = None
    module, why = _swappable(model, node)
    if module is None and (found := custom_layer(model, node)) is not None:
        module, inputs = found[1], _module_input(graph, node, found[0])
    if module is None:
        return why
    made = _replacement(module, node, plan, channels, device, inputs)
    if isinstance(made, str):
        return made
    return module, made, None if inputs is None else measured(module, made, inputs)


def layer_check(model: nn.Module) -> LayerCheck:
    """What ``fix`` would do with a layer of ``model`` (``fix_estimate``'s ``check``): why it
    leaves the layer (a functional call, a hooked or parametrized conv), or the cost it
    measures for a conv subclass's checked copy; ``None`` where it swaps the module at the
    IR's price. Each layer is looked at once per plan."""
    device = _device(model)
    refusal = model_refusal(model)  # (the whole model: every layer)
    seen: dict[tuple[str, Plan], str | tuple[int, int] | None] = {}

    def check(graph: Graph, node: Node, plan: Plan) -> str | tuple[int, int] | None:
        key = (node.name, plan)
        if refusal:
            return refusal
        if key not in seen:
            module, why = _swappable(model, node)
            if module is not None:
                seen[key] = None  # (an nn.Conv*/MaxPool*: swapped at the IR's price)
            elif custom_layer(model, node) is None:
                seen[key] = why
            else:
                channels = (graph.channels(node.input_shape), graph.channels(node.output_shape))
                made = _swap(model, graph, node, plan, (channels[0] or 0, channels[1] or 0), device)
                seen[key] = made if isinstance(made, str) else made[2]
        return seen[key]

    return check


def _put(model: nn.Module, module: nn.Module, made: nn.Module) -> None:
    """``made`` in every place of ``model`` that holds ``module`` (its path, and another
    where it is registered twice, ``self.alias = self.down``; called twice from an
    ``nn.Sequential(conv, act, conv)``): the forward calls the swapped layer wherever it
    called the old one, and a shared layer stays shared."""
    for parent in model.modules():
        for key, held in list(parent._modules.items()):
            if held is module:
                setattr(parent, key, made)


def _module_input(graph: Graph, node: Node, path: str) -> Shape:
    """The input shape of the module at ``path`` whose forward made ``node``: up its first
    parents while they are the module's own ops (``<path>.pad``)."""
    inside = path + "."
    while node.parents and graph.nodes[node.parents[0]].name.startswith(inside):
        node = graph.nodes[node.parents[0]]
    return node.input_shape
