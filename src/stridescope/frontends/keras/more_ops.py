"""More raw Keras operations, counted as the PyTorch tracer counts their torch counterparts:
writes (``slice_update``, ``scatter_update``: the ``__setitem__`` / ``index_put`` of torch)
and segment reductions (``segment_sum``, ``segment_max``: ``scatter_add``, one MAC per value
added) as data movement made of every traced operand; the products ``cross`` (two MACs per
output element), ``kron`` and ``outer`` (one), ``inner`` and ``tensordot`` (one per output and
contracted element) and ``trace`` (one per output and diagonal element); ``moments`` as its two
reductions (mean and variance over ``axes``; ``quantile`` is a reduction of :mod:`.axis_ops`); ``select`` and
``searchsorted`` position-wise; ``dot`` a product (of a number, element-wise); the cross
entropies as torch's losses (one MAC per score, the class axis reduced; binary, one per
element); the linear systems and factorizations (``solve``,
``solve_triangular``, ``cholesky``, ``lu_factor``, ``qr``, ``inv``, ``det``) as products counted by
:data:`stridescope.ir.solves.SOLVES`; ``stack`` of traced tensors of one shape a concatenation
along the new axis that keeps every position (:meth:`GraphBuilder.stack`); indexing, slices,
splits and ``image.crop_images`` as exact windows (:mod:`.index_ops`); ``image.pad_images``
as data movement, ``image.rgb_to_grayscale`` (a weighted sum of the channels: one MAC per
input element) and ``image.map_coordinates`` (a lookup at positions that are data: it reads
every position).

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
from functools import partial
from typing import Any

from stridescope.frontends.keras.index_ops import INDEX_OPS, add_index_operation, looked_up
from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.ir import GraphBuilder, OpKind, Shape, reduced_shape
from stridescope.ir.axes import stackable
from stridescope.ir.solves import SOLVES

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


def _free(op: Any, shapes: Dims, out: int) -> int:
    return 0


def _per_output(op: Any, shapes: Dims, out: int) -> int:
    return out


def _by_number(shapes: Dims) -> bool:
    """Whether a ``dot`` multiplies by a number (a Python one has no shape, a 0-d tensor an
    empty one): element-wise."""
    return len(shapes) < 2 or not all(shapes)


def _dot(op: Any, shapes: Dims, out: int) -> int:
    """numpy's ``dot``: a number times a tensor (one MAC per output element), else the last
    axis of the first operand contracted (with the second's only or second-to-last)."""
    return out if _by_number(shapes) else out * shapes[0][-1]


def _solved(how: str, op: Any, shapes: Dims, out: int) -> int:
    """A linear system or factorization of the first operand, a matrix (or a batch); QR in
    its ``mode``."""
    key = f"qr_{getattr(op, 'mode', 'reduced')}" if how == "qr" else how
    count = SOLVES.get(key)
    return count(shapes[0], out) if count is not None and len(shapes[0]) >= 2 else 0


# data movement: writes (slice_update, scatter_update), image padding, lookups at positions
# that are data, tensors made in a tensor's shape, copies, parts of complexes
_MOVES = (
    "SliceUpdate ScatterUpdate PadImages MapCoordinates ZerosLike OnesLike FullLike Copy "
    "StopGradient Real Imag Array"
)
_SELECTS = "Select SearchSorted NanToNum"  # position-wise selections: no MACs
# one MAC per output element: products of vectors (kron, outer), element-wise arithmetic
# priced as a divide (floor_divide, mod), a gate (glu: one half gates the other), polar
# (abs * exp(i angle)), ranges between traced ends (start + i * step, or its power)
_PER_OUTPUT = "Kron Outer FloorDivide Mod Glu Polar Linspace Logspace Geomspace"
# kind and MACs per op class; the rest of an op's outputs are as Keras shapes them
_COUNTED: dict[str, tuple[OpKind, Macs]] = {
    **dict.fromkeys(_MOVES.split(), (OpKind.MOVE, _free)),
    **dict.fromkeys(_SELECTS.split(), (OpKind.ACTIVATION, _free)),
    **dict.fromkeys(_PER_OUTPUT.split(), (OpKind.MUL, _per_output)),
    "SegmentSum": (OpKind.MOVE, lambda op, s, out: math.prod(s[0])),
    "SegmentMax": (OpKind.MOVE, lambda op, s, out: math.prod(s[0])),
    "Cross": (OpKind.MUL, lambda op, s, out: 2 * out),
    "Inner": (OpKind.MATMUL, _contracted),
    "Tensordot": (OpKind.MATMUL, _contracted),
    "Trace": (OpKind.ADD, _trace),
    "RGBToGrayscale": (OpKind.MUL, lambda op, s, out: out * s[0][-1]),
    # pairwise distances (..., P, M) to (..., R, M): one MAC per output and feature, as torch's
    "CDist": (OpKind.MATMUL, lambda op, s, out: out * s[0][-1]),
    "Dot": (OpKind.MATMUL, _dot),
    # losses of a target and scores, as torch's: cross entropies read each score once (a
    # log-softmax, a pick or a product) and reduce the class axis; binary, element-wise
    "CategoricalCrossentropy": (OpKind.REDUCE, lambda op, s, out: math.prod(s[1])),
    "SparseCategoricalCrossentropy": (OpKind.REDUCE, lambda op, s, out: math.prod(s[1])),
    "BinaryCrossentropy": (OpKind.ADD, lambda op, s, out: out),
    # linear systems and their factorizations, as torch's (:mod:`stridescope.ir.solves`)
    **{
        cls: (OpKind.MATMUL, partial(_solved, how))
        for cls, how in (
            ("SolveTriangular", "triangular"),
            ("Cholesky", "cholesky"),
            ("CholeskyInverse", "cholesky_inverse"),
            ("LuFactor", "lu"),
            ("Solve", "solve"),
            ("Inv", "inv"),
            ("Det", "det"),
            ("Qr", "qr"),
        )
    },
}
MORE_OPS = frozenset({*_COUNTED, *INDEX_OPS, "Moments", "Stack"})


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
    lookup = cls == "Take" and len(parents) == 1  # (an embedding table's rows, at traced ids)
    if lookup and (node := looked_up(b, parents[0], op, operands, name, outputs, weights)):
        return [node]
    if cls in INDEX_OPS:
        return add_index_operation(b, parents, op, call, name, outputs)
    if len(parents) != 1 and cls == "Moments":
        return None
    if cls == "Stack":  # of traced tensors of one shape, their spatial axes in one place
        nodes = [b._nodes[p] for p in parents]
        if len(operands) != len(parents) or len(outputs) != 1 or not stackable(nodes):
            return None  # (a constant among them, or shapes or axes that differ: movement)
        axis = int(op.axis) % (len(nodes[0].output_shape) + 1)
        return [b.stack(list(parents), name, axis=axis, output_shape=outputs[0], op=cls)]
    if cls == "Moments":  # the mean and the variance, each a reduction over ``axes``
        shape = b.shape(parents[0])
        given = op.axes if isinstance(op.axes, list | tuple) else [op.axes]  # (or one int)
        axes = [int(a) % len(shape) for a in given]
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
    shapes = operand_shapes(b, parents, operands)
    if cls == "Dot" and _by_number(shapes):
        kind = OpKind.MUL
    count = macs(op, shapes, math.prod(d or 1 for d in outputs[0]))
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
