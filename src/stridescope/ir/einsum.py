"""Multiply-adds of an ``einsum``, from its equation and operand shapes: shared by the PyTorch
tracer (``torch.einsum``) and the Keras reader (``keras.ops.einsum``).

>>> einsum_macs("b i d, b j d -> b i j", [(2, 8, 16), (2, 4, 16)])
1024
"""

from __future__ import annotations

import math
import sys
from typing import Any

from stridescope.ir.builder_memo import remember

__all__ = ["einsum_macs", "torch_path"]


def _labels(term: str, rank: int) -> list[str]:
    """One label per axis of an operand; the axes ``...`` covers get ``.1``, ``.2``... counted
    from the right, so ellipses of different ranks line up as torch broadcasts them."""
    if term.count("...") > 1 or not all(c.isalpha() or c == "." for c in term):
        raise ValueError(f"einsum term {term!r} has characters other than letters and one '...'")
    before, dots, after = term.partition("...")
    if "." in before + after:
        raise ValueError(f"einsum term {term!r} has a '.' outside '...'")
    spread = rank - len(before) - len(after)
    if spread < 0 or (spread and not dots):
        raise ValueError(f"einsum term {term!r} does not fit an operand of rank {rank}")
    return [*before, *(f".{k}" for k in range(spread, 0, -1)), *after]


def einsum_macs(equation: str, shapes: list[tuple[int, ...]]) -> int:
    """Multiply-adds of ``einsum(equation, *operands)`` as torch computes it: operands
    contracted pairwise, left to right or, for three or more where torch takes opt_einsum's
    path (:func:`torch_path`), in that path's order, after summing out the labels nothing
    later needs; each pair costs the product of the sizes of its remaining labels (a batched
    matmul; where no label is contracted torch multiplies element-wise: one MAC per output
    element). :class:`ValueError` for an equation that does not fit the shapes.

    >>> einsum_macs("B H I D, B H J D -> B H I J", [(2, 4, 8, 16), (2, 4, 8, 16)])
    8192
    >>> einsum_macs("ij,jk,kl", [(2, 3), (3, 4), (4, 5)])  # (2*3*4) + (2*4*5)
    64
    >>> einsum_macs("...ij,...jk->...ik", [(7, 2, 3), (3, 4)])
    168
    """
    text = equation.replace(" ", "")
    left, arrow, right = text.partition("->")
    terms = left.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum {equation!r} has {len(terms)} terms for {len(shapes)} operands")
    labels = [_labels(term, len(shape)) for term, shape in zip(terms, shapes, strict=True)]
    sizes: dict[str, int] = {}
    for names, shape in zip(labels, shapes, strict=True):
        for label, size in zip(names, shape, strict=True):
            if sizes.setdefault(label, size) != size and 1 not in (size, sizes[label]):
                raise ValueError(f"einsum {equation!r}: label {label!r} has sizes that clash")
            sizes[label] = max(sizes[label], size)
    if arrow:
        ellipsis = [k for k in sizes if k.startswith(".")] if "..." in right else []
        output = set(_labels(right.replace("...", ""), len(right.replace("...", ""))) + ellipsis)
    else:
        every = [label for names in labels for label in names]
        output = {k for k in every if every.count(k) == 1 or k.startswith(".")}
    # the pairs in torch's order: opt_einsum's path (each pair's result goes last), else left
    # to right (the first two, the result first)
    path = torch_path(equation, shapes) if len(shapes) > 2 else None
    pending = [set(names) for names in labels]
    macs = 0
    for step in range(len(pending) - 1):
        i, j = path[step] if path else (0, 1)
        theirs, mine = pending.pop(max(i, j)), pending.pop(min(i, j))
        later = output.union(*pending)
        kept = (mine & theirs) | ((mine | theirs) & later)
        macs += math.prod(sizes[k] for k in kept)
        pending.insert(len(pending) if path else 0, kept & later)
    return macs


def torch_path(equation: str, shapes: list[tuple[int, ...]]) -> list[Any] | None:
    """The pairs ``torch.einsum`` contracts three or more operands in: opt_einsum's path,
    where torch has it installed and enabled (``torch.backends.opt_einsum``), as torch asks
    for it; ``None`` where torch contracts left to right (or is not imported: the Keras
    reader on another backend, the report)."""
    torch = sys.modules.get("torch")
    backend = getattr(getattr(torch, "backends", None), "opt_einsum", None)
    if backend is None or not backend.enabled or not backend.is_available():
        return None
    key = (equation, tuple(shapes), backend.strategy)  # (a search of ~0.1 ms: once per key)
    if key in _PATHS:
        return _PATHS[key]
    try:
        found = backend.get_opt_einsum().contract_path(
            equation, *shapes, shapes=True, optimize=backend.strategy
        )
    except Exception:  # an equation opt_einsum refuses: torch's own error, left to right here
        return remember(_PATHS, key, None)
    pairs = list(found[0]) if all(len(pair) == 2 for pair in found[0]) else None
    return remember(_PATHS, key, pairs)


# opt_einsum's path by equation, operand shapes and strategy (what torch's search depends on)
_PATHS: dict[tuple[str, tuple[tuple[int, ...], ...], Any], list[Any] | None] = {}
