"""How a value every element of a tensor holds carries through the calls made of it.

:mod:`.known_values` knows some tensors' values: a finite guard's masks, token ids compared
with a number, a mask given as an input (:mod:`.mask_inputs`). Before the forward reads one
(``bool()``, ``.item()``, ``int()``) it may do more to it: casts, views, slices,
expansions, resampling and pools that read no padding keep the value (DETR's pixel mask
resized to each feature map); sums multiply it by the elements summed (``(ids !=
pad).sum(1)``: the lengths of a batch without padding); means, maxima and minima keep it;
comparisons and arithmetic with a number, or with another tensor of one known value,
compute it; a concatenation or stack of tensors that all hold one value (known ones, and
real ones whose every element is it: ViLT joins the text mask to an image mask of ones)
holds it, and so does a tensor made from a traced one's shape and filled with one value
(``ones_like``, ``new_full``). Once a trace knows a value, it runs with :func:`valued`
handlers, which carry values so; a trace that knows none runs the table as it is.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stridescope.frontends.pytorch.proxy import ShapeProxy

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.handler_specs import FunctionSpec

__all__ = ["Value", "known_of", "node_of", "through_module", "valued"]

Value = bool | int | float  # every element's value


def known_of(tracer: Any, value: Any) -> Value | None:
    """The value of every element of ``value`` (a traced tensor's, where known; a number's
    own), else ``None``."""
    if type(value) is ShapeProxy:
        found: Value | None = tracer.known.get(value.node)
        return found
    if isinstance(value, bool | int | float):
        return value
    return None


def node_of(value: Any) -> int | None:
    return value.node if type(value) is ShapeProxy else None


# (the value of the first operand, the call's arguments, its output) -> the output's value
Rule = Callable[[Any, Value, tuple[Any, ...], dict[str, Any], ShapeProxy], Value | None]

_KEEP = (
    "view reshape contiguous clone detach to bool int long float half double type type_as "
    "expand expand_as unsqueeze squeeze flatten permute transpose t narrow select repeat tile "
    "reshape_as view_as __getitem__ movedim swapaxes mean amax amin "
    # resampling and pools that read no padding: a constant map stays one
    "interpolate upsample upsample_nearest upsample_bilinear max_pool1d max_pool2d max_pool3d "
    "adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d adaptive_avg_pool1d "
    "adaptive_avg_pool2d adaptive_avg_pool3d"
)
_TWO: dict[str, Callable[[Any, Any], Any]] = {
    **dict.fromkeys(("lt", "__lt__"), operator.lt),
    **dict.fromkeys(("le", "__le__"), operator.le),
    **dict.fromkeys(("gt", "__gt__"), operator.gt),
    **dict.fromkeys(("ge", "__ge__"), operator.ge),
    **dict.fromkeys(("add", "__add__", "__radd__"), operator.add),
    **dict.fromkeys(("sub", "__sub__"), operator.sub),
    **dict.fromkeys(("rsub", "__rsub__"), lambda a, b: b - a),
    **dict.fromkeys(("mul", "__mul__", "__rmul__"), operator.mul),
    **dict.fromkeys(("div", "true_divide", "__truediv__"), operator.truediv),
    "__rtruediv__": lambda a, b: b / a,
}


def _keep(
    t: Any, value: Value, args: tuple[Any, ...], kw: dict[str, Any], out: ShapeProxy
) -> Value:
    return value


def _sum(
    t: Any, value: Value, args: tuple[Any, ...], kw: dict[str, Any], out: ShapeProxy
) -> Value | None:
    """Each output element sums ``elements in / elements out`` equal values."""
    summed = math.prod(args[0].dims)
    kept = math.prod(out.dims)
    return value * (summed // kept) if kept and summed % kept == 0 else None


def _extreme(
    t: Any, value: Value, args: tuple[Any, ...], kw: dict[str, Any], out: ShapeProxy
) -> Value | None:
    """``max`` / ``min`` of the tensor alone (of two tensors, element-wise: not its value)."""
    others = (*args[1:], *kw.values())
    return None if any(isinstance(a, ShapeProxy | torch.Tensor) for a in others) else value


def _two(how: Callable[[Any, Any], Any]) -> Rule:
    def rule(
        t: Any, value: Value, args: tuple[Any, ...], kw: dict[str, Any], out: ShapeProxy
    ) -> Value | None:
        other = args[1] if len(args) > 1 else kw.get("other")
        known = known_of(t, other)
        if known is None or kw.get("alpha", 1) != 1:
            return None
        try:
            found: Value = how(value, known)
        except ZeroDivisionError:
            return None
        return found

    return rule


def _rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = dict.fromkeys(_KEEP.split(), _keep)
    rules.update(sum=_sum, nansum=_sum, max=_extreme, min=_extreme)
    rules.update({name: _two(how) for name, how in _TWO.items()})
    return rules


def _cast(value: Value, dtype: torch.dtype) -> Value | None:
    if dtype is torch.bool:
        return bool(value)
    if dtype.is_complex:
        return None
    return float(value) if dtype.is_floating_point else int(value)


def _give(t: Any, out: ShapeProxy, found: Value | None, sources: tuple[Any, ...]) -> None:
    """``out`` holds ``found`` (as its dtype holds it; nothing where unknown or complex)."""
    cast = None if found is None else _cast(found, out.dtype)
    if cast is not None:
        t.known.derive(out.node, cast, sources)


def _carry(handler: Any, rule: Rule) -> Any:
    """``handler`` (a spec's, or what it falls back on), giving its output the value
    ``rule`` finds."""

    def valued_handler(t: Any, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        out = handler(t, name, op, *args, **kwargs)
        # (a cast that keeps the node, ``to`` a dtype it has, keeps the node's value as it is)
        first = args[0] if args else None
        if type(out) is ShapeProxy and type(first) is ShapeProxy and out.node != first.node:
            value = t.known.get(first.node)
            _give(t, out, None if value is None else rule(t, value, args, kwargs, out), args)
        return out

    return valued_handler


def _constant(t: Any, part: Any) -> Value | None:
    """The value every element of ``part`` holds: a traced tensor's where known, a real
    tensor's where all its elements are equal; else ``None``."""
    if type(part) is ShapeProxy:
        return known_of(t, part)
    if type(part) is not torch.Tensor or part.is_meta or part.numel() == 0 or part.is_complex():
        return None
    first = part.reshape(-1)[0]
    return first.item() if bool((part == first).all()) else None


def _joined(handler: Any) -> Any:
    """``handler`` of a concatenation or stack, giving its output the value all its parts
    hold, where they hold one."""

    def valued_handler(t: Any, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        out = handler(t, name, op, *args, **kwargs)
        parts = args[0] if args else kwargs.get("tensors")
        if type(out) is ShapeProxy and isinstance(parts, list | tuple) and parts:
            values = {_constant(t, p) for p in parts}
            if len(values) == 1 and None not in values:
                _give(t, out, values.pop(), tuple(parts))
        return out

    return valued_handler


_JOINS = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack"})


def _fill(args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kw.get("fill_value")


# tensors made from a traced one's shape, filled with one value (a mask of ones beside it)
_FILLED: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    **dict.fromkeys(("ones_like", "new_ones"), lambda args, kw: 1),
    **dict.fromkeys(("zeros_like", "new_zeros"), lambda args, kw: 0),
    **dict.fromkeys(("full_like", "new_full"), _fill),
}


def _filled(handler: Any, fill: Callable[[tuple[Any, ...], dict[str, Any]], Any]) -> Any:
    """``handler`` of ``ones_like``, ``new_full``..., giving its output the value it fills."""

    def valued_handler(t: Any, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        out = handler(t, name, op, *args, **kwargs)
        value = fill(args, kwargs)
        if type(out) is ShapeProxy and isinstance(value, bool | int | float):
            _give(t, out, value, ())
        return out

    return valued_handler


# layers that keep a constant input constant: pools that read no padding, resampling, shape
_KEEPING = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Upsample,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
)


def through_module(t: Any, module: nn.Module, x: Any, out: Any) -> None:
    """A layer's output keeps its input's known value where the layer is one of
    :data:`_KEEPING` (CANINE's mask pooled by an ``nn.MaxPool1d`` made in its forward)."""
    kept = type(x) is ShapeProxy and type(out) is ShapeProxy and isinstance(module, _KEEPING)
    if kept and out.node != x.node:
        _give(t, out, t.known.get(x.node), (x,))


def _wrappers() -> dict[str, Callable[[Any], Any]]:
    """Per function name, what makes its handler carry values: a rule's, a join's or a
    fill's."""
    wrappers: dict[str, Callable[[Any], Any]] = {
        name: partial(_carry, rule=rule) for name, rule in _rules().items()
    }
    wrappers.update(dict.fromkeys(_JOINS, _joined))
    wrappers.update({name: partial(_filled, fill=fill) for name, fill in _FILLED.items()})
    return wrappers


_VALUED: dict[int, tuple[Mapping[Any, FunctionSpec], dict[Any, FunctionSpec]]] = {}


def valued(table: Mapping[Any, FunctionSpec]) -> Mapping[Any, FunctionSpec]:
    """``table`` with the handlers of the functions above carrying known values (made once
    per table)."""
    found = _VALUED.get(id(table))
    if found is not None and found[0] is table:
        return found[1]
    wrappers = _wrappers()
    made = dict(table)
    for func, spec in table.items():
        wrap = wrappers.get(getattr(func, "__name__", ""))
        if wrap is not None and not spec.inplace:
            otherwise = None if spec.otherwise is None else wrap(spec.otherwise)
            made[func] = replace(spec, handler=wrap(spec.handler), otherwise=otherwise)
    _VALUED[id(table)] = (table, made)
    _VALUED[id(made)] = (made, made)  # (a valued table is its own)
    return made
