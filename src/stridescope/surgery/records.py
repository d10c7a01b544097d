"""What a fix returns: the new model and, per layer, what changed, at what cost, and what the
output at the start (before any training) keeps. Frozen, JSON-ready (the model aside).

>>> c = Change("down", "conv", "conv 1x1 s2, 8→16", "avgpool 2x2 s2 ceil → conv 1x1 s1, 8→16",
...            0, 96, EXPECTATION)
>>> c.to_dict()["output_at_start"], Unchanged("pool", "avgpool", "avgpool 2x2 s2", "why").to_dict()["reason"]
('equal in expectation', 'why')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from stridescope.ir import Graph

__all__ = [
    "CHANGED",
    "EXPECTATION",
    "IDENTICAL",
    "OUTPUTS_AT_START",
    "Change",
    "FixCost",
    "Fixed",
    "OutputAtStart",
    "Unchanged",
]

OutputAtStart = Literal["identical", "equal in expectation", "changed"]
#: the output is the same function of the input (to float rounding)
IDENTICAL: OutputAtStart = "identical"
#: for any input whose distribution is the same at every position (stationary), every output
#: element has the same expected value as before; single outputs differ
EXPECTATION: OutputAtStart = "equal in expectation"
#: neither of the above
CHANGED: OutputAtStart = "changed"
OUTPUTS_AT_START: tuple[OutputAtStart, ...] = (IDENTICAL, EXPECTATION, CHANGED)


@dataclass(frozen=True)
class Change:
    """One layer swapped: its path (module path or Keras layer name), its kind, what it was
    and what it became, the cost difference and what its output keeps at the start."""

    layer: str
    kind: str
    before: str
    after: str
    delta_params: int
    delta_macs: int
    output_at_start: OutputAtStart
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
            "delta_params": self.delta_params,
            "delta_macs": self.delta_macs,
            "output_at_start": self.output_at_start,
            "note": self.note,
        }


@dataclass(frozen=True)
class Unchanged:
    """A downsampling layer the policy leaves as it is, and why."""

    layer: str
    kind: str
    before: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "before": self.before,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FixCost:
    """What one policy would cost on one layer, from the IR alone (what ``lint`` reports)."""

    policy: str
    layer: str
    delta_params: int
    delta_macs: int
    output_at_start: OutputAtStart

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "layer": self.layer,
            "delta_params": self.delta_params,
            "delta_macs": self.delta_macs,
            "output_at_start": self.output_at_start,
        }


@dataclass(frozen=True)
class Fixed:
    """What :func:`stridescope.fix` returns: ``model`` is a new model (the original is never
    modified); ``before`` and ``after`` are the IR graphs of the two models."""

    model: Any
    policy: str
    changes: tuple[Change, ...]
    unchanged: tuple[Unchanged, ...]
    before: Graph = field(repr=False)
    after: Graph = field(repr=False)

    @property
    def delta_params(self) -> int:
        return sum(c.delta_params for c in self.changes)

    @property
    def delta_macs(self) -> int:
        return sum(c.delta_macs for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "changes": [c.to_dict() for c in self.changes],
            "unchanged": [u.to_dict() for u in self.unchanged],
            "delta_params": self.delta_params,
            "delta_macs": self.delta_macs,
        }
