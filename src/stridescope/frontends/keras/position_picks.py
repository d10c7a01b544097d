"""Raw Keras operations that put positions elsewhere along their own axes, as the PyTorch
tracer's :mod:`~stridescope.frontends.pytorch.handlers.position_picks` reads their torch
counterparts (the picks of :mod:`stridescope.ir.resample`): ``ops.flip``, ``ops.roll``, ``ops.repeat``, ``ops.tile``, ``ops.take`` of
constant indices along a spatial axis and ``ops.take_along_axis`` by an index the same at every
position of the other axes are a node of :meth:`~stridescope.ir.GraphBuilder.picked` (per spatial axis
the input position of each output), so coverage sees which positions an op after them
reads (the field after them is ``?``, unless only other axes move). A map whose positions are not where the
layout puts them, ``roll`` without an axis (over the flattened tensor) and anything else are
left to the caller: data movement.

For example (Keras takes seconds to import, so not a doctest)::

    x = keras.Input((12, 12, 1))
    y = keras.ops.flip(x, axis=1)[:, :4]
    stridescope.summary(keras.Model(x, y)).input_coverage  # 1/3: the last four rows
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stridescope.frontends.keras.axis_ops import op_axes
from stridescope.ir import GraphBuilder, LayerError, Shape, spatial_axes
from stridescope.ir.resample import (
    Picks,
    flip_picks,
    index_row,
    repeat_picks,
    roll_picks,
    tile_picks,
)

__all__ = ["moved_positions"]


def _axes(given: Any, rank: int) -> tuple[int, ...] | None:
    """An op's axes (:func:`.axis_ops.op_axes`; ``None``: every axis), or ``None`` for a
    value that is not axes (Keras checked their range when the model was built)."""
    try:
        found = op_axes(given, rank)
    except (TypeError, ValueError):
        return None
    return tuple(range(rank)) if found is None else tuple(found) or None


def _constants(index: Any) -> list[int] | None:
    """A constant 1-D index of integers (a list, a NumPy array) as its values."""
    if isinstance(index, list | tuple) and index and all(type(i) is int for i in index):
        return [int(i) for i in index]
    integers = isinstance(index, np.ndarray) and np.issubdtype(index.dtype, np.integer)
    if integers and index.ndim == 1 and index.size:
        return [int(i) for i in index]
    return None


def _row(index: Any, axis: Any, shape: Shape) -> list[int] | None:
    """``take_along_axis``'s constant integer index as its one row of positions
    (:func:`~stridescope.ir.resample.index_row`: Keras broadcasts it)."""
    if not isinstance(index, np.ndarray) or not np.issubdtype(index.dtype, np.integer):
        return None
    if type(axis) is not int:
        return None
    return index_row(index, axis % len(shape), [int(n or 0) for n in shape], broadcast=True)


def _picks(op: Any, args: tuple[Any, ...], shape: Shape, axes: tuple[int, ...]) -> Picks | None:
    """Per spatial axis of ``shape`` the source of each output; ``None`` where ``op`` is not
    read so."""
    cls, rank = type(op).__name__, len(shape)
    sizes = {a: int(shape[a] or 0) for a in axes}
    if cls == "Flip":
        flipped = _axes(op.axis, rank)
        return None if flipped is None else flip_picks(sizes, flipped)
    if cls == "Roll":
        rolled = None if op.axis is None else _axes(op.axis, rank)
        shifts = (op.shift,) if type(op.shift) is int else tuple(op.shift or ())
        if rolled is None or len(shifts) != len(rolled) or not all(type(s) is int for s in shifts):
            return None
        return roll_picks(sizes, zip(rolled, shifts, strict=True))
    if cls == "Repeat" and type(op.repeats) is int and op.repeats > 0 and op.axis is not None:
        along = _axes(op.axis, rank) or ()
        return repeat_picks(sizes, along[0], op.repeats) if len(along) == 1 else None
    if cls == "Tile":  # (as many repeats as axes: more add axes in front)
        times = tuple(op.repeats) if isinstance(op.repeats, list | tuple) else ()
        if len(times) != rank or not all(type(k) is int and k > 0 for k in times):
            return None
        return tile_picks(sizes, dict(enumerate(times)))
    axis = getattr(op, "axis", None)  # Take: constant indices along one spatial axis
    index = args[1] if len(args) > 1 else None
    values = _row(index, axis, shape) if cls == "TakeAlongAxis" else _constants(index)
    if type(axis) is not int or values is None or axis % rank not in axes:
        return None
    n = sizes[axis % rank]
    if not all(-n <= v < n for v in values):
        return None  # (Keras's own error, or its clipping: data movement)
    picks: Picks = [tuple(v % n for v in values) if a == axis % rank else None for a in sizes]
    return picks


def moved_positions(
    b: GraphBuilder, parent: int, op: Any, args: tuple[Any, ...], out: Shape, name: str
) -> int | None:
    """The node of ``ops.flip``, ``ops.roll``, ``ops.repeat``, ``ops.tile`` or ``ops.take``
    (constant indices) of a map whose positions are where the layout puts them, where it
    gives Keras's shape; ``None`` otherwise."""
    node, shape = b._nodes[parent], b.shape(parent)
    axes = spatial_axes(len(shape), b.layout)
    if node.spatial_at not in (None, axes) or not axes or None in shape:
        return None
    picks = _picks(op, args, shape, axes)
    if picks is None:
        return None
    try:  # (the builder checks that the picks give Keras's shape)
        return b.picked(parent, name, picks=picks, output_shape=out, op=type(op).__name__)
    except LayerError:
        return None
