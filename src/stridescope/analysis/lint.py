"""Lint a model's IR for downsampling problems: every place it skips input, drops a border,
leaves input unread, merges misaligned grids or aliases, with the evidence and the
``stridescope fix`` policy that removes it.

A pipeline: choose the rules (``select`` / ``ignore`` by code or prefix), run each on one
:class:`LintContext`, set severities (defaults per rule, overridden per code or prefix),
optionally fill each finding's ``fix`` with a cost estimate, return a :class:`LintReport`.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 7, 7, 3), "nhwc")
>>> _ = b.conv(b.input, "down", out_channels=4, kernel=1, stride=2)
>>> report = lint_graph(b.build(), LintOptions(select=("DS1",)))
>>> [(f.code, f.severity, f.layer, f.policy) for f in report.findings]
[('DS101', 'warning', 'down', 'resnet-d')]
>>> report.counts, report.fails("warning"), report.fails("error")
({'error': 0, 'warning': 1, 'info': 0}, True, False)
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from stridescope.analysis import lint_layer, lint_network
from stridescope.analysis.lint_base import (
    POLICIES,
    RULES,
    SEVERITIES,
    Finding,
    Fix,
    LintContext,
    Rule,
    Severity,
)
from stridescope.analysis.node_facts import NodeFacts
from stridescope.analysis.summary_rf import RFState
from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ir import Graph, Shape

__all__ = [
    "FAIL_ON",
    "POLICIES",
    "SEVERITIES",
    "Finding",
    "Fix",
    "FixEstimate",
    "LintOptions",
    "LintReport",
    "attach_fixes",
    "lint_graph",
    "parse_codes",
    "parse_severities",
    "rule_named",
    "rules",
]

_MODULES = (lint_layer, lint_network)  # importing them registers their rules
#: What ``--fail-on`` accepts: a severity, or ``never``.
FAIL_ON = (*SEVERITIES, "never")
#: Estimates a finding's fix on the IR: ``estimate(graph, finding)`` returns the
#: :class:`Fix` of ``finding.policy`` applied to ``finding.nodes``, or ``None``.
FixEstimate = Callable[[Graph, Finding], Fix | None]


def rules() -> tuple[Rule, ...]:
    """Every rule, by code."""
    return tuple(RULES[code] for code in sorted(RULES))


def rule_named(code: str) -> Rule:
    """The rule registered under ``code``; an unknown code lists the known ones.

    >>> rule_named("DS301").name
    'misaligned merge'
    >>> rule_named("DS999")
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown lint code 'DS999'; known: DS001, DS101, DS201, DS202, DS301, DS401, DS501
    """
    try:
        return RULES[code]
    except KeyError:
        raise UnknownNameError("lint code", code, sorted(RULES)) from None


def _split(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [
        part.strip().upper() for item in items for part in re.split(r"[,\s]+", item) if part.strip()
    ]


def parse_codes(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Codes or prefixes (``"DS101,DS2"``, ``["DS1"]``); each must name at least one rule.

    >>> parse_codes("ds101, DS2"), parse_codes(None)
    (('DS101', 'DS2'), ())
    >>> parse_codes("DS7")
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown lint code 'DS7'; known: DS001, DS101, DS201, DS202, DS301, DS401, DS501
    """
    codes = tuple(dict.fromkeys(_split(value)))
    for code in codes:
        if not any(known.startswith(code) for known in RULES):
            raise UnknownNameError("lint code", code, sorted(RULES))
    return codes


def parse_severities(value: Mapping[str, str] | str | Sequence[str] | None) -> dict[str, Severity]:
    """Severity overrides by code or prefix: ``{"DS201": "warning"}`` or ``"DS201=warning"``.

    >>> parse_severities("DS201=warning, DS4=error")
    {'DS201': 'warning', 'DS4': 'error'}
    >>> parse_severities({"DS201": "fatal"})
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: severity of DS201 must be one of error, warning, info; received 'fatal'
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in [value] if isinstance(value, str) else value:
            for part in (p for p in re.split(r"[,\s]+", item) if p):
                code, sep, level = part.partition("=")
                if not sep or not code:
                    raise StridescopeError(
                        f"a severity override is CODE=LEVEL (DS201=warning); received {part!r}"
                    )
                pairs.append((code, level))
    result: dict[str, Severity] = {}
    for code, level in pairs:
        (name,) = parse_codes(code) or ("",)
        if level.lower() not in SEVERITIES:
            raise StridescopeError(
                f"severity of {name} must be one of {', '.join(SEVERITIES)}; received {level!r}"
            )
        result[name] = cast(Severity, level.lower())
    return result


@dataclass(frozen=True)
class LintOptions:
    """Which rules run and how severe their findings are. ``select`` / ``ignore``: codes or
    prefixes (empty ``select``: every rule); ``severity``: overrides by code or prefix (the
    longest match wins); ``measure``: measure DS401's aliasing share (cached per
    configuration; see :mod:`stridescope.analysis.lint_aliasing`)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict, hash=False)
    measure: bool = True

    @classmethod
    def parse(
        cls,
        select: str | Sequence[str] | None = None,
        ignore: str | Sequence[str] | None = None,
        severity: Mapping[str, str] | str | Sequence[str] | None = None,
        measure: bool = True,
    ) -> LintOptions:
        """Options from user input, checked: unknown codes and severities raise one-line
        errors listing what is allowed."""
        return cls(parse_codes(select), parse_codes(ignore), parse_severities(severity), measure)

    def chosen(self) -> tuple[Rule, ...]:
        """The rules these options run."""
        return tuple(
            r
            for r in rules()
            if (not self.select or any(r.code.startswith(s) for s in self.select))
            and not any(r.code.startswith(i) for i in self.ignore)
        )

    def severity_of(self, finding: Finding) -> Severity:
        matches = [code for code in self.severity if finding.code.startswith(code)]
        return self.severity[max(matches, key=len)] if matches else finding.severity


