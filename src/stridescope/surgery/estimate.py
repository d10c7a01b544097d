"""What removing a lint finding costs, priced by the fix policies: the ``fix`` of every
finding ``stridescope.lint`` reports.

:func:`fix_estimate` takes the finding's policy and its layers (the layer itself; for DS202
the layers responsible for the unread input), plans each as ``stridescope fix`` would, and
returns the sum of their Δparams and ΔMACs: the numbers ``fix`` reports for those layers,
which are the difference of the two models' summaries. It returns ``None`` — never a wrong
number — when the policy leaves one of the layers as it is (a padded 1x1 conv under
``resnet-d``, a ceil-mode pool whose last window a blur cannot reproduce, ...) or when the
replacement would not remove the finding: the finding's own rule runs on the replacement
alone and must find nothing there (a 3-tap blur that samples every 4th position still skips
input; for DS202, every input position of a responsible layer must reach its output).

>>> from stridescope.analysis.lint import LintOptions, lint_graph
>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 16, 16), "nchw")
>>> _ = b.conv(b.input, "down", out_channels=16, kernel=1, stride=2, bias=False)
>>> g = b.build()
>>> report = lint_graph(g, LintOptions(measure=False), fix_estimate=fix_estimate)
>>> for f in report.findings:
...     print(f.code, f.fix)
DS101 Fix(policy='resnet-d', delta_params=0, delta_macs=2048)
DS202 Fix(policy='resnet-d', delta_params=0, delta_macs=2048)
DS401 Fix(policy='blurpool-first', delta_params=0, delta_macs=4608)
DS501 None
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from stridescope.analysis.lint import Finding, Fix, rule_named
from stridescope.analysis.lint_base import LintContext
from stridescope.ir import Graph, Node
from stridescope.surgery.plans import Plan, plan_graph
from stridescope.surgery.policies import FixOptions, policy_plan

__all__ = ["fix_estimate"]


# (layout, the node without its name and place, plan, code) -> its price: a network repeats a
# layer configuration (every stage's downsampling block), and its price does not depend on
# where the layer is
_PRICES: dict[tuple[str, Node, Plan, str], tuple[int, int] | None] = {}


def _price(graph: Graph, node: Node, plan: Plan, code: str) -> tuple[int, int] | None:
    """Δparams and ΔMACs of ``node`` replaced under ``plan`` (what ``evaluate`` gives), or
    ``None`` when the replacement cannot be built or lint ``code`` still finds something in
    it: its rule runs on the replacement alone (for DS202: some input position of the
    replaced layer still never reaches its output). Remembered per layer configuration."""
    key = (graph.layout, dataclasses.replace(node, id=0, name="", parents=()), plan, code)
    if key not in _PRICES:
        if len(_PRICES) >= 4096:
            _PRICES.clear()
        _PRICES[key] = _price_alone(graph, node, plan, code)
    return _PRICES[key]


def _price_alone(graph: Graph, node: Node, plan: Plan, code: str) -> tuple[int, int] | None:
    built = plan_graph(graph, node, plan)
    if isinstance(built, str):
        return None
    local, _ = built
    rule = rule_named(code)
    # layer rules read no coverage: leave it out (a network rule computes it)
    coverage: Literal["unset"] | None = None if rule.scope == "layer" else "unset"
    ctx = LintContext(local, detail=False, measure=False, coverage=coverage)
    if any(True for _ in rule.check(ctx)):
        return None
    return local.params - node.params, local.macs - node.macs


def fix_estimate(graph: Graph, finding: Finding, options: FixOptions | None = None) -> Fix | None:
    """The cost of removing ``finding`` with its policy, on the IR: Δparams and ΔMACs
    summed over its layers; ``None`` when the finding names no policy, or the policy cannot
    swap one of its layers, or the swap would not remove the finding."""
    if finding.policy is None or not finding.nodes:
        return None
    params = macs = 0
    for node_id in finding.nodes:
        node = graph.nodes[node_id]
        plan = policy_plan(finding.policy, graph, node, options)
        priced = _price(graph, node, plan, finding.code) if isinstance(plan, Plan) else None
        if priced is None:
            return None
        params, macs = params + priced[0], macs + priced[1]
    return Fix(finding.policy, params, macs)
