"""Data movement that puts positions elsewhere along their own axes: ``flip`` (``fliplr``,
``flipud``), ``roll``, ``rot90`` (a flip and a transpose), ``repeat_interleave`` and ``repeat`` / ``tile`` (positions repeated),
and an index of constants along one spatial axis (``x[:, :, idx]``,
``x.index_select(2, idx)``, an index that is not an arithmetic progression: a reversal, a
permutation, rows picked at will).

Each is a node of :meth:`~stridescope.ir.GraphBuilder.picked`: per spatial axis the input
position of each output, so coverage sees which positions an op after it reads (a flip then
every other row reads every other row; ``x[:, :, [0, 3, 7]]`` three rows); the receptive
field after one is ``?`` (the outputs' fields follow no pattern), unless only other axes
move. Until 2026-12-06 they were data movement whose positions coverage took to be read
whole: ``x.flip(2)[:, :, :4]`` said 100% of the input, where a third is read. A map whose positions are not where the layout puts them (moved by a
permute), ``roll`` without ``dims`` (over the flattened tensor) and a traced index stay data
movement, as before.

>>> import torch
>>> from torch import nn
>>> import stridescope
>>> class Mirror(nn.Module):
...     def forward(self, x):
...         return x.flip(3)[..., ::2]
>>> stridescope.summary(Mirror(), input_shape=(1, 1, 4, 6)).input_coverage
0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.along import dim_axes
from stridescope.frontends.pytorch.index_bounds import check_indices
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import spatial_axes
from stridescope.ir.resample import Picks, flip_picks, repeat_picks, roll_picks, tile_picks

__all__ = [
    "ROWS",
    "along",
    "constants",
    "flip",
    "index_along",
    "key_picks",
    "repeat_interleave",
    "roll",
    "rot90",
    "tile",
]


def _axes(t: Tracer, x: Any) -> tuple[int, ...]:
    """``x``'s spatial axes, where the layout puts them (its positions not moved by a
    permute, nor a rank-2 signal's); else :class:`NotHandled`."""
    if type(x) is not ShapeProxy:
        raise NotHandled
    axes = spatial_axes(x.ndim, t.builder.layout)
    if t.builder._nodes[x.node].spatial_at not in (None, axes) or not axes:
        raise NotHandled
    if None in [x.dims[a] for a in axes]:
        raise NotHandled
    return axes


def _sizes(x: ShapeProxy, axes: tuple[int, ...]) -> dict[int, int]:
    return {a: int(x.dims[a]) for a in axes}


def _made(t: Tracer, name: str, op: str, x: ShapeProxy, picks: Picks) -> ShapeProxy:
    return t.proxy(t.builder.picked(x.node, name, picks=picks, op=op), x)


def _dims(value: Any, rank: int) -> tuple[int, ...]:
    """Axes given as an int or a sequence of ints (:func:`.along.dim_axes`), at least one;
    else :class:`NotHandled` (torch's own error comes from the meta run)."""
    dims = dim_axes(value, rank)
    if dims is None:
        raise NotHandled
    return dims


