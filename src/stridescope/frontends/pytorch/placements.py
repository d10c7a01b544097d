"""Writes into a canvas the forward made: ``canvas = x.new_zeros(1, 3, H, W)`` then
``canvas[0, :, :h, :w] = image`` or ``canvas[0, :c, :h, :w].copy_(image)`` (torchvision's
detectors batch their images so, each padded to a multiple of 32; a letterbox; a nested
tensor's padding).

The canvas holds nothing of the input before the write, so the write is a pad of the image:
its positions where the key puts them, the canvas's fill around. It is made as
:meth:`~stridescope.ir.GraphBuilder.pad` (after a reshape where an integer picks an axis: the
batch entry), so receptive fields and coverage go through it as through ``F.pad``; until
2026-12-07 it was data movement of unknown geometry ("receptive fields are unknown (?) from
setitem on"). Anything else stays a node made of the canvas and the value (see
:mod:`.views`): a canvas that already holds traced values, a step, a value broadcast into the
region, a write along the batch or channel axis.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Canvas(nn.Module):
...     def forward(self, x):
...         out = x.new_zeros(1, 3, 8, 8)
...         out[0, :, :6, :6] = x[0]
...         return out
>>> g = trace_torch(Canvas(), (1, 3, 6, 6))
>>> [(n.kind.value, n.output_shape) for n in g.nodes[-2:]]
[('reshape', (1, 3, 6, 6)), ('pad', (1, 3, 8, 8))]
>>> g.nodes[-1].window.padding
((0, 2), (0, 2))
"""

from __future__ import annotations

from typing import Any

from stridescope.frontends.pytorch.proxy import ShapeProxy, is_int
from stridescope.ir import OpKind

__all__ = ["placed"]

Region = list[tuple[int, int, bool]]  # per canvas axis: start, stop, picked by an integer


def placed(t: Any, name: str, op: str, canvas: ShapeProxy, key: Any, value: Any) -> int | None:
    """The node of ``canvas[key] = value`` as a pad of ``value`` where ``canvas`` is a tensor
    the forward made (a node without parents) and ``key`` a region of it that ``value`` fills
    exactly, along the spatial axes only; else ``None``."""
    made = t.builder._nodes[canvas.node]
    if made.parents or made.kind is not OpKind.MOVE or type(value) is not ShapeProxy:
        return None
    dims = canvas.dims
    region = _region(dims, key)
    if region is None or len(dims) < 3:
        return None
    sizes = tuple(stop - start for start, stop, _ in region)
    if (
        tuple(s for s, (_, _, picked) in zip(sizes, region, strict=True) if not picked)
        != value.dims
    ):
        return None
    if sizes[:2] != dims[:2]:  # (the batch entry and every channel: a pad of the positions)
        return None
    node = value.node
    if sizes != value.dims:  # (an integer picked the batch entry: the value gets its axis)
        node = t.builder.reshape(node, t.unique(f"{name}.placed"), output_shape=sizes, op=op)
    padding = [(start, d - stop) for (start, stop, _), d in zip(region[2:], dims[2:], strict=True)]
    pad: int = t.builder.pad(node, name, padding=padding, op=op)
    return pad


def _region(dims: tuple[int, ...], key: Any) -> Region | None:
    """Where ``canvas[key]`` lies, per axis, for ints, slices of step 1 and one ``...``;
    ``None`` for anything else (a new axis, a tensor, a step)."""
    items = key if type(key) is tuple else (key,)
    if sum(1 for i in items if i is Ellipsis) > 1 or any(i is None for i in items):
        return None
    taken = sum(1 for i in items if i is not Ellipsis)
    if taken > len(dims):
        return None
    region: Region = []
    for item in items:
        axis = len(region)
        if item is Ellipsis:
            region += [(0, d, False) for d in dims[axis : axis + len(dims) - taken]]
        elif is_int(item) and -dims[axis] <= item < dims[axis]:
            region.append((item % dims[axis], item % dims[axis] + 1, True))
        elif type(item) is slice and item.step in (None, 1) and _bound(item):
            start, stop, _ = item.indices(dims[axis])
            region.append((start, max(start, stop), False))
        else:
            return None
    return region + [(0, d, False) for d in dims[len(region) :]]


def _bound(item: slice) -> bool:
    return all(v is None or is_int(v) for v in (item.start, item.stop))
