"""Layers whose class subclasses ``nn.ConvNd`` / ``nn.MaxPoolNd`` with a ``forward`` of its own:
timm's ``Conv2dSame`` and ``MaxPool2dSame`` pad by the stride (TensorFlow's "same"), its
``StdConv2d`` / ``ScaledStdConv2d`` standardise the weight first. The IR names their op
``<module path>.conv2d``; such a layer is swapped as a copy of its module at the plan's stride
and padding, whose own ``forward`` still does the rest, and checked on the IR: the module and
its copy are traced alone on the layer's input, and the copy must read the windows the plan
asks for, shifted by a whole number of outputs at most, which a crop then removes (a
``Conv2dSame`` at stride 1 pads both sides where the plan keeps the stride-2 layer's one-sided
padding). Anything else (a forward with more than one such op, a padding the copy cannot
give) is left with the reason. The crop is exact at the input size fixed for (as Keras'
``'same'``), and the weights are the module's own: nothing the forward does to them is lost.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from stridescope.frontends.pytorch.trace import trace_torch
from stridescope.ir import Graph, Node, OpKind, Shape
from stridescope.surgery.plans import Restride

__all__ = ["custom_layer", "measured", "restrided_copy"]

_BASES = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd)
_CROPS: dict[int, Any] = {1: nn.ConstantPad1d, 2: nn.ConstantPad2d, 3: nn.ConstantPad3d}


def custom_layer(model: nn.Module, node: Node) -> tuple[str, nn.Module] | None:
    """The module path and module whose ``forward`` made ``node`` (``<path>.conv2d``) when it
    is a conv or max pool subclass (not a transposed conv); else ``None``."""
    path = node.name.rpartition(".")[0]
    if not path:
        return None
    try:
        module = model.get_submodule(path)
    except AttributeError:
        return None
    if not isinstance(module, _BASES) or isinstance(module, nn.modules.conv._ConvTransposeNd):
        return None
    return path, module


def _like(old: Any, new: tuple[int, ...]) -> Any:
    """``new`` as the module held the old value: one int for every axis, or a tuple."""
    return new[0] if isinstance(old, int) and len(set(new)) == 1 else new


def measured(module: nn.Module, made: nn.Module, input_shape: Shape) -> tuple[int, int]:
    """Δparams and ΔMACs of ``made`` against ``module``, each traced alone on its input: what
    a checked copy costs (its forward's padding may compute outputs the crop then drops)."""
    old, new = trace_torch(module, input_shape), trace_torch(made, input_shape)
    return new.params - old.params, new.macs - old.macs


@dataclass(frozen=True)
class _Geometry:
    """A module's one conv or pool (``node``) and the padding the pads before it add, per
    axis (before, after), summed."""

    before: tuple[tuple[int, int], ...]
    node: Node

    def left(self, own: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
        return tuple(b[0] + p[0] for b, p in zip(self.before, own, strict=True))


def _geometry(graph: Graph, kind: OpKind) -> _Geometry | None:
    """The module's geometry: pads, then exactly one op of ``kind``; ``None`` otherwise."""
    windowed = [n for n in graph.nodes if n.window is not None]
    main = [n for n in windowed if n.kind is kind]
    if len(main) != 1:
        return None
    pads = [n for n in windowed if n.id < main[0].id]
    if any(n.kind is not OpKind.PAD for n in windowed if n is not main[0]):
        return None
    rank = len(main[0].window.kernel) if main[0].window else 0
    before = [(0, 0)] * rank
    for pad in pads:
        assert pad.window is not None
        if len(pad.window.padding) != rank:  # (a pad of the channels too)
            return None
        before = [
            (b[0] + p[0], b[1] + p[1]) for b, p in zip(before, pad.window.padding, strict=True)
        ]
    return _Geometry(tuple(before), main[0])


def restrided_copy(
    module: nn.Module, node: Node, step: Restride, input_shape: Shape
) -> list[tuple[str, nn.Module]] | str:
    """A copy of ``module`` at the stride and padding of ``step`` (and a crop where it pads
    more than the plan), or why there is none."""
    what = type(module).__name__
    pads = [p[0] for p in step.padding]
    if any(b != a for b, a in step.padding):
        return f"{what} at stride 1 would need padding {step.padding}, not the same on both sides"
    new = copy.deepcopy(module)
    setattr(new, "stride", _like(module.stride, step.stride))  # noqa: B010 (typed as a module)
    if not isinstance(getattr(new, "padding", None), str):
        setattr(new, "padding", _like(getattr(module, "padding", 0), tuple(pads)))  # noqa: B010
    try:
        old_at, new_at = (_geometry(trace_torch(m, input_shape), node.kind) for m in (module, new))
    except Exception as error:  # (a forward that cannot run on its own)
        return f"{what}'s forward could not be read on its own: {error}"
    if old_at is None or new_at is None:
        return f"{what}'s forward is not pads then one {node.kind}: left as it is"
    old_w, new_w = old_at.node.window, new_at.node.window
    assert old_w is not None and new_w is not None
    if (new_w.kernel, new_w.dilation, new_w.stride) != (old_w.kernel, old_w.dilation, step.stride):
        return f"{what} at stride {step.stride}: its forward reads other windows"
    wanted = old_at.left(step.padding)  # the plan: the layer's own padding at the new stride
    given = new_at.left(new_w.padding)
    spatial = len(step.stride)
    sizes = input_shape[-spatial:]
    crops = []
    for axis in range(spatial):
        shift, s = given[axis] - wanted[axis], step.stride[axis]
        pad_total = sum(old_at.before[axis]) + sum(step.padding[axis])
        span = old_w.dilation[axis] * (old_w.kernel[axis] - 1) + 1
        size = (int(sizes[axis] or 0) + pad_total - span) // s + 1
        got = new_at.node.output_shape[2 + axis] or 0
        if shift < 0 or shift % s or got - size - shift // s < 0:
            return f"{what} at stride {step.stride} pads its input otherwise than the plan"
        crops.append((shift // s, got - size - shift // s))
    parts: list[tuple[str, nn.Module]] = [
        ("conv" if node.kind is OpKind.CONV else "pool", new.train(module.training))
    ]
    if any(c != (0, 0) for c in crops):
        amounts = tuple(-c for pair in reversed(crops) for c in pair)  # (F.pad: last axis first)
        parts.append(("crop", _CROPS[spatial](amounts, 0.0)))
    return parts
