"""Torch calls run on meta tensors for their output shapes, remembered per argument layout.

The tracer runs an op it has no shape rule for (``torch.roll``, ``unbind``, advanced
indexing...) on meta tensors, and the parameter mode runs computations on parameters alone
the same way. A network repeats the same call in every block, and some meta kernels are Python
decompositions costing a millisecond; so the output's layout is remembered per (function,
argument shapes, strides, dtypes and other arguments) and later calls only allocate empty meta
tensors of that layout.

>>> import torch
>>> x = torch.empty(2, 3, device="meta")
>>> [tuple(t.shape) for t in meta_call(torch.unbind, (x,), {"dim": 1})]
[(2,), (2,), (2,)]
>>> [tuple(t.shape) for t in meta_call(torch.unbind, (x,), {"dim": 1})]  # remembered
[(2,), (2,), (2,)]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.index_bounds import INDEXING, check_indices
from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["map_values", "meta_call", "to_meta", "walk_values"]


def walk_values(value: Any) -> list[Any]:
    """Every leaf of nested lists, tuples and dicts (a call's arguments), in order: a list,
    built without a generator per level.

    >>> walk_values(((1, [2, 3]), {"k": 4}))
    [1, 2, 3, 4]
    """
    if not isinstance(value, list | tuple | dict):
        return [value]
    found: list[Any] = []
    _collect(value, found)
    return found


def _collect(value: list[Any] | tuple[Any, ...] | dict[Any, Any], found: list[Any]) -> None:
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, list | tuple | dict):
            _collect(item, found)
        else:
            found.append(item)


def map_values(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``value`` with ``fn`` applied to every leaf, the nesting kept."""
    if isinstance(value, list | tuple):
        return type(value)(map_values(item, fn) for item in value)
    if isinstance(value, dict):
        return {k: map_values(v, fn) for k, v in value.items()}
    return fn(value)


def to_meta(value: Any) -> Any:
    """A meta tensor for a proxy or a real tensor; anything else as it is."""
    if isinstance(value, ShapeProxy):
        return torch.empty(value.dims, dtype=value.dtype, device="meta")
    if isinstance(value, torch.Tensor) and value.device.type != "meta":
        return value.detach().to("meta")
    return value


def _value_or_meta(value: Any) -> Any:
    """A real 0-d tensor's value (a fill value, a bound); :func:`to_meta` else.

    >>> _value_or_meta(torch.tensor(2.0)), _value_or_meta(torch.ones(2)).device.type
    (2.0, 'meta')
    """
    if type(value) is torch.Tensor and value.device.type != "meta" and value.dim() == 0:
        return value.item()
    return to_meta(value)


def _ints_kept(value: Any) -> Any:
    """A real integer tensor as it is (``repeat_interleave``'s repeats, ``tensor_split``'s
    indices: the output's size is their values, and those kernels read them on the CPU beside
    a meta input); :func:`_value_or_meta` else.

    >>> x = torch.empty(3, 2, device="meta")
    >>> torch.repeat_interleave(x, _ints_kept(torch.tensor([1, 2, 0])), dim=0).shape
    torch.Size([3, 2])
    """
    if (
        type(value) is torch.Tensor
        and value.device.type == "cpu"
        and value.dim() > 0
        and not value.is_floating_point()
        and not value.is_complex()
    ):
        return value
    return _value_or_meta(value)


# (func, described arguments) -> the result's layout (see ``_layout``)
_MEMO: dict[Any, Any] = {}
_MEMO_LIMIT = 4096


def _describe(value: Any) -> Any:
    """A hashable stand-in for an argument: what a meta run's output can depend on (the
    common kinds first: a call's tuple of tensors and numbers).

    >>> _describe((torch.empty(2, 3), 1, [True, 1.0]))
    ('tuple', ('tensor', torch.Size([2, 3]), (3, 1), torch.float32, 0), \
(<class 'int'>, 1), ('list', (<class 'bool'>, True), (<class 'float'>, 1.0)))
    """
    kind = type(value)
    if kind is tuple or kind is list:
        return (kind.__name__, *[_describe(v) for v in value])
    if kind in _NUMBERS:  # 1, 1.0 and True are equal keys: the type tells them apart
        return (kind, value)
    if kind is ShapeProxy:  # becomes a contiguous meta tensor
        return ("proxy", value.dims, value.dtype)
    if isinstance(value, torch.Tensor):
        return ("tensor", value.shape, value.stride(), value.dtype, value.storage_offset())
    if isinstance(value, list | tuple):  # (a named tuple, torch.Size)
        return (kind.__name__, *[_describe(v) for v in value])
    if isinstance(value, dict):
        return ("dict", *[(k, _describe(v)) for k, v in value.items()])
    if isinstance(value, slice):  # not hashable before Python 3.12
        return ("slice", value.start, value.stop, value.step)
    return value


_NUMBERS = frozenset({int, float, bool, complex})


def _layout(result: Any) -> Any:
    """What rebuilds ``result`` with empty meta tensors: a tensor's shape, strides and dtype,
    or a list or tuple of such; ``None`` for anything else (not remembered)."""
    if isinstance(result, torch.Tensor):
        return ("tensor", tuple(result.shape), result.stride(), result.dtype)
    if type(result) in (list, tuple) or type(result).__module__ == "torch.return_types":
        parts = [_layout(r) for r in result]  # (torch's named tuples: (values, indices))
        if all(p is not None for p in parts):
            return (type(result), parts)
    return None


_META = torch.device("meta")  # (parsed once, not per tensor)


def _rebuild(layout: Any) -> Any:
    if layout[0] == "tensor":
        return torch.empty_strided(layout[1], layout[2], dtype=layout[3], device=_META)
    return layout[0](_rebuild(p) for p in layout[1])


_MOVES = (torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda)
_STAND_IN_LIMIT = 2**24  # elements of stand-in tensors at most (64 MiB of float32)


def _stand_in_layout(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], error: Exception
) -> Any:
    """The result's layout (:func:`_layout`) of an op torch has no meta kernel for, from two
    runs on real tensors standing in for the traced and meta ones (:func:`_stand_in`). A
    layout that differs between the runs (an output sized by the values, as ``bincount``'s),
    or a run that fails, re-raises ``error``, as do weights packed in a TorchScript object or
    quantized (a quantized layer's: they could not be counted).

    >>> ids = torch.empty(4, dtype=torch.long, device="meta")
    >>> _stand_in_layout(torch.bincount, (ids,), {}, ValueError("sized by its values"))
    Traceback (most recent call last):
    ...
    ValueError: sized by its values
    """
    values = walk_values((args, kwargs))
    real = [v for v in values if isinstance(v, torch.Tensor) and not v.is_meta]
    if any(isinstance(v, torch.ScriptObject) for v in values) or any(v.is_quantized for v in real):
        raise error
    device = real[0].device if real else None
    stand_ins = [found[0] for v in values if (found := _shape_and_dtype(v)) is not None]
    if sum(math.prod(shape) for shape in stand_ins) > _STAND_IN_LIMIT:
        raise error
    layouts = []
    for counting in (False, True):
        fill = functools.partial(_stand_in, counting=counting, device=device)
        try:
            layouts.append(_layout(func(*map_values(args, fill), **map_values(kwargs, fill))))
        except Exception:
            raise error from None
    if layouts[0] is None or layouts[0] != layouts[1]:
        raise error
    return layouts[0]


