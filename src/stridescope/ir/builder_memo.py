"""Geometry a network repeats, computed once: the builder's memos.

A network repeats a few configurations many times (the same convolution in every block, the
same channel split, the same global pooling), and the builder is called for every node of
every trace, so the windows, output sizes and counts those configurations give are kept here,
keyed on the arguments. A key is only made from arguments whose meaning to geometry is exact
(:func:`exact_key`: ints, modes, per-axis ints or pairs, never a bool standing for 1); other
arguments are computed afresh each time, so every error is raised as geometry raises it.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import TypeVar

from stridescope.geometry import GeometryError, PaddingArg, adaptive_spans, paddings, per_axis
from stridescope.ir.graph import Shape, Window

__all__ = [
    "MEMO_SIZE",
    "IntOrTuple",
    "PaddingSpec",
    "adaptive_reads",
    "exact_key",
    "memo_slide",
    "memo_window",
    "new_window",
    "remember",
    "slice_window",
]

IntOrTuple = int | Sequence[int]
PaddingSpec = PaddingArg | Sequence[int | tuple[int, int]]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

MEMO_SIZE = 4096  # entries of each memo; a full one starts afresh

# a slice's window and output sizes, by the input sizes and (start, stop, step) per axis
_SLICES: dict[tuple[Shape, tuple[tuple[int, int, int], ...]], tuple[Window, Shape]] = {}


def remember(memo: dict[_K, _V], key: _K, value: _V) -> _V:
    """Store ``value`` at ``key`` in ``memo`` (at most 4096 entries: a full memo starts afresh)
    and return it: the builder's memos of geometry that a network repeats.

    >>> memo: dict[int, str] = {}
    >>> remember(memo, 1, "one"), memo
    ('one', {1: 'one'})
    """
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def exact_key(value: object) -> object:
    """``value`` (an int, a mode, or ints / ``(before, after)`` pairs per axis) as a hashable
    key that means the same to geometry, or ``None`` when it has no such form (a bool is not
    an int here: geometry refuses it, so it must not share a key with 1).

    >>> exact_key([1, 1]), exact_key(((0, 1), [2, 3])), exact_key((True, 1)), exact_key(1.0)
    ((1, 1), ((0, 1), (2, 3)), None, None)
    """
    kind = type(value)
    if kind is int or kind is str:
        return value
    if kind is not tuple and kind is not list:
        return None
    if len(value) == 2 and type(value[0]) is int and type(value[1]) is int:  # type: ignore[arg-type,index]
        return value if kind is tuple else (value[0], value[1])  # type: ignore[index]
    items: list[object] = []
    for item in value:  # type: ignore[attr-defined]
        if type(item) is int:
            items.append(item)
        elif type(item) in (tuple, list) and len(item) == 2 and {type(v) for v in item} == {int}:
            items.append((item[0], item[1]))
        else:
            return None
    return tuple(items)


def new_window(
    spatial: Shape,
    kernel: IntOrTuple,
    stride: IntOrTuple,
    dilation: IntOrTuple,
    padding: PaddingSpec,
    ceil_mode: bool,
    pad_mode: str,
) -> Window:
    rank = len(spatial)
    k = per_axis(kernel, rank, "kernel")
    s = per_axis(stride, rank, "stride")
    d = per_axis(dilation, rank, "dilation")
    return Window(k, s, d, paddings(spatial, k, s, d, padding), ceil_mode, pad_mode)


memo_window = functools.lru_cache(maxsize=MEMO_SIZE)(new_window)  # for exact-int arguments


@functools.lru_cache(maxsize=MEMO_SIZE)
def memo_slide(
    spatial: Shape,
    kernel: IntOrTuple,
    stride: IntOrTuple,
    dilation: IntOrTuple,
    padding: PaddingSpec,
    ceil_mode: bool,
    pad_mode: str,
) -> tuple[Window, Shape]:
    window = memo_window(spatial, kernel, stride, dilation, padding, ceil_mode, pad_mode)
    return window, window.output_spatial(spatial)


def adaptive_reads(spatial: Shape, target: tuple[int, ...]) -> int:
    """Input positions adaptive pooling from ``spatial`` to ``target`` reads, over all output
    windows (unknown sizes count 1): memoised when ``target`` is exact ints.

    >>> adaptive_reads((7, 5), (2, 2))
    48
    """
    if exact_key(target) is None:
        return _count_adaptive_reads(spatial, target)
    return _memo_adaptive_reads(spatial, target)


def _count_adaptive_reads(spatial: Shape, target: tuple[int, ...]) -> int:
    reads = 1
    for n, m in zip(spatial, target, strict=True):
        if n is None:
            continue
        reads *= sum(end - first for first, end in adaptive_spans(n, m))
    return reads


_memo_adaptive_reads = functools.lru_cache(maxsize=MEMO_SIZE)(_count_adaptive_reads)


def slice_window(sizes: Shape, spatial: Sequence[tuple[int, int, int]]) -> tuple[Window, Shape]:
    """A slice's window -- kernel 1, stride ``step``, dropping ``start`` positions before and
    ``n - stop`` after, per axis -- and its output sizes; memoised when every ``(start, stop,
    step)`` is a tuple of three ints.

    >>> window, sizes = slice_window((9, 8), [(1, 9, 2), (0, 8, 2)])
    >>> window.stride, window.padding, sizes
    ((2, 2), ((-1, 0), (0, 0)), (4, 4))
    """
    key = (sizes, tuple(spatial))
    exact = True  # (a loop: no frame per range, as a slice's ranges are checked per call)
    for t in spatial:
        if (
            type(t) is not tuple
            or len(t) != 3
            or not (type(t[0]) is type(t[1]) is type(t[2]) is int)
        ):
            exact = False
            break
    known = _SLICES.get(key) if exact else None
    if known is not None:
        return known
    padding = []
    for n, (start, stop, step) in zip(sizes, spatial, strict=True):
        if n is None or step < 1 or not 0 <= start < stop <= n:
            raise GeometryError(f"slice {start}:{stop}:{step} does not fit an axis of size {n}")
        padding.append((-start, stop - n))
    rank = len(sizes)
    window = Window((1,) * rank, tuple(t[2] for t in spatial), (1,) * rank, tuple(padding))
    found = (window, window.output_spatial(sizes))
    return remember(_SLICES, key, found) if exact else found
