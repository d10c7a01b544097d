"""Raw Keras operations that index or rearrange positions, as the PyTorch tracer's slicing
handlers read their torch counterparts: ``x[:, ::2, 1:7]``, ``ops.slice``, ``ops.split`` and
``image.crop_images`` are exact windows (:meth:`GraphBuilder.slice`); an integer index
(``y[:, -1, :]``, ``ops.take(y, i, axis)``, a piece of ``ops.unstack``) on a map whose
positions are known is a slice of one position and a reshape that drops the axis;
``ops.depth_to_space`` is a pixel shuffle (an exact scatter) and ``ops.space_to_depth`` a
pixel unshuffle (a kernel-``r``, stride-``r`` window); ``ops.take`` of constant indices along
an axis that is not spatial keeps every position, and so does ``ops.take(table, ids,
axis=0)`` of a weight table at traced ids (``layers.Embedding``): a row per id at the id's
position, so the receptive field follows the tokens; ``ops.flip``, ``ops.roll``,
``ops.repeat``, ``ops.tile`` and ``ops.take`` of constant indices along a spatial axis put
positions elsewhere on their axes (:mod:`.position_picks`). Anything else (a tensor index, tokens whose grid is a guess) is
left to the caller: data movement.

For example (Keras takes seconds to import, so not a doctest)::

    x = keras.Input((16, 16, 3))
    top, bottom = keras.ops.split(keras.layers.Conv2D(4, 1)(x), 2, axis=1)
    stridescope.summary(keras.Model(x, bottom)).input_coverage  # 0.5: the bottom rows
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from stridescope.frontends.keras.position_picks import moved_positions
from stridescope.ir import GraphBuilder, OpKind, Shape
from stridescope.ir.axes import Range, index_ranges, known_axes, picks_positions, slice_axes

__all__ = ["INDEX_OPS", "add_index_operation", "looked_up"]

INDEX_OPS = frozenset(
    {"GetItem", "CropImages", "Take", "Slice", "Split", "Unstack", "DepthToSpace"}
    | {"SpaceToDepth", "Flip", "Roll", "Repeat", "Tile", "TakeAlongAxis"}
)


def add_index_operation(
    b: GraphBuilder, parents: Sequence[int], op: Any, call: Any, name: str, outputs: list[Shape]
) -> list[int] | None:
    """The nodes of ``op`` (one of :data:`INDEX_OPS`, of one traced tensor; ``outputs``: the
    shapes Keras gives it), one per output; ``None`` where it is not read as positions."""
    cls = type(op).__name__
    if len(parents) != 1:
        return None
    parent, shape = parents[0], b.shape(parents[0])
    args: tuple[Any, ...] = tuple(call.arguments.args) if call is not None else ()
    if cls in ("Split", "Unstack"):
        return _pieces(b, parent, op, name, outputs)
    if len(outputs) != 1:
        return None
    out = outputs[0]
    node: int | None = None
    if cls == "GetItem":
        node = _picked(b, parent, args[1] if len(args) > 1 else None, out, name, cls)
    elif cls == "Take":  # ``take(x, i, axis)`` of one int: ``x[..., i, ...]`` on that axis
        index, axis = args[1] if len(args) > 1 else None, getattr(op, "axis", None)
        if type(index) is int and type(axis) is int:
            key = (slice(None),) * (axis % len(shape)) + (index,)
            node = _picked(b, parent, key, out, name, cls)
        elif type(axis) is int and len(out) == len(shape):  # (constant indices: one parent)
            node = _taken(b, parent, axis % len(shape), out, name, cls)
            node = moved_positions(b, parent, op, args, out, name) if node is None else node
    elif cls in ("Flip", "Roll", "Repeat", "Tile", "TakeAlongAxis"):
        node = moved_positions(b, parent, op, args, out, name)
    elif cls == "Slice":  # ``slice(x, start_indices, shape)``: int starts and sizes
        starts = _ints(args[1] if len(args) > 1 else None)
        sizes = _ints(getattr(op, "shape", None))
        if starts is not None and sizes is not None and len(starts) == len(sizes) == len(shape):
            ranges = [(s, s + n, 1) for s, n in zip(starts, sizes, strict=True)]
            node = _sliced(b, parent, ranges, out, name, cls)
    elif cls == "CropImages":
        cropped = _crop_ranges(op, shape, out)
        node = None if cropped is None else _sliced(b, parent, cropped, out, name, cls)
    else:
        node = _pixels(b, parent, op, name, out)
    return None if node is None else [node]


def looked_up(
    b: GraphBuilder,
    parent: int,
    op: Any,
    operands: Sequence[Any],
    name: str,
    outputs: list[Shape],
    weights: Callable[[], int],
) -> int | None:
    """``take(table, ids, axis=0)`` of a weight ``table`` (``layers.Embedding``) at traced
    ids whose positions are known: every position kept, the table's axis last, its weights
    counted here; ``None`` otherwise."""
    import keras

    table = operands[0] if len(operands) == 2 else None
    shape, out = b.shape(parent), outputs[0] if len(outputs) == 1 else ()
    if not isinstance(table, keras.Variable) or len(table.shape) != 2:
        return None
    if getattr(op, "axis", None) not in (0, -2) or tuple(out[: len(shape)]) != tuple(shape):
        return None
    if len(out) != len(shape) + 1 or not (axes := known_axes(b._nodes[parent], b.layout, b._nodes)):
        return None
    return b.other(
        parent, name, kind=OpKind.MOVE, output_shape=out, op="Take", params=weights(), keeps=axes
    )


def _taken(b: GraphBuilder, parent: int, axis: int, out: Shape, name: str, cls: str) -> int | None:
    """``take(x, indices, axis)`` along an axis that is not spatial (channels reordered or
    picked) of a map whose positions are known: every position kept, as the PyTorch
    tracer's ``index_select`` (:mod:`~stridescope.frontends.pytorch.handlers.selection`)."""
    axes = known_axes(b._nodes[parent], b.layout, b._nodes)
    if axes is None or axis in axes:
        return None
    return b.other(parent, name, kind=OpKind.MOVE, output_shape=out, op=cls, keeps=axes)


