"""A reshape that splits spatial axes into blocks: ``(N, C, H, W)`` viewed as ``(N, C, H/b,
b, W/b, b)``, the first step of space-to-depth written with ``view`` and ``permute``
(TResNet's stem, einops' ``b c (h p1) (w p2) -> ...``), of a pool written as a reshape and
a reduction, or of a patch embedding done by hand. Each block of ``b`` positions becomes one
position of the outer axis, and the inner axes hold the positions within it, as channels
do: the reshape reads its input as a pixel unshuffle does, a window of kernel ``b`` and
stride ``b`` per split axis, and the positions stay known on the outer axes.

>>> split_axes((1, 3, 8, 6), (2, 3), (1, 3, 4, 2, 3, 2))
((2, 4), (2, 2))
>>> split_axes((1, 3, 8, 6), (2, 3), (1, 3, 8, 3, 2))  # H kept whole, W in blocks of 2
((2, 3), (1, 2))
>>> split_axes((1, 3, 8, 6), (2, 3), (1, 6, 4, 6)) is None  # halves of H into the channels
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from stridescope.ir.axes import known_positions
from stridescope.ir.builder_memo import MEMO_SIZE
from stridescope.ir.graph import Node, Shape, Window

__all__ = ["block_window", "split_axes"]


def block_window(
    nodes: Sequence[Node], parent: int, source: tuple[int, ...], out: Shape
) -> tuple[Window, tuple[int, ...]] | None:
    """For a reshape of ``nodes[parent]`` (spatial axes at ``source``) to ``out`` that
    splits known positions into blocks (:func:`split_axes`; known: a ``(batch, samples)``
    signal's, or followed from the input: :func:`~stridescope.ir.axes.known_positions`), the
    window it reads (kernel and stride ``b`` per axis) and where its positions are; else
    ``None``."""
    node = nodes[parent]
    split = split_axes(node.output_shape, source, out)
    if split is None or not known_positions(node, nodes):
        return None
    at, blocks = split
    ones = (1,) * len(blocks)
    return Window(blocks, blocks, ones, ((0, 0),) * len(blocks)), at


@functools.lru_cache(maxsize=MEMO_SIZE)
def split_axes(
    shape: Shape, axes: Sequence[int], out: Shape
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Where each of ``shape``'s spatial ``axes`` goes in ``out`` (a row-major reshape), and
    its block size, when each one is split into an outer axis of ``n / b`` blocks followed by
    inner axes holding the ``b`` positions of a block (``b = 1``: kept whole), and at least
    one is split; else ``None``. The outer axis starts where the axis's elements start (as
    many elements before it) and the inner ones end where they end, so nothing else merges
    with them. Memoised: the result is indices and sizes."""
    if None in shape or None in out:
        return None
    sizes = [int(d) for d in shape if d is not None]
    after = [int(d) for d in out if d is not None]
    at: list[int] = []
    blocks: list[int] = []
    for axis in axes:
        n, before = sizes[axis], math.prod(sizes[:axis])
        start = at[-1] + 1 if at else 0
        outer = [
            q
            for q in range(start, len(after))
            if math.prod(after[:q]) == before and (after[q] > 1 or n == 1)
        ]
        if not outer:
            return None
        q = outer[0]
        end, held = q + 1, after[q]
        while held < n and end < len(after):
            held *= after[end]
            end += 1
        if held != n:
            return None
        at.append(q)
        blocks.append(n // after[q])
    if max(blocks, default=1) == 1:
        return None
    return tuple(at), tuple(blocks)
