"""Where a reshape, a permute, a squeeze or a stack puts a tensor's spatial axes: the
reshape's and permute's memoised (:meth:`~stridescope.ir.GraphBuilder.reshape` and
:meth:`~stridescope.ir.GraphBuilder.permute` ask for every such node, and models repeat the
same ones block after block); which axes a squeeze keeps (:func:`squeezed_axes`), which one a
frame picked from the input lacks (:func:`frame_source`), and where a stack of such frames
puts it back (:func:`restacked_axes`); the shape a reduction leaves.

>>> kept_axes((1, 8, 4, 6), (2, 3), (1, 2, 4, 4, 6))  # ShuffleNet's channel split
(3, 4)
>>> permuted((0, 2, 3, 1), (1, 8, 4, 6), None, "nchw")
((1, 4, 6, 8), (1, 2))
>>> squeezed_axes((1, 4, 1, 32), (2, 3), (1, 4, 32), (2,))  # a CRNN's row: W is left
(1,)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from stridescope.ir.builder_memo import MEMO_SIZE
from stridescope.ir.graph import Layout, Node, OpKind, Shape, spatial_axes

__all__ = [
    "PERMUTES",
    "folded_axes",
    "frame_axis",
    "frame_source",
    "kept_axes",
    "permuted",
    "reduced_shape",
    "restacked_axes",
    "sized_alike",
    "squeezed_axes",
]


@functools.lru_cache(maxsize=MEMO_SIZE)
def kept_axes(shape: Shape, axes: Sequence[int], out: Shape) -> tuple[int, ...] | None:
    """Where each of ``shape``'s ``axes`` is in ``out`` after a row-major reshape, when every
    one survives whole: an output axis of the same size with as many elements before it.
    Memoised: the result is axis indices, the same for any arguments that compare equal."""
    if None in shape or None in out:
        return None
    sizes = [int(d) for d in shape if d is not None]
    after = [int(d) for d in out if d is not None]
    found: list[int] = []
    for axis in axes:
        before = math.prod(sizes[:axis])
        match = [
            q
            for q, d in enumerate(after)
            if d == sizes[axis] and math.prod(after[:q]) == before and q not in found
        ]
        if not match:
            return None
        # a size-1 axis matches several places (it carries one position): keep it where it
        # was if it can stay, else the first free place after the axes found so far; where
        # it was is taken and the batch axis is the only place left, it was dropped (a
        # squeeze of a ``(1, 1, W, C)`` map: see stridescope.analysis.rf_squeeze), not moved
        if sizes[axis] == 1 and axis not in match and match == [0]:
            return None
        later = [q for q in match if not found or q > found[-1]]
        found.append(axis if axis in match else (later or match)[0])
    return tuple(found)


@functools.lru_cache(maxsize=MEMO_SIZE)
def folded_axes(shape: Shape, at: tuple[int, ...], out: Shape) -> tuple[int | None, ...] | None:
    """Where each of a tensor's spatial axes (at ``at`` in ``shape``) is after a row-major
    reshape to ``out`` that keeps some of them whole and folds each of the others into one
    axis of ``out`` that is neither the batch axis nor a kept one: its output axis, or
    ``None`` where it was folded (a CRNN's ``(N, C, H, W)`` made ``(N, C*H, W)``, speech's
    ``(N, T, C, F)`` made ``(N, T, C*F)``); ``None`` for any other reshape, one that keeps
    none or folds none, and one with a spatial axis of one position (a squeeze's: see
    :func:`squeezed_axes`). Memoised, as :func:`kept_axes`.

    >>> folded_axes((2, 16, 8, 32), (2, 3), (2, 128, 32))
    (None, 2)
    >>> folded_axes((2, 19, 8, 19), (1, 3), (2, 19, 152))
    (1, None)
    >>> folded_axes((2, 8, 4, 6), (2, 3), (8, 4, 6)) is None  # into the batch: no fold
    True
    """
    if None in shape or None in out or 0 in shape or 0 in out:
        return None
    sizes, after = [int(d) for d in shape if d is not None], [int(d) for d in out if d is not None]
    ends = [math.prod(after[: q + 1]) for q in range(len(after))]
    if not ends or ends[-1] != math.prod(sizes):
        return None
    bounds = {math.prod(sizes[:k]) for k in range(len(sizes) + 1)}  # (where input axes end)
    found: list[int | None] = []  # (a kept axis is alone in its output axis: none folds there)
    for axis in at:
        before, n = math.prod(sizes[:axis]), sizes[axis]
        if n == 1:
            return None
        q = next(q for q, end in enumerate(ends) if end >= before * n)  # (the last one, at most)
        first = ends[q] // after[q]
        if first > before or first not in bounds or ends[q] not in bounds:
            return None  # (split across output axes, or merged with part of an axis)
        if after[q] == n and ends[q] // n == before:
            found.append(q)  # kept whole
        elif q == 0:
            return None  # merged with the batch axis: each position its own sample
        else:
            found.append(None)
    if None not in found or found.count(None) == len(found):  # (none folded, or none kept)
        return None
    return tuple(found)


# (dims, input shape, where its spatial axes are, layout) -> (output shape, where they go), or
# why the dims are not a permutation: transformers permute the same way in every block
PERMUTES: dict[tuple[Any, ...], tuple[Shape, tuple[int, ...] | None] | str] = {}


def permuted(
    dims: tuple[int, ...], shape: Shape, before: tuple[int, ...] | None, layout: str
) -> tuple[Shape, tuple[int, ...] | None] | str:
    rank = len(shape)
    order = tuple(d % rank if -rank <= d < rank else rank for d in dims)
    if sorted(order) != list(range(rank)):
        return f"dims {dims!r} are not a permutation of the {rank} axes of {shape!r}"
    at = tuple(order.index(a) for a in (before or spatial_axes(rank, layout)))
    moved = None if at == spatial_axes(rank, layout) else at
    return tuple(shape[d] for d in order), moved


def sized_alike(before: Sequence[Any], after: Sequence[Any]) -> bool:
    """Whether ``after`` is ``before`` with axes of size 1 added or dropped (the same
    elements in the same order: a squeeze, an ``unsqueeze``, ``x[:, None]``).

    >>> sized_alike((1, 28, 28), (1, 1, 28, 28)), sized_alike((1, 28, 28), (1, 784))
    (True, False)
    """
    return [d for d in before if d != 1] == [d for d in after if d != 1]


def squeezed_axes(
    shape: Shape, at: tuple[int, ...], out: Shape, out_at: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Which of a tensor's spatial axes (at ``at`` in ``shape``; their indices in ``at``) a
    reshape to ``out`` keeps, where it drops spatial axes of size 1 and nothing else and the
    axes left land at ``out_at`` (a squeeze, or an integer index after its slice); ``None``
    for any other reshape, where none or every spatial axis is dropped, and where which ones
    were dropped is ambiguous (two of size 1, one dropped)."""
    drop = len(shape) - len(out)
    if drop < 1 or None in shape or None in out:
        return None
    found = None
    for dropped in combinations([a for a in at if shape[a] == 1], drop):
        if tuple(d for a, d in enumerate(shape) if a not in dropped) != out:
            continue
        if found is not None:
            return None  # two ways to drop them: which axes are left is not known
        found = dropped
    if found is None:
        return None
    # where the axes left land: as many axes lower as were dropped before them
    landed = tuple(a - sum(d < a for d in found) for a in at if a not in found)
    if not landed or landed != out_at:
        return None
    return tuple(i for i, a in enumerate(at) if a not in found)