def _shape_and_dtype(value: Any) -> tuple[tuple[int, ...], torch.dtype] | None:
    """A traced or meta tensor's shape and dtype; ``None`` for anything else."""
    if type(value) is ShapeProxy:
        return value.dims, value.dtype
    if isinstance(value, torch.Tensor) and value.is_meta:
        return tuple(value.shape), value.dtype
    return None


def _stand_in(value: Any, counting: bool, device: torch.device | None) -> Any:
    """A real tensor for a traced or meta one: zeros, or (``counting``) the values 0 to 6 in
    turn (0 and 1 for booleans); anything else as it is."""
    found = _shape_and_dtype(value)
    if found is None:
        return value
    shape, dtype = found
    n = math.prod(shape)
    if not counting:
        return torch.zeros(shape, dtype=dtype, device=device)
    return (
        (torch.arange(n, device=device) % (2 if dtype == torch.bool else 7)).to(dtype).view(shape)
    )


def _moved_on_meta(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """A move to a device (``w.to(x.device)``, ``.cpu()``, ``.cuda()``) as a move to meta: a
    meta tensor cannot be copied to a real device, and the move changes no shape.

    >>> _, args, kwargs = _moved_on_meta(torch.Tensor.cuda, (torch.empty(2),), {"device": 0})
    >>> args[1:], kwargs
    (('meta',), {})
    """
    if func is torch.Tensor.to:
        args = tuple("meta" if isinstance(a, str | torch.device) else a for a in args)
        return func, args, {**kwargs, "device": "meta"} if "device" in kwargs else kwargs
    kept = {k: v for k, v in kwargs.items() if k in ("non_blocking", "memory_format")}
    return torch.Tensor.to, (args[0], "meta"), kept


def meta_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func`` on meta tensors (proxies and real tensors among the arguments converted); a
    new result's layout is remembered per argument layout. An in-place op always runs (its
    result is its first argument). A move to a device stays on meta."""
    if func in _MOVES:
        func, args, kwargs = _moved_on_meta(func, args, kwargs)
    elif func in INDEXING:  # (meta kernels take any index: the values are read here)
        check_indices(func, args, kwargs)
    name = str(getattr(func, "__name__", ""))
    fresh = not name.startswith("__i") and not (name.endswith("_") and not name.endswith("__"))
    key: Any = None
    if fresh:
        key = (func, _describe(args), _describe(kwargs) if kwargs else None)
        try:
            known = _MEMO.get(key)
        except TypeError:  # an unhashable argument: no memo
            known, key = None, None
        if known is not None:
            return _rebuild(known)
    try:
        result = func(*map_values(args, to_meta), **map_values(kwargs, to_meta))
    except NotImplementedError as error:  # no meta kernel in torch (ctc_loss, histogram...)
        result = _rebuild(_stand_in_layout(func, args, kwargs, error))
        key = None  # (real tensors among the arguments may size it by their values: kept)
    except RuntimeError as error:
        try:  # a real scalar tensor read as a value (new_full(size, stride))
            result = func(*map_values(args, _value_or_meta), **map_values(kwargs, _value_or_meta))
        except RuntimeError:  # real integer tensors read as values: kept (see _ints_kept)
            try:
                result = func(*map_values(args, _ints_kept), **map_values(kwargs, _ints_kept))
            except Exception:  # torch's first word stands
                raise error from None
            key = None  # (the output depends on their values: not remembered)
    if key is not None and (layout := _layout(result)) is not None:
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = layout
    return result
