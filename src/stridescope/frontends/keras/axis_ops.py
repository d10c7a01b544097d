"""Raw Keras operations along axes, counted as the PyTorch tracer counts their torch
counterparts: reductions that are not sums or return indices (``argmax``, ``median``,
``logsumexp``, ``norm``, ``var``...) as :meth:`GraphBuilder.reduce` makes them (over spatial
axes a global pool); scans, sorting, ``top_k`` and ``diff`` as :meth:`GraphBuilder.along`
makes them (one MAC per input element, ``diff`` per output element; along a spatial axis the
window of what each output reads); Fourier transforms (``fft``, ``fft2``, ``rfft``,
``irfft``: the last one or two axes, as Keras transforms them) as a product of ``log2(n)``
MACs per element of the larger side. A second output (indices, an imaginary part) is a free
node read from the first. An operation whose axes this does not follow is left to the
caller (``None``), which makes it uncounted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.ir import GraphBuilder, OpKind, Shape, reduced_shape

__all__ = [
    "AXIS_OPS",
    "add_axis_operation",
    "moved_node",
    "op_axes",
    "outputs_beside",
    "permuted_node",
    "reduction_node",
    "reshaped_size",
    "swapped_node",
]

_REDUCTIONS = {
    "Argmax": "max",
    "Argmin": "max",
    "Median": "max",
    "All": "max",
    "Any": "max",
    "Logsumexp": "avg",
    "Prod": "avg",
    "Var": "avg",
    "Std": "avg",
    "CountNonzero": "avg",
    "Norm": "avg",
    "Quantile": "max",
    "Amax": "max",
    "Amin": "max",
    "Ptp": "max",
    "Percentile": "max",
    "Average": "avg",
    "Trapezoid": "avg",
}
# NumPy's reductions that skip NaNs: read as the plain ones
_NAN_MAX = ["Nanmax", "Nanmin", "Nanargmax", "Nanargmin", "Nanmedian", "Nanpercentile"]
_REDUCTIONS |= dict.fromkeys([*_NAN_MAX, "Nanquantile"], "max")
_REDUCTIONS |= dict.fromkeys(["Nanmean", "Nansum", "Nanprod", "Nanstd", "Nanvar"], "avg")
_ALONG = {
    "Cumsum": "scan",
    "Cumprod": "scan",
    "Sort": "whole",
    "Argsort": "whole",
    "TopK": "whole",
    "Diff": "diff",
    "Nancumsum": "scan",
    "Nancumprod": "scan",
    "Argpartition": "whole",
}
_FOURIER = {"FFT": 1, "RFFT": 1, "IRFFT": 1, "FFT2": 2, "IFFT2": 2}  # the last 1 or 2 axes
AXIS_OPS = frozenset({*_REDUCTIONS, *_ALONG, *_FOURIER})


def op_axes(value: Any, rank: int | None = None) -> list[int] | None:
    """An op's ``axis`` as a list of ints (``None``: every axis), modulo ``rank`` if given."""
    if value is None:
        return None
    values = [int(a) for a in ([value] if isinstance(value, int) else value)]
    return values if rank is None else [a % rank for a in values]


def reduction_node(b: GraphBuilder, parent: int, op: Any, name: str, mode: str) -> int:
    """A reduction over the op's ``axis`` (``keepdims`` as it says) as
    :meth:`GraphBuilder.reduce` makes it: ``mean`` / ``sum`` / ``max`` / ``min`` and
    :data:`AXIS_OPS`' reductions alike."""
    axes, keepdim = op_axes(getattr(op, "axis", None)), bool(getattr(op, "keepdims", False))
    return b.reduce(parent, name, mode=mode, axes=axes, keepdim=keepdim, op=type(op).__name__)


def outputs_beside(
    b: GraphBuilder,
    first: int,
    name: str,
    shapes: Sequence[Shape],
    *,
    kind: OpKind,
    op: str,
    start: int = 1,
) -> list[int]:
    """Nodes for an op's outputs from number ``start`` on (``shapes``: theirs): 0-MAC nodes
    read from its ``first`` node, named ``<name>:<start>``, ``<name>:<start + 1>``..."""
    return [
        b.other(first, f"{name}:{i}", kind=kind, output_shape=shape, op=op)
        for i, shape in enumerate(shapes, start=start)
    ]