# ops that may regroup a frame's positions: no frame's axes are followed through them
_REGROUPS = frozenset({OpKind.RESHAPE, OpKind.FLATTEN, OpKind.MOVE})


def _count(node: Node, layout: Layout) -> tuple[int, ...]:
    return node.spatial_at or spatial_axes(len(node.output_shape), layout)


def frame_axis(nodes: Sequence[Node], node: Node, layout: Layout) -> int | None:
    """Which of the input's spatial axes (its index among them) a squeeze above ``node``
    dropped, ``node`` a map of one spatial axis fewer than the input made from it by layers
    that keep its axes (a frame picked from a clip, then 2-D layers): see
    :func:`frame_source`; ``None`` where there is none."""
    found = frame_source(nodes, node, layout)
    return None if found is None else found[0]


def frame_source(nodes: Sequence[Node], node: Node, layout: Layout) -> tuple[int, Node] | None:
    """Up ``node``'s first parents, through layers that keep its spatial axes, to the squeeze
    (:func:`squeezed_axes`) that made a map of one spatial axis fewer than the input from a
    map of the input's: which of the input's spatial axes it dropped (its index among them)
    and the map it dropped it from; ``None`` where ``node`` is no such map."""
    rank = len(_count(nodes[0], layout))
    at = _count(node, layout)
    if len(at) != rank - 1 or len(node.output_shape) != len(nodes[0].output_shape) - 1:
        return None
    for _ in range(len(nodes)):
        if not node.parents:
            return None
        parent = nodes[node.parents[0]]
        above = _count(parent, layout)
        if len(above) == rank and node.kind is OpKind.RESHAPE:
            left = squeezed_axes(parent.output_shape, above, node.output_shape, at)
            if left is None or len(left) != rank - 1:
                return None
            return next(i for i in range(rank) if i not in left), parent
        if len(above) != len(at) or node.kind in _REGROUPS:
            return None
        node, at = parent, above
    return None


def restacked_axes(
    nodes: Sequence[Node], first: Node, layout: Layout, axis: int, rank: int
) -> tuple[int, ...] | None:
    """Where the spatial axes are in a stack of tensors like ``first`` along a new ``axis``
    (of ``rank`` axes in all): each one after the new axis one further on, and, where
    ``first`` is a frame picked from the input (:func:`frame_axis`) and the stack has the
    input's rank again, the new axis the one the frames were picked along, in its place
    among them (``None`` where that is where the layout puts them)."""
    at = _count(first, layout)
    moved = tuple(a + (a >= axis) for a in at)
    frame = frame_axis(nodes, first, layout) if rank == len(nodes[0].output_shape) else None
    if frame is None:
        return moved or None
    moved = (*moved[:frame], axis, *moved[frame:])
    return None if moved == spatial_axes(rank, layout) else moved


def reduced_shape(shape: Shape, axes: Sequence[int] | None, keepdim: bool) -> Shape:
    """The shape a reduction of ``shape`` over ``axes`` (non-negative; ``None``: every axis)
    leaves: those axes 1 with ``keepdim``, else dropped.

    >>> reduced_shape((2, 8, 4, 4), [2, 3], False), reduced_shape((2, 8, 4), None, True)
    ((2, 8), (1, 1, 1))
    """
    chosen = range(len(shape)) if axes is None else axes
    if keepdim:
        return tuple(1 if a in chosen else d for a, d in enumerate(shape))
    return tuple(d for a, d in enumerate(shape) if a not in chosen)
