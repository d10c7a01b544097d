"""Relations of the coverage walk, per spatial axis: sliding windows, dense boolean matrices,
and the unions of per-axis products they compose into (see :mod:`.coverage`).

A term is one boolean matrix per axis, ``(final outputs on axis j) x (positions on axis j)``;
the receptive set of output ``o`` under a term is the product over axes of row ``o_j``.

>>> import numpy as np
>>> a = np.eye(3, dtype=bool)                    # 3 outputs, identity
>>> Slide(kernel=1, stride=2, dilation=1, before=0, n=6).pull(a).astype(int).tolist()
[[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0]]
>>> union_size([(np.array([True, False]), np.array([True, True]))])
2
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stridescope.geometry import adaptive_spans

__all__ = [
    "BoolMatrix",
    "BoolVector",
    "Full",
    "Relation",
    "Scatter",
    "Slide",
    "Term",
    "adaptive_matrix",
    "compose",
    "compose_kept",
    "merge_terms",
    "ones",
    "reads_any",
    "spans_matrix",
    "union_counts",
    "union_size",
]

BoolMatrix = npt.NDArray[np.bool_]
BoolVector = npt.NDArray[np.bool_]
Term = tuple[BoolMatrix, ...]  # one (outputs_j x positions_j) matrix per spatial axis


@dataclass(frozen=True)
class Slide:
    """A 1-D sliding window as a relation: output ``o`` reads ``o*stride - before + j*dilation``
    for taps ``j < kernel``, kept when inside ``[0, n)``."""

    kernel: int
    stride: int
    dilation: int
    before: int
    n: int
    pad_mode: str = "zeros"

    def matrix(self, out: int) -> BoolMatrix:
        """The read matrix ``M[o, i]`` for ``out`` outputs. With ``pad_mode`` ``'reflect'``,
        ``'replicate'`` or ``'circular'`` a tap in the padding reads the input pixel the
        padding copies (so the padding can make more pixels influential); with ``'zeros'`` it
        reads nothing.

        >>> Slide(1, 3, 1, 1, 4, "reflect").matrix(2).astype(int).tolist()
        [[0, 1, 0, 0], [0, 0, 1, 0]]
        """
        index = (
            np.arange(out)[:, None] * self.stride
            - self.before
            + np.arange(self.kernel)[None, :] * self.dilation
        )
        n = self.n
        if self.pad_mode == "reflect":
            period = max(2 * (n - 1), 1)
            index = np.mod(index, period)
            index = np.where(index >= n, period - index, index)
        elif self.pad_mode == "replicate":
            index = np.clip(index, 0, n - 1)
        elif self.pad_mode == "circular":
            index = np.mod(index, n)
        matrix = np.zeros((out, n), dtype=bool)
        rows = np.broadcast_to(np.arange(out)[:, None], index.shape)
        inside = (index >= 0) & (index < n)
        matrix[rows[inside], index[inside]] = True
        return matrix

    def pull(self, a: BoolMatrix) -> BoolMatrix:
        """``a @ M`` for boolean ``a`` (rows x outputs) and this window's read matrix ``M``
        (outputs x n), with one strided slice-OR per tap: O(kernel * rows * outputs).
        Memoised on the window and ``a``'s bits (networks repeat both); read-only."""
        return _pulled(self._key, a.shape, a.tobytes(), self._pull, a)

    @functools.cached_property
    def _key(self) -> tuple[object, ...]:
        """The window's fields, as :func:`_pulled` keys its memo (built once per slide)."""
        return (self.kernel, self.stride, self.dilation, self.before, self.n, self.pad_mode)

    def _pull(self, a: BoolMatrix) -> BoolMatrix:
        rows, out = a.shape
        if self.pad_mode != "zeros":
            return (a.astype(np.float32) @ self.matrix(out).astype(np.float32)) > 0
        result = np.zeros((rows, self.n), dtype=bool)
        s = self.stride
        for tap in range(self.kernel):
            start = tap * self.dilation - self.before  # input index read by output 0
            lo = max(0, -(start // s))  # first output whose index is >= 0
            hi = min(out, -(-(self.n - start) // s))  # past the last one whose index is < n
            if hi > lo:
                first = start + lo * s
                result[:, first : first + (hi - lo - 1) * s + 1 : s] |= a[:, lo:hi]
        return result


_PULLED: dict[tuple[object, ...], BoolMatrix] = {}
_PULLED_MAX = 4096


def _pulled(
    window: tuple[object, ...],
    shape: tuple[int, ...],
    bits: bytes,
    pull: Callable[[BoolMatrix], BoolMatrix],
    a: BoolMatrix,
) -> BoolMatrix:
    """``pull(a)`` from a bounded memo keyed by the window and ``a``'s shape and bits; the
    stored result is read-only, so no caller can change what another gets."""
    key = (window, shape, bits)
    found = _PULLED.get(key)
    if found is None:
        if len(_PULLED) >= _PULLED_MAX:
            _PULLED.clear()
        found = pull(a)
        found.flags.writeable = False
        _PULLED[key] = found
    return found


@dataclass(frozen=True)
class Scatter:
    """A 1-D transposed convolution as a relation: input ``i`` (of ``n``) writes outputs
    ``i*stride - before + j*dilation`` for taps ``j < kernel``, kept when inside ``[0, out)``;
    so output ``o`` reads every ``i`` with such a ``j``.

    >>> Scatter(kernel=2, stride=2, dilation=1, before=0, n=3).matrix(6).astype(int).tolist()
    [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]
    """

    kernel: int
    stride: int
    dilation: int
    before: int
    n: int

    def matrix(self, out: int) -> BoolMatrix:
        """The read matrix ``M[o, i]`` for ``out`` outputs."""
        return self.pull(np.eye(out, dtype=bool))

    def pull(self, a: BoolMatrix) -> BoolMatrix:
        """``a @ M`` for boolean ``a`` (rows x outputs): one strided slice-OR per tap."""
        rows, out = a.shape
        result = np.zeros((rows, self.n), dtype=bool)
        s = self.stride
        for tap in range(self.kernel):
            start = tap * self.dilation - self.before  # output written by input 0
            lo = max(0, -(start // s))  # first input whose output is >= 0
            hi = min(self.n, -(-(out - start) // s))  # past the last one whose output is < out
            if hi > lo:
                first = start + lo * s
                result[:, lo:hi] |= a[:, first : first + (hi - lo - 1) * s + 1 : s]
        return result


@functools.lru_cache(maxsize=1024)
def adaptive_matrix(out: int, n: int) -> BoolMatrix:
    """``M[o, i]``: adaptive pooling output ``o`` reads ``[floor(o*n/out), ceil((o+1)*n/out))``
    (memoised, read-only).

    >>> adaptive_matrix(2, 3).astype(int).tolist()
    [[1, 1, 0], [0, 1, 1]]
    """
    return spans_matrix(adaptive_spans(n, out), n)


@functools.lru_cache(maxsize=256)
def spans_matrix(spans: tuple[tuple[int, int], ...], n: int) -> BoolMatrix:
    """``M[o, i]``: output ``o`` reads ``spans[o]``, ``[first, end)`` of ``n`` positions (a
    resize through its source coordinates; memoised, read-only).

    >>> spans_matrix(((0, 1), (1, 3)), 3).astype(int).tolist()
    [[1, 0, 0], [0, 1, 1]]
    """
    i = np.arange(n)
    lo, hi = np.array([[a for a, _ in spans]]).T, np.array([[b for _, b in spans]]).T
    matrix: BoolMatrix = (i[None, :] >= lo) & (i[None, :] < hi)
    matrix.flags.writeable = False
    return matrix


@dataclass(frozen=True)
class Full:
    """Every output reads all ``n`` positions (a dense layer over the axis), kept as a size
    instead of an ``outputs x n`` matrix of ones.

    >>> Full(3).pull(np.array([[True, False], [False, False]])).astype(int).tolist()
    [[1, 1, 1], [0, 0, 0]]
    """

    n: int

    def pull(self, a: BoolMatrix) -> BoolMatrix:
        """``a @ ones``: a row reads every position when it reads any output (memoised like
        a slide's; read-only)."""
        return _pulled(("full", self.n), a.shape, a.tobytes(), self._pull, a)

    def _pull(self, a: BoolMatrix) -> BoolMatrix:
        return np.repeat(a.any(axis=1, keepdims=True), self.n, axis=1)


Relation = tuple[BoolMatrix | Slide | Scatter | Full | None, ...]
_PULLING = (Slide, Scatter, Full)  # relations with a pull of their own (a tuple: isinstance
# with a tuple is cheaper than with the union ``Slide | Scatter | Full`` built at each call)


@functools.lru_cache(maxsize=1024)
def ones(outputs: int, positions: int) -> BoolMatrix:
    """An ``outputs x positions`` matrix of ones (memoised, read-only).

    >>> ones(1, 3).tolist(), ones(1, 3) is ones(1, 3), ones(1, 3).flags.writeable
    ([[True, True, True]], True, False)
    """
    matrix = np.ones((outputs, positions), dtype=bool)
    matrix.flags.writeable = False
    return matrix


def compose(term: Term, relation: Relation) -> Term:
    """Pull a term back through one node: per axis, identity (``None``), a sliding window
    (:meth:`Slide.pull`) or a dense boolean matrix product."""
    composed = []
    for a, m in zip(term, relation, strict=True):
        if m is None:
            composed.append(a)
        elif isinstance(m, _PULLING):
            composed.append(m.pull(a))
        else:  # dense (adaptive pooling): small, memoised like a slide
            key = ("dense", m.shape, m.tobytes())
            composed.append(_pulled(key, a.shape, a.tobytes(), functools.partial(_dense, m), a))
    return tuple(composed)


def _dense(m: BoolMatrix, a: BoolMatrix) -> BoolMatrix:
    """``a @ m`` for boolean matrices."""
    product: BoolMatrix = (a.astype(np.float32) @ m.astype(np.float32)) > 0
    return product


def compose_kept(term: Term, relation: Relation) -> Term | None:
    """:func:`compose` for a term that reads something, or ``None`` when the composed term
    reads nothing (only a changed axis can have become empty)."""
    composed = compose(term, relation)
    for a, m in zip(composed, relation, strict=True):
        if m is not None and not reads_any(a):
            return None
    return composed


def reads_any(a: BoolMatrix) -> bool:
    """``a.any()``, read from ``a``'s bytes: some byte is not zero (for the small matrices
    of a walk, several times cheaper than the numpy reduction's call).

    >>> reads_any(np.zeros((2, 3), dtype=bool)), reads_any(np.eye(2, dtype=bool)[1:])
    (False, True)
    """
    return bool(a.tobytes().strip(b"\x00"))


def _inside(x: BoolMatrix, y: BoolMatrix) -> bool:
    """Whether every true entry of ``x`` is true in ``y`` (``x & y == x``)."""
    if x.shape != y.shape:
        return bool(np.array_equal(x & y, x))
    return not (x > y).any()


def _same(x: BoolMatrix, y: BoolMatrix) -> bool:
    """``np.array_equal(x, y)``, for boolean matrices."""
    return x.shape == y.shape and x.tobytes() == y.tobytes()


def merge_terms(terms: list[Term]) -> list[Term]:
    """Drop repeated and contained terms; merge terms that differ on one axis only. Every
    step keeps the union of the terms' relations exactly, so the order does not matter for
    what the terms mean. Each term must read something (:func:`compose_kept` drops those
    that read nothing where they arise, so no term is tested at every node)."""
    if len(terms) < 2:
        return terms
    unique: dict[object, Term] = {}  # the same term often arrives along several paths
    for t in terms:
        unique.setdefault(tuple((a.shape, a.tobytes()) for a in t), t)
    kept = list(unique.values())
    changed = True
    while changed and len(kept) > 1:
        changed = False
        for i in range(len(kept)):
            for j in range(len(kept)):
                if i == j:
                    continue
                a, b = kept[i], kept[j]
                if all(_inside(x, y) for x, y in zip(a, b, strict=True)):
                    del kept[i]  # a is inside b
                    changed = True
                    break
                differ = [k for k in range(len(a)) if not _same(a[k], b[k])]
                if len(differ) == 1:
                    axis = differ[0]
                    merged = tuple(
                        x | y if k == axis else x for k, (x, y) in enumerate(zip(a, b, strict=True))
                    )
                    kept = [t for k, t in enumerate(kept) if k not in (i, j)] + [merged]
                    changed = True
                    break
            if changed:
                break
    return kept


def union_counts(terms: list[Term]) -> npt.NDArray[np.int64]:
    """``counts[i] = #{o : i in union_t S_t(o)}`` with ``S_t(o) = prod_j A_tj[o_j]``, exact."""
    if len(terms) == 1:
        counts: npt.NDArray[np.int64] = terms[0][0].sum(axis=0, dtype=np.int64)
        for a in terms[0][1:]:
            counts = np.multiply.outer(counts, a.sum(axis=0, dtype=np.int64))
        return counts
    if len(terms[0]) == 1:
        union: BoolMatrix = np.logical_or.reduce([t[0] for t in terms])
        return np.asarray(union.sum(axis=0), dtype=np.int64)
    first = np.stack([t[0] for t in terms])  # (T, outputs_0, positions_0)
    rest_shape = tuple(a.shape[1] for a in terms[0][1:])
    counts = np.zeros((first.shape[2], *rest_shape), dtype=np.int64)
    for o in range(first.shape[1]):
        active = first[:, o, :].T  # (positions_0, T): which terms read (o, i0)
        signatures, inverse = np.unique(active, axis=0, return_inverse=True)
        for sig_id, signature in enumerate(signatures):
            if signature.any():
                sub = union_counts([t[1:] for t, on in zip(terms, signature, strict=True) if on])
                counts[inverse.reshape(-1) == sig_id] += sub
    return counts


def union_size(masks: list[tuple[BoolVector, ...]]) -> int:
    """``|union_t prod_j masks[t][j]|``: how many grid points some term's product covers.

    Positions of axis 0 with the same set of active terms share one count of the rest, so
    the work is per distinct signature, never per grid point."""
    if len(masks) == 1:
        return math.prod(int(m.sum()) for m in masks[0])
    if len(masks[0]) == 1:
        return int(np.logical_or.reduce([m[0] for m in masks]).sum())
    first = np.stack([m[0] for m in masks], axis=1)  # (positions_0, T)
    signatures, frequency = np.unique(first, axis=0, return_counts=True)
    total = 0
    for signature, times in zip(signatures, frequency, strict=True):
        if signature.any():
            rest = [m[1:] for m, on in zip(masks, signature, strict=True) if on]
            total += int(times) * union_size(rest)
    return total