def add_axis_operation(
    b: GraphBuilder, parents: Sequence[int], op: Any, call: Any, name: str
) -> list[int] | None:
    """The nodes of ``op`` (one of :data:`AXIS_OPS`), one per output; ``None`` where its
    axes are not followed (the caller makes it uncounted)."""
    cls = type(op).__name__
    outputs = keras_shapes(b, parents, op, call)
    shape = b.shape(parents[0])
    rank = len(shape)
    first: int | None
    if cls == "Norm" and _spectral(op):
        return None  # (singular values: uncounted, as svd)
    if cls in _REDUCTIONS:
        axes = op_axes(getattr(op, "axis", None), rank)
        keepdims = bool(getattr(op, "keepdims", False))
        if len(parents) != 1 or reduced_shape(shape, axes, keepdims) != outputs[0]:
            return None
        first = reduction_node(b, parents[0], op, name, _REDUCTIONS[cls])
    else:
        first = _along(b, parents, op, name, outputs[0])
    if first is None:
        return None
    return [first, *outputs_beside(b, first, name, outputs[1:], kind=OpKind.REDUCE, op=cls)]


def _spectral(op: Any) -> bool:
    """``ops.norm`` of a matrix's singular values: ``ord`` ``'nuc'``, 2 or -2 over two axes."""
    axis = getattr(op, "axis", None)
    return (
        getattr(op, "ord", None) in ("nuc", 2, -2)
        and isinstance(axis, tuple | list)
        and len(axis) == 2
    )


def _along(b: GraphBuilder, parents: Sequence[int], op: Any, name: str, out: Shape) -> int | None:
    cls = type(op).__name__
    shape = b.shape(parents[0])
    rank = len(shape)
    if None in shape or None in out:
        return None
    size = math.prod(int(d or 0) for d in shape)
    if cls in _ALONG and getattr(op, "axis", -1) is None and len(parents) == 1 and out == (size,):
        # (numpy's cumsum, sort... without an axis: along the flattened tensor)
        flat = (
            parents[0]
            if rank == 1
            else b.reshape(parents[0], f"{name}.flat", output_shape=out, op=cls)
        )
        return b.along(flat, name, axes=[0], output_shape=out, how=_ALONG[cls], macs=size, op=cls)
    if len(out) != rank:
        return None
    if cls in _FOURIER:
        axes = list(range(rank - _FOURIER[cls], rank))
        return b.transform(list(parents), name, axes=axes, output_shape=out, op=cls)
    found = op_axes(getattr(op, "axis", -1), rank)  # (TopK: the last axis)
    if len(parents) != 1 or found is None or len(found) != 1:
        return None
    how = _ALONG[cls]
    macs = size
    if how == "diff":
        macs = math.prod(int(d or 0) for d in out) * int(getattr(op, "n", 1))
    return b.along(parents[0], name, axes=found, output_shape=out, how=how, macs=macs, op=cls)


def reshaped_size(given: Shape, out: Shape) -> Shape:
    """A reshape's output with its one unknown size worked out from the input's elements
    (Keras sizes ``reshape(q, (*ops.shape(q)[:-2], k, g, h))`` with the ``None`` a layer's
    symbolic output had, though the input's sizes are known here); else ``out`` as it is.

    >>> reshaped_size((1, 24, 2, 16), (1, None, 1, 2, 16))
    (1, 24, 1, 2, 16)
    """
    unknown = [i for i, d in enumerate(out) if d is None]
    known = math.prod(int(d) for d in out if d is not None)
    if len(unknown) != 1 or None in given or not known or math.prod(given) % known:  # type: ignore[arg-type]
        return out
    return tuple(math.prod(given) // known if d is None else d for d in out)  # type: ignore[arg-type]


def moved_node(b: GraphBuilder, parent: int, op: Any, name: str) -> int:
    """``moveaxis(x, source, destination)`` as the permute it is."""
    rank = len(b.shape(parent))
    source = [int(a) % rank for a in op.source]
    destination = [int(a) % rank for a in op.destination]
    rest = iter(a for a in range(rank) if a not in source)
    placed = dict(zip(destination, source, strict=True))
    dims = tuple(placed[i] if i in placed else next(rest) for i in range(rank))
    return b.permute(parent, name, dims=dims, op="Moveaxis")


def permuted_node(b: GraphBuilder, parent: int, op: Any, name: str) -> int:
    """``transpose(x, axes)`` (every axis reversed without ``axes``) as a permute."""
    rank = len(b.shape(parent))
    axes = getattr(op, "axes", None)
    dims = tuple(reversed(range(rank))) if axes is None else tuple(int(a) % rank for a in axes)
    return b.permute(parent, name, dims=dims, op=type(op).__name__)


def swapped_node(b: GraphBuilder, parent: int, op: Any, name: str) -> int:
    """``swapaxes(x, axis1, axis2)`` as a permute."""
    rank = len(b.shape(parent))
    dims = list(range(rank))
    one, two = int(op.axis1) % rank, int(op.axis2) % rank
    dims[one], dims[two] = dims[two], dims[one]
    return b.permute(parent, name, dims=tuple(dims), op="Swapaxes")