@dataclass(frozen=True)
class LintReport:
    """What :func:`stridescope.lint` returns: the findings, in rule order then graph order."""

    source: str
    layout: str
    input_shape: Shape
    findings: tuple[Finding, ...]
    input_coverage: float | None
    rules: tuple[str, ...]  # the codes that were checked
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Findings per severity."""
        return {level: sum(f.severity == level for f in self.findings) for level in SEVERITIES}

    def fails(self, fail_on: str) -> bool:
        """Whether some finding is at or above ``fail_on`` (a severity, or ``never``)."""
        if fail_on not in FAIL_ON:
            raise StridescopeError(
                f"fail-on must be one of {', '.join(FAIL_ON)}; received {fail_on!r}"
            )
        if fail_on == "never":
            return False
        worst = SEVERITIES.index(cast(Severity, fail_on))
        return any(SEVERITIES.index(f.severity) <= worst for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """``{"findings", "counts", "input_coverage"}`` plus ``source``, ``layout``,
        ``input_shape``, ``rules`` and ``notes``."""
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts,
            "input_coverage": self.input_coverage,
            "source": self.source,
            "layout": self.layout,
            "input_shape": list(self.input_shape),
            "rules": list(self.rules),
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """JSON; with ``indent``, lists of numbers or strings stay on one line."""
        if indent is None:
            return json.dumps(self.to_dict())
        return _dumps(self.to_dict(), indent, 0)


def _dumps(value: Any, indent: int, level: int) -> str:
    """``json.dumps(value, indent=indent)``, except that a list without lists or dicts in it
    is written on one line.

    >>> print(_dumps({"a": [1, 2], "b": [{"c": "x"}]}, 2, 0))
    {
      "a": [1, 2],
      "b": [
        {
          "c": "x"
        }
      ]
    }
    """
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(k)}: {_dumps(v, indent, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, list | dict) for v in value):
        items = [f"{inner}{_dumps(v, indent, level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


def attach_fixes(report: LintReport, graph: Graph, estimate: FixEstimate) -> LintReport:
    """Fill ``fix`` of every finding that names a policy with ``estimate(graph, finding)``
    (a :class:`Fix` computed on the fixed IR, or ``None`` when the policy cannot apply).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
    >>> _ = b.conv(b.input, "down", out_channels=4, kernel=1, stride=2)
    >>> g = b.build()
    >>> flat = attach_fixes(lint_graph(g, LintOptions(select=("DS101",))), g,
    ...                     lambda graph, f: Fix(f.policy or "", 0, 48))
    >>> flat.findings[0].fix
    Fix(policy='resnet-d', delta_params=0, delta_macs=48)
    """
    findings = tuple(
        dataclasses.replace(f, fix=estimate(graph, f)) if f.policy is not None else f
        for f in report.findings
    )
    return dataclasses.replace(report, findings=findings)


def _severe(finding: Finding, opts: LintOptions) -> Finding:
    """``finding`` at the severity ``opts`` give its code (itself when that is its own)."""
    severity = opts.severity_of(finding) if opts.severity else finding.severity
    if severity == finding.severity:
        return finding
    return dataclasses.replace(finding, severity=severity)


def lint_graph(
    graph: Graph,
    options: LintOptions | None = None,
    *,
    detail: bool = True,
    states: list[RFState] | None = None,
    coverage: float | Literal["unset"] | None = "unset",
    fix_estimate: FixEstimate | None = None,
    facts: NodeFacts | None = None,
) -> LintReport:
    """Run the chosen rules on ``graph``. ``detail=False`` skips costly evidence (the
    summary asks for codes only); ``states``, ``coverage`` and ``facts``
    (:func:`~stridescope.analysis.node_facts.node_facts`), when the caller has them, are not
    computed again; ``fix_estimate`` fills each finding's ``fix``."""
    opts = options or LintOptions()
    ctx = LintContext(
        graph,
        detail=detail,
        measure=opts.measure,
        states=states,
        coverage=coverage,
        facts=facts,
    )
    chosen = opts.chosen()
    findings = tuple(_severe(f, opts) for r in chosen for f in r.check(ctx))
    report = LintReport(
        source=graph.source,
        layout=graph.layout,
        input_shape=graph.input_shape,
        findings=findings,
        input_coverage=ctx.coverage,
        rules=tuple(r.code for r in chosen),
        notes=graph.notes,
    )
    return report if fix_estimate is None else attach_fixes(report, graph, fix_estimate)
