"""What a receptive field is per node (:data:`RFState`), and the two rules the receptive
field's walk and its squeezes share: a merge's field (:func:`merged`) and a transposed
window's (:func:`scattered`). See :mod:`stridescope.analysis.summary_rf` for the rules.

>>> from stridescope.geometry import ReceptiveField
>>> merged([(ReceptiveField(3, 1, -1),), (ReceptiveField(5, 1, -2),)])
(ReceptiveField(size=5, jump=1, start=-2),)
"""

from __future__ import annotations

from typing import Final, Literal

from stridescope.geometry import ReceptiveField
from stridescope.geometry.receptive import union
from stridescope.ir import OpKind, Window

__all__ = ["MERGES", "NO_INPUT", "WHOLE", "RFState", "merged", "scattered"]

WHOLE: Final = "whole input"
NO_INPUT: Final = "no input"  # a tensor whose values read no input (see receptive_fields)
RFState = tuple[ReceptiveField, ...] | Literal["whole input", "no input"] | None

MERGES = frozenset({OpKind.ADD, OpKind.MUL, OpKind.CONCAT})  # their fields: the union


def merged(states: list[RFState]) -> RFState:
    """The field of a merge (add, multiply, a select) of ``states``: the union of the windows."""
    if None in states:
        return None
    if WHOLE in states:
        return WHOLE
    fields = [s for s in states if isinstance(s, tuple)]
    if len(fields) == 1 or all([f is fields[0] for f in fields]):
        return fields[0]
    rank = len(fields[0])
    if any(len(f) != rank for f in fields):
        return None
    # the union of all windows at once (what merging them pairwise gives), one field per axis
    merged = []
    for column in zip(*fields, strict=True):
        if any([r.phases for r in column]):  # after an upsampling: per output, its phase's
            found = union(column)
            if found is None:
                return None
            merged.append(found)
            continue
        jump = column[0].jump
        if any([r.jump != jump for r in column]):  # maps on different grids (strides that
            return None  # differ, cropped to one size): each output's union is its own
        start = min([r.start for r in column])
        end = max([r.start + r.size for r in column])
        for r in column:  # (most often one field holds the others: a residual's branch)
            if r.start == start and r.size == end - start and r.jump == jump:
                merged.append(r)
                break
        else:
            merged.append(ReceptiveField(end - start, jump, start))
    return tuple(merged)


def scattered(scatter: Window, parent: RFState) -> RFState:
    """A transposed window's field (a transposed conv, an upsampling by a whole factor):
    each output sees the fields of the inputs written to it (fields in phases, see
    :class:`ReceptiveField`); unknown where an output has no input."""
    if not isinstance(parent, tuple) or len(parent) != len(scatter.kernel):
        return parent if parent == WHOLE else None
    found = []
    for r, k, s, d, p in zip(
        parent, scatter.kernel, scatter.stride, scatter.dilation, scatter.padding, strict=True
    ):
        field = r.scattered(k, s, d, p[0])
        if field is None:
            return None
        found.append(field)
    return tuple(found)
