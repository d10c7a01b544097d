"""Where a reshape or a permute puts a tensor's spatial axes, memoised (the builder's
:meth:`~stridescope.ir.GraphBuilder.reshape` and :meth:`~stridescope.ir.GraphBuilder.permute`
ask it for every such node, and models repeat the same ones block after block).

>>> kept_axes((1, 8, 4, 6), (2, 3), (1, 2, 4, 4, 6))  # ShuffleNet's channel split
(3, 4)
>>> permuted((0, 2, 3, 1), (1, 8, 4, 6), None, "nchw")
((1, 4, 6, 8), (1, 2))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from stridescope.ir.builder_memo import MEMO_SIZE
from stridescope.ir.graph import Shape, spatial_axes

__all__ = ["PERMUTES", "kept_axes", "permuted"]


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