def _is_int(value: Any) -> bool:
    return type(value) is int  # (a Keras key's ints, as Python spells them)


def _ints(values: Any) -> tuple[int, ...] | None:
    """A list or tuple of non-negative ints as a tuple; ``None`` for anything else."""
    if isinstance(values, list | tuple) and all(type(v) is int and v >= 0 for v in values):
        return tuple(values)
    return None


def _pieces(
    b: GraphBuilder, parent: int, op: Any, name: str, outputs: list[Shape]
) -> list[int] | None:
    """``split`` into pieces along ``axis`` (windows of consecutive positions), ``unstack``
    into its positions (integer indexes); ``None`` where a piece is not read so."""
    shape = b.shape(parent)
    if None in shape or not outputs:
        return None
    axis = int(getattr(op, "axis", 0)) % len(shape)
    names = [name if not i else f"{name}:{i}" for i in range(len(outputs))]
    if type(op).__name__ == "Unstack":
        made = []
        for i, (out, piece) in enumerate(zip(outputs, names, strict=True)):
            key = (slice(None),) * axis + (i,)
            made.append(node := _picked(b, parent, key, out, piece, "Unstack"))
            if node is None:  # (the first piece: they share its checks, so none is made)
                return None
    else:  # every piece checked before any node is made (none left behind on a refusal)
        if any(len(o) != len(shape) or not o[axis] for o in outputs):
            return None
        stops = list(itertools.accumulate(int(o[axis] or 0) for o in outputs))
        if stops[-1] != shape[axis] or not slice_axes(b._nodes[parent], b.layout, b._nodes):
            return None
        pieces = []
        for out, start, stop in zip(outputs, [0, *stops], stops, strict=False):
            ranges = [(0, int(n or 0), 1) for n in shape]
            ranges[axis] = (start, stop, 1)
            pieces.append((ranges, out))
        if any(tuple(len(range(*q)) for q in r) != tuple(o) for r, o in pieces):
            return None
        made = [
            _sliced(b, parent, r, o, n, "Split") for (r, o), n in zip(pieces, names, strict=True)
        ]
    return None if None in made else [m for m in made if m is not None]


