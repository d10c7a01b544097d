"""What every lint rule shares: the finding record, the rule registry and the context a rule
reads the graph through.

A rule is a function ``check(ctx) -> Iterable[Finding]`` registered with :func:`rule` under a
stable code (``DS101``). It works on the IR only; costly evidence (wasted MACs, the layers
responsible for unread input, measured aliasing) is computed only when ``ctx.detail`` is true,
so ``summary`` can ask the same rules for their codes alone: whether a finding exists never
depends on ``detail``.

>>> from stridescope.ir import GraphBuilder
>>> @rule("DS999", "example", "info", "network", "Reports every graph (an example).")
... def example(ctx: LintContext, self: Rule) -> list[Finding]:
...     return [self.finding(None, f"{len(ctx.graph.nodes)} nodes", {})]
>>> [f.message for f in RULES.pop("DS999").check(LintContext(GraphBuilder((1, 3, 4, 4), "nchw").build()))]
['1 nodes']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stridescope.analysis.node_facts import NodeFacts, node_facts
from stridescope.analysis.summary_rf import RFState, receptive_fields
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, Node

__all__ = [
    "POLICIES",
    "RULES",
    "SEVERITIES",
    "Finding",
    "Fix",
    "LintContext",
    "Rule",
    "Severity",
    "rule",
]

Severity = Literal["error", "warning", "info"]
#: Severities, most severe first.
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
#: The ``stridescope fix`` policies a finding may name (see docs/lint.md).
POLICIES = ("blurpool", "blurpool-first", "resnet-d", "s2d", "aps")


@dataclass(frozen=True)
class Fix:
    """What applying ``policy`` to the finding's layers costs, computed on the fixed IR, and
    the lint codes the swap brings that those layers did not have (``adds``: a blur that
    never reaches the last row, DS201; an output grid moved where it meets another branch,
    DS301; see :mod:`stridescope.surgery.brings`)."""

    policy: str
    delta_params: int
    delta_macs: int
    adds: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "delta_params": self.delta_params,
            "delta_macs": self.delta_macs,
            "adds": list(self.adds),
        }


@dataclass(frozen=True)
class Finding:
    """One problem: where (``layer``, ``None`` for the network as a whole), what, the measured
    evidence (JSON-ready values), the fix policy that removes it (``None`` when no policy
    does) and, once computed, that fix's cost. ``nodes`` are the IR node ids involved (the
    layer; for a network-level finding, the layers responsible)."""

    code: str
    severity: Severity
    layer: str | None
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict, hash=False)
    policy: str | None = None
    fix: Fix | None = None
    nodes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "severity", "layer", "message", "evidence", "fix", "policy"}``."""
        return {
            "code": self.code,
            "severity": self.severity,
            "layer": self.layer,
            "message": self.message,
            "evidence": dict(self.evidence),
            "fix": None if self.fix is None else self.fix.to_dict(),
            "policy": self.policy,
        }


class LintContext:
    """The graph and what several rules need from it, each computed once, on first use.

    ``detail``: compute costly evidence; ``measure``: measure aliasing (DS401) when
    ``detail`` is set. ``states``, ``coverage`` and ``facts`` (:func:`node_facts`) may be
    handed in by a caller that has them already (the summary computes all three)."""

    def __init__(
        self,
        graph: Graph,
        *,
        detail: bool = True,
        measure: bool = True,
        states: list[RFState] | None = None,
        coverage: float | Literal["unset"] | None = "unset",
        facts: NodeFacts | None = None,
    ) -> None:
        self.graph = graph
        self.detail = detail
        self.measure = measure and detail
        self._states = states
        self._coverage = coverage
        self.facts = node_facts(graph) if facts is None else facts
        self._consumers: list[list[int]] | None = None
        self.cache: dict[str, Any] = {}  # per-run results shared between rules

    @property
    def consumers(self) -> list[list[int]]:
        """Per node id, the ids of the nodes that read it, each once, in graph order."""
        if self._consumers is None:
            consumers: list[list[int]] = [[] for _ in self.graph.nodes]
            for node in self.graph.nodes:
                parents = node.parents
                if len(parents) == 1:  # (most nodes: without a dict of their parents)
                    consumers[parents[0]].append(node.id)
                    continue
                for parent in dict.fromkeys(parents):
                    consumers[parent].append(node.id)
            self._consumers = consumers
        return self._consumers

    @property
    def states(self) -> list[RFState]:
        """The receptive field of every node (:func:`receptive_fields`)."""
        if self._states is None:
            self._states = receptive_fields(self.graph, self.facts)
        return self._states

    @property
    def coverage(self) -> float | None:
        """Share of input pixels that can influence the output (``None``: unknown)."""
        if self._coverage == "unset":
            from stridescope.analysis.coverage import coverage_fraction

            try:
                self._coverage = coverage_fraction(self.graph, self.facts)
            except StridescopeError:
                self._coverage = None
        return self._coverage

    def known(self, node: Node) -> tuple[int, ...] | None:
        """Spatial sizes of ``node``'s output where the layout puts them, all known; else
        ``None`` (no spatial axes, an unknown size, or axes a permute moved)."""
        return self.facts.layout_sizes[node.id]

    def in_spatial(self, node: Node) -> tuple[int, ...] | None:
        """Spatial sizes of ``node``'s (first) input, as :meth:`known` gives them."""
        if not node.parents:
            return None
        return self.known(self.graph.nodes[node.parents[0]])


Check = Callable[[LintContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: stable code, short name, default severity, scope, a one-line
    description (the first line of its section in docs/lint.md) and the ``stridescope fix``
    policies its findings may name (empty: no policy removes what it finds, so its findings
    point at nothing a fix swaps and ``fix --select CODE`` refuses it)."""

    code: str
    name: str
    severity: Severity
    scope: Literal["layer", "network"]
    doc: str
    check: Check = field(repr=False, compare=False)
    policies: tuple[str, ...] = ()

    def finding(
        self,
        node: Node | None,
        message: str,
        evidence: Mapping[str, Any],
        policy: str | None = None,
        nodes: tuple[int, ...] = (),
    ) -> Finding:
        """A finding of this rule at its default severity."""
        return Finding(
            code=self.code,
            severity=self.severity,
            layer=None if node is None else node.name,
            message=message,
            evidence=evidence,
            policy=policy,
            nodes=nodes or (() if node is None else (node.id,)),
        )


#: Every rule, by code, in registration order (the rule modules register on import).
RULES: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    scope: Literal["layer", "network"],
    doc: str,
    policies: tuple[str, ...] = (),
) -> Callable[[Callable[[LintContext, Rule], Iterable[Finding]]], Rule]:
    """Register ``check(ctx, rule)`` under ``code``; the decorated name becomes the Rule.
    ``policies``: those its findings may name (each one of :data:`POLICIES`)."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise StridescopeError(
            f"lint code {code!r} names unknown policies {unknown}; known: {', '.join(POLICIES)}"
        )

    def decorate(check: Callable[[LintContext, Rule], Iterable[Finding]]) -> Rule:
        if code in RULES:
            raise StridescopeError(f"lint code {code!r} is registered twice")

        made: list[Rule] = []

        def bound(ctx: LintContext) -> Iterable[Finding]:
            return check(ctx, made[0])

        made.append(Rule(code, name, severity, scope, doc, bound, policies))
        RULES[code] = made[0]
        return made[0]

    return decorate