def flip(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.flip(x, dims)``: each spatial axis among ``dims`` read backwards; ``fliplr``
    and ``flipud`` flip axis 1 and 0 (the channels and the batch of a map: positions stay)."""
    axes = _axes(t, input)
    if op.endswith(("fliplr", "flipud")):
        if args or kwargs:
            raise NotHandled
        flipped: tuple[int, ...] = (1,) if op.endswith("fliplr") else (0,)
    else:
        flipped = _dims(args[0] if args else kwargs.get("dims"), input.ndim)
    return _made(t, name, op, input, flip_picks(_sizes(input, axes), flipped))


def rot90(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.rot90(x, k, dims)`` of two spatial axes: as torch computes it, a flip (of
    ``dims[1]`` for ``k = 1``, of both for ``k = 2``, of ``dims[0]`` for ``k = 3``) and, for
    an odd ``k``, a transpose of the two axes (a permute: the positions follow it)."""
    axes = _axes(t, input)
    given = {**dict(zip(("k", "dims"), args, strict=False)), **kwargs}
    k: Any = given.get("k", 1)
    dims = _dims(given.get("dims", [0, 1]), input.ndim)
    if not is_int(k) or len(dims) != 2 or dims[0] == dims[1] or not set(dims) <= set(axes):
        raise NotHandled  # (axes that are not spatial, or torch's error: the meta run)
    turns = int(k) % 4
    flipped = {0: (), 1: (dims[1],), 2: dims, 3: (dims[0],)}[turns]
    picks = flip_picks(_sizes(input, axes), flipped)
    out = _made(t, name, op, input, picks) if flipped else input
    if turns % 2 == 0:
        return out
    order = list(range(input.ndim))
    order[dims[0]], order[dims[1]] = dims[1], dims[0]
    turned = t.builder.permute(out.node, t.unique(f"{name}.transpose"), dims=order, op=op)
    return t.proxy(turned, input)


def roll(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.roll(x, shifts, dims)``: each spatial axis among ``dims`` read from
    ``shift`` positions back, around the end (shifts on one axis add up)."""
    axes = _axes(t, input)
    given = {**dict(zip(("shifts", "dims"), args, strict=False)), **kwargs}
    if given.get("dims") is None:
        raise NotHandled  # over the flattened tensor: data movement
    dims = _dims(given["dims"], input.ndim)
    shifts = given.get("shifts")
    steps = (
        (shifts,) if is_int(shifts) else tuple(shifts) if isinstance(shifts, list | tuple) else ()
    )
    if len(steps) != len(dims) or not all(is_int(s) for s in steps):
        raise NotHandled
    picks = roll_picks(_sizes(input, axes), zip(dims, map(int, steps), strict=True))
    return _made(t, name, op, input, picks)


def repeat_interleave(t: Tracer, name: str, op: str, input: Any, *args: Any, **kw: Any) -> Any:
    """``x.repeat_interleave(r, dim)`` of an int ``r`` along a spatial axis: each position
    ``r`` times in a row (a nearest upsampling along that axis)."""
    axes = _axes(t, input)
    given = {**dict(zip(("repeats", "dim"), args, strict=False)), **kw}
    repeats: Any = given.get("repeats")
    dims: Any = given.get("dim")
    if not is_int(repeats) or repeats < 1 or set(given) - {"repeats", "dim", "output_size"}:
        raise NotHandled  # (a tensor of repeats: data movement)
    r, dim = int(repeats), _dims(dims, input.ndim)[0]  # (no dim: the flattened tensor)
    if dim not in axes:  # (the batch or the channels: data movement)
        raise NotHandled
    return _made(t, name, op, input, repeat_picks(_sizes(input, axes), dim, r))


def tile(t: Tracer, name: str, op: str, input: Any, *args: Any, **kw: Any) -> Any:
    """``x.repeat(*sizes)`` and ``torch.tile(x, dims)`` of as many ints as ``x`` has axes:
    each spatial axis read ``k`` times over, from its start; other axes repeated as torch
    repeats them (positions stay)."""
    axes = _axes(t, input)
    given = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    times = tuple(given or kw.get("dims", kw.get("repeats", ())))
    if kw.keys() - {"dims", "repeats"} or len(times) != input.ndim or not all(map(is_int, times)):
        raise NotHandled  # (more sizes than axes add axes in front: data movement)
    if min(times) < 1:
        raise NotHandled
    picks = tile_picks(_sizes(input, axes), {a: int(times[a]) for a in axes})
    out = tuple(int(d) * k for d, k in zip(input.dims, times, strict=True))
    node = t.builder.picked(input.node, name, picks=picks, output_shape=out, op=op)
    return t.proxy(node, input)


def constants(index: Any) -> list[int] | None:
    """A constant 1-D integer index (a real tensor or a list of ints) as its values; ``None``
    for anything else (a traced index, a mask, a float tensor)."""
    if isinstance(index, list) and index and all(is_int(i) for i in index):
        return [int(i) for i in index]
    if type(index) is not torch.Tensor or index.dim() != 1 or not 0 < index.numel() <= 65536:
        return None
    if index.is_meta or index.is_floating_point() or index.dtype in (torch.bool, torch.uint8):
        return None
    with torch._C.DisableTorchFunction():
        return index.tolist()  # (Python ints already)


def along(
    t: Tracer, name: str, op: str, x: Any, dim: int, index: Any, check: Callable[[], None]
) -> Any:
    """``x`` indexed along its spatial axis ``dim`` by a constant 1-D index (negative values
    from the end, as ``x[:, :, idx]`` takes them): per output, its row; ``check`` raises
    torch's error for an index outside the axis. :class:`NotHandled` for anything else."""
    axes = _axes(t, x)
    if dim not in axes:  # (before the values: a table indexed by 10,000 of them)
        raise NotHandled
    values = constants(index)
    if values is None:
        raise NotHandled
    check()
    n = int(x.dims[dim])
    picks: Picks = [tuple(v % n for v in values) if a == dim else None for a in axes]
    return _made(t, name, op, x, picks)


def index_along(t: Tracer, name: str, op: str, input: Any, dim: Any, index: Any) -> Any:
    """``x.index_select(dim, idx)`` along a spatial axis: :func:`along`."""
    if type(input) is not ShapeProxy or not is_int(dim) or not -input.ndim <= dim < input.ndim:
        raise NotHandled
    check = lambda: check_indices(torch.index_select, (input, dim, index), {})  # noqa: E731
    return along(t, name, op, input, dim % input.ndim, index, check)


def key_picks(t: Tracer, name: str, op: str, x: ShapeProxy, items: Sequence[Any]) -> Any:
    """``x[items]`` (``items`` one per axis) where one item is a constant 1-D index on a
    spatial axis and every other a full slice: :func:`along` that axis."""
    picked = [a for a, v in enumerate(items) if not (type(v) is slice and v == slice(None))]
    if len(picked) != 1:
        raise NotHandled
    dim = picked[0]

    def check() -> None:
        key = tuple(torch.tensor(v) if isinstance(v, list) else v for v in items)
        check_indices(torch.Tensor.__getitem__, (x, key), {})

    return along(t, name, op, x, dim, items[dim], check)


# the handlers of this module, as the function table registers them (data movement where
# they decline)
ROWS: list[tuple[Callable[..., Any], str]] = [
    (flip, "torch.flip Tensor.flip torch.fliplr torch.flipud Tensor.fliplr Tensor.flipud"),
    (roll, "torch.roll Tensor.roll"),
    (rot90, "torch.rot90 Tensor.rot90"),
    (repeat_interleave, "torch.repeat_interleave Tensor.repeat_interleave"),
    (tile, "Tensor.repeat torch.tile Tensor.tile"),
]