def _pixels(b: GraphBuilder, parent: int, op: Any, name: str, out: Shape) -> int | None:
    """``depth_to_space`` (a scatter of each position to ``r x r``) and ``space_to_depth`` (a
    window of ``r x r``) of 4-D maps in the graph's own data format."""
    cls, shape, r = type(op).__name__, b.shape(parent), getattr(op, "block_size", None)
    channels_last = getattr(op, "data_format", "channels_last") == "channels_last"
    if type(r) is not int or len(shape) != 4 or channels_last != (b.layout == "nhwc"):
        return None
    n, *sizes = shape
    c = sizes.pop() if channels_last else sizes.pop(0)
    if cls == "SpaceToDepth":  # (the shape checked first: no node left behind on a refusal)
        if any(d is None or d % r for d in sizes) or c is None:
            return None
        small = [int(d or 0) // r for d in sizes]
        made = (n, *small, c * r * r) if channels_last else (n, c * r * r, *small)
        return b.pixel_unshuffle(parent, name, factor=r, op=cls) if made == tuple(out) else None
    return b.resize(
        parent, name, kind=OpKind.PIXEL_SHUFFLE, output_shape=out, op=cls, repeat=(r, r)
    )


def _picked(b: GraphBuilder, parent: int, key: Any, out: Shape, name: str, op: str) -> int | None:
    """``x[key]`` with slices and ints: a slice as an exact window (:func:`_sliced`); with
    ints on a map whose positions are known (``y[:, -1, :]``, a TCN read at its last step),
    that slice keeps one position of each int's axis and a reshape drops those axes, as
    the PyTorch tracer's integer indexing. ``None`` where the positions are a guess (tokens)
    or the key is something else: data movement."""
    found = index_ranges(key, b.shape(parent), _is_int)
    if found is None:
        return None
    ranges, picked = found
    if not picked:
        return _sliced(b, parent, ranges, out, name, op)
    if not picks_positions(b._nodes[parent], b._nodes, ranges, b.shape(parent), b.layout):
        return None  # (tokens, or only axes of one position dropped)
    kept = tuple(len(range(*r)) for r in ranges)
    if tuple(d for a, d in enumerate(kept) if a not in picked) != out:
        return None
    sliced = _sliced(b, parent, ranges, kept, name, op)
    return None if sliced is None else b.squeeze(sliced, f"{name}/squeeze", axes=picked, op=op)


def _sliced(
    b: GraphBuilder, parent: int, ranges: list[Range], out: Shape, name: str, op: str
) -> int | None:
    """A slice as an exact window (:meth:`GraphBuilder.slice`), where it keeps Keras's shape."""
    if tuple(len(range(*r)) for r in ranges) != out:
        return None
    axes = slice_axes(b._nodes[parent], b.layout, b._nodes)  # (a signal's, moved ones, ...)
    return b.slice(parent, name, spatial=[ranges[a] for a in axes], output_shape=out, op=op)


def _crop_ranges(op: Any, shape: Shape, out: Shape) -> list[Range] | None:
    """``crop_images``' rows and columns kept (channels-last images, 4-D)."""
    if getattr(op, "data_format", "") != "channels_last" or len(shape) != 4 or None in shape:
        return None
    n, h, w, c = (d or 0 for d in shape)
    rows, cols = out[1] or 0, out[2] or 0
    top = op.top_cropping if op.top_cropping is not None else h - rows - (op.bottom_cropping or 0)
    left = op.left_cropping if op.left_cropping is not None else w - cols - (op.right_cropping or 0)
    return [(0, n, 1), (int(top), int(top) + rows, 1), (int(left), int(left) + cols, 1), (0, c, 1)]
