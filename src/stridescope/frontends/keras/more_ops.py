"""More raw Keras operations, counted as the PyTorch tracer counts their torch counterparts:
writes (``slice_update``, ``scatter_update``: the ``__setitem__`` / ``index_put`` of torch)
and segment reductions (``segment_sum``, ``segment_max``: ``scatter_add``, one MAC per value
added) as data movement made of every traced operand; the products ``cross`` (two MACs per
output element), ``kron`` (one), ``inner`` and ``tensordot`` (one per output and contracted
element) and ``trace`` (one per output and diagonal element); ``moments`` as its two
reductions (mean and variance over ``axes``; ``quantile`` is a reduction of :mod:`.axis_ops`); ``select`` and
``searchsorted`` position-wise; ``stack`` of traced tensors of one shape a concatenation
along the new axis that keeps every position (:meth:`GraphBuilder.stack`); indexing with slices (``x[:, ::2, 1:7]``) and
``image.crop_images`` as exact windows (:meth:`GraphBuilder.slice`, as the PyTorch tracer's
slices); ``image.pad_images`` as data movement, ``image.rgb_to_grayscale`` (a weighted sum of
the channels: one MAC per input element) and ``image.map_coordinates`` (a lookup at
positions that are data: it reads every position).

For example (Keras takes seconds to import, so not a doctest)::

    x = keras.Input((8, 8, 3))
    mean, var = keras.ops.moments(x, axes=[1, 2])
    g = read_keras(keras.Model(x, keras.ops.kron(mean, var)), (1, 8, 8, 3))
    [(n.op, n.output_shape, n.macs) for n in g.nodes[1:] if n.macs]
    # [('Moments', (1, 1, 1, 3), 192), ('Moments', (1, 1, 1, 3), 192), ('Kron', (1, 9), 9)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.ir import GraphBuilder, OpKind, Shape, reduced_shape
from stridescope.ir.axes import followed, signal_of, slice_axes, stackable

__all__ = [
    "MORE_OPS",
    "add_more_operation",
    "constant_shape",
    "each_output",
    "operand_shapes",
]

Dims = list[tuple[int, ...]]  # the operands' shapes
Macs = Callable[[Any, Dims, int], int]  # (op, operand shapes, output elements) -> MACs


def _contracted(op: Any, shapes: Dims, out: int) -> int:
    """``inner`` (the last axis) and ``tensordot`` (its ``axes``) of the first operand."""
    first = shapes[0]
    axes = getattr(op, "axes", 1)
    if isinstance(axes, int):
        taken = first[len(first) - axes :]
    else:
        picked = axes[0] if isinstance(axes[0], list | tuple) else [axes[0]]
        taken = tuple(first[int(a)] for a in picked)
    return out * math.prod(taken)


def _trace(op: Any, shapes: Dims, out: int) -> int:
    first = shapes[0]
    return out * min(first[int(op.axis1)], first[int(op.axis2)])


# kind and MACs per op class; the rest of an op's outputs are as Keras shapes them
_COUNTED: dict[str, tuple[OpKind, Macs]] = {
    "SliceUpdate": (OpKind.MOVE, lambda op, s, out: 0),
    "ScatterUpdate": (OpKind.MOVE, lambda op, s, out: 0),
    "SegmentSum": (OpKind.MOVE, lambda op, s, out: math.prod(s[0])),
    "SegmentMax": (OpKind.MOVE, lambda op, s, out: math.prod(s[0])),
    "Cross": (OpKind.MUL, lambda op, s, out: 2 * out),
    "Kron": (OpKind.MUL, lambda op, s, out: out),
    "Inner": (OpKind.MATMUL, _contracted),
    "Tensordot": (OpKind.MATMUL, _contracted),
    "Trace": (OpKind.ADD, _trace),
    "Select": (OpKind.ACTIVATION, lambda op, s, out: 0),
    "SearchSorted": (OpKind.ACTIVATION, lambda op, s, out: 0),
    "CropImages": (OpKind.MOVE, lambda op, s, out: 0),
    "PadImages": (OpKind.MOVE, lambda op, s, out: 0),
    "RGBToGrayscale": (OpKind.MUL, lambda op, s, out: out * s[0][-1]),
    "MapCoordinates": (OpKind.MOVE, lambda op, s, out: 0),
    # tensors made in a tensor's shape, copies, and element-wise ops that compare or select
    "ZerosLike": (OpKind.MOVE, lambda op, s, out: 0),
    "OnesLike": (OpKind.MOVE, lambda op, s, out: 0),
    "FullLike": (OpKind.MOVE, lambda op, s, out: 0),
    "Copy": (OpKind.MOVE, lambda op, s, out: 0),
    "StopGradient": (OpKind.MOVE, lambda op, s, out: 0),
    "Real": (OpKind.MOVE, lambda op, s, out: 0),
    "Imag": (OpKind.MOVE, lambda op, s, out: 0),
    "NanToNum": (OpKind.ACTIVATION, lambda op, s, out: 0),
    # element-wise arithmetic: one MAC per output element, as a divide
    "FloorDivide": (OpKind.MUL, lambda op, s, out: out),
    "Mod": (OpKind.MUL, lambda op, s, out: out),
    "Glu": (OpKind.MUL, lambda op, s, out: out),  # one half gates the other
}
MORE_OPS = frozenset({*_COUNTED, "Moments", "GetItem", "Stack", "Take"})
Range = tuple[int, int, int]


def slice_ranges(key: Any, shape: Shape) -> tuple[list[Range], list[int]] | None:
    """``x[key]`` per axis as ``(start, stop, step)``, normalised as Python slices them, when
    the key is slices with int bounds and positive steps (and at most one ``...``) that keep
    something, and ints (one position: ``(i, i + 1, 1)``, its axis among those picked, which
    the output drops); ``None`` for anything else (``None``, a tensor).

    >>> slice_ranges((slice(None), slice(None, None, 2), Ellipsis), (1, 9, 8, 3))
    ([(0, 1, 1), (0, 9, 2), (0, 8, 1), (0, 3, 1)], [])
    >>> slice_ranges((slice(None), -1), (1, 9, 3))
    ([(0, 1, 1), (8, 9, 1), (0, 3, 1)], [1])
    """
    items = key if isinstance(key, tuple) else (key,)
    rank = len(shape)
    dots = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(dots) > 1 or any(d is None for d in shape):
        return None
    if dots:
        items = (
            *items[: dots[0]],
            *(slice(None),) * (rank - len(items) + 1),
            *items[dots[0] + 1 :],
        )
    items = (*items, *(slice(None),) * (rank - len(items)))
    ranges: list[Range] = []
    picked: list[int] = []
    for item, n in zip(items, shape, strict=False):
        if len(items) != rank:
            return None
        if type(item) is int and -(n or 0) <= item < (n or 0):
            picked.append(len(ranges))
            ranges.append((item % (n or 1), item % (n or 1) + 1, 1))
            continue
        if not isinstance(item, slice):
            return None
        if not all(v is None or type(v) is int for v in (item.start, item.stop, item.step)):
            return None
        start, stop, step = item.indices(n or 0)
        if step < 1 or stop <= start:
            return None
        ranges.append((start, stop, step))
    return ranges, picked


def _picked(b: GraphBuilder, parent: int, key: Any, out: Shape, name: str, op: str) -> int | None:
    """``x[key]`` with slices and ints: a slice as an exact window (:func:`_sliced`); with
    ints on a map whose positions are known (``y[:, -1, :]``, a TCN read at its last step),
    that slice keeps one position of each int's axis and a reshape drops those axes, as
    the PyTorch tracer's integer indexing. ``None`` where the positions are a guess (tokens)
    or the key is something else: data movement."""
    found = slice_ranges(key, b.shape(parent))
    if found is None:
        return None
    ranges, picked = found
    if not picked:
        return _sliced(b, parent, ranges, out, name, op)
    node, shape = b._nodes[parent], b.shape(parent)
    if all([r == (0, n, 1) for r, n in zip(ranges, shape, strict=True)]):
        return None  # only axes of one position dropped: nothing read is left out
    if not (signal_of(node) or followed(node, b._nodes)):
        return None
    kept = tuple(len(range(*r)) for r in ranges)
    if tuple(d for a, d in enumerate(kept) if a not in picked) != out:
        return None
    sliced = _sliced(b, parent, ranges, kept, name, op)
    return None if sliced is None else b.reshape(sliced, f"{name}/squeeze", output_shape=out, op=op)


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


def add_more_operation(
    b: GraphBuilder,
    parents: Sequence[int],
    op: Any,
    call: Any,
    name: str,
    operands: Sequence[Any],
    weights: Callable[[], int],
) -> list[int] | None:
    """The nodes of ``op`` (one of :data:`MORE_OPS`; ``operands``: its arguments with a shape,
    ``weights()``: the elements of the weights among them not counted before, marked counted
    as it answers), one per output; ``None`` where it is not followed (the caller makes it
    uncounted)."""
    cls = type(op).__name__
    outputs = keras_shapes(b, parents, op, call)
    if len(parents) != 1 and cls in ("GetItem", "CropImages", "Moments", "Take"):
        return None
    if cls in ("GetItem", "CropImages"):
        shape = b.shape(parents[0])
        if len(outputs) != 1:
            return None
        if cls == "GetItem":
            key = call.arguments.args[1] if call is not None else None
            sliced = _picked(b, parents[0], key, outputs[0], name, cls)
        else:
            ranges = _crop_ranges(op, shape, outputs[0])
            sliced = (
                None if ranges is None else _sliced(b, parents[0], ranges, outputs[0], name, cls)
            )
        return None if sliced is None else [sliced]
    if cls == "Take":  # ``take(x, i, axis)`` of one int: ``x[..., i, ...]`` on that axis
        args: tuple[Any, ...] = tuple(call.arguments.args) if call is not None else ()
        index, axis = args[1] if len(args) > 1 else None, getattr(op, "axis", None)
        if type(index) is not int or type(axis) is not int or len(outputs) != 1:
            return None
        key = (slice(None),) * (axis % len(b.shape(parents[0]))) + (index,)
        node = _picked(b, parents[0], key, outputs[0], name, cls)
        return None if node is None else [node]
    if cls == "Stack":  # of traced tensors of one shape, their spatial axes in one place
        nodes = [b._nodes[p] for p in parents]
        if len(operands) != len(parents) or len(outputs) != 1 or not stackable(nodes):
            return None  # (a constant among them, or shapes or axes that differ: movement)
        axis = int(op.axis) % (len(nodes[0].output_shape) + 1)
        return [b.stack(list(parents), name, axis=axis, output_shape=outputs[0], op=cls)]
    if cls == "Moments":  # the mean and the variance, each a reduction over ``axes``
        shape = b.shape(parents[0])
        axes = [int(a) % len(shape) for a in op.axes]
        keepdim = bool(op.keepdims)
        if any(reduced_shape(shape, axes, keepdim) != out for out in outputs):
            return None
        return [
            b.reduce(
                parents[0],
                f"{name}:{i}" if i else name,
                mode="avg",
                axes=axes,
                keepdim=keepdim,
                op=cls,
            )
            for i in range(len(outputs))
        ]
    kind, macs = _COUNTED[cls]
    count = macs(op, operand_shapes(b, parents, operands), math.prod(d or 1 for d in outputs[0]))
    return each_output(
        b, parents, op, call, name, kind=kind, params=weights(), macs=count, shapes=outputs
    )


def operand_shapes(
    b: GraphBuilder, parents: Sequence[int], operands: Sequence[Any]
) -> list[tuple[int, ...]]:
    """Each operand's shape: a symbolic one's is its parent's (in order), a weight's or a
    constant's its own."""
    import keras

    traced, shapes = iter(parents), []
    for v in operands:
        dims = b.shape(next(traced)) if isinstance(v, keras.KerasTensor) else constant_shape(v)
        shapes.append(tuple(int(d or 1) for d in dims))
    return shapes


def constant_shape(value: Any) -> Shape:
    """The shape of an operand that is not a symbolic tensor (``()`` for a number)."""
    return tuple(int(d) for d in getattr(value, "shape", ()))


def each_output(
    b: GraphBuilder,
    parents: Sequence[int],
    op: Any,
    call: Any,
    name: str,
    *,
    kind: OpKind,
    params: int,
    note: str = "",
    macs: int = 0,
    shapes: Sequence[Shape] | None = None,
) -> list[int]:
    """One node per output of ``op`` (``name``, ``name:1``...) with the shape Keras computes
    (``shapes``, where the caller has them), ``params`` and ``macs`` on the first; uncounted
    nodes are marked so, with ``note``."""
    return [
        b.other(
            list(parents),
            name if i == 0 else f"{name}:{i}",
            kind=kind,
            output_shape=shape,
            params=params if i == 0 else 0,
            macs=macs if i == 0 else 0,
            counted=kind is not OpKind.UNCOUNTED,
            note=note,
            op=type(op).__name__,
        )
        for i, shape in enumerate(keras_shapes(b, parents, op, call) if shapes is None else shapes)
    ]
