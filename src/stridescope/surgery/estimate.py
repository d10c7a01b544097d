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
input; for DS202, every input position of a responsible layer must reach its output). The
codes the swap brings (:mod:`.brings`) are the price's ``adds``.

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
from collections.abc import Callable
from typing import Literal

from stridescope.analysis.lint import Finding, Fix, rule_named
from stridescope.analysis.lint_base import LintContext
from stridescope.ir import Graph, Node
from stridescope.surgery.brings import brought, placeless
from stridescope.surgery.plans import Plan, evaluate, plan_graph
from stridescope.surgery.policies import FixOptions, policy_plan
from stridescope.surgery.select import first_call

__all__ = ["LayerCheck", "fix_estimate"]


# (layout, the node without its name and place, plan, code) -> its price: a network repeats a
# layer configuration (every stage's downsampling block), and its price does not depend on
# where the layer is
_PRICES: dict[tuple[str, Node, Plan, str], tuple[int, int] | None] = {}


def _price(graph: Graph, node: Node, plan: Plan, code: str) -> tuple[int, int] | None:
    """Δparams and ΔMACs of ``node`` replaced under ``plan`` (what ``evaluate`` gives), or
    ``None`` when the replacement cannot be built or lint ``code`` still finds something in
    it: its rule runs on the replacement alone (for DS202: some input position of the
    replaced layer still never reaches its output). Remembered per layer configuration."""
    key = (graph.layout, placeless(node), plan, code)
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


#: What the model itself says of swapping ``node`` under ``plan`` (see :func:`fix_estimate`):
#: why ``fix`` leaves it as it is, or the Δparams and ΔMACs ``fix`` measures for it, or
#: ``None`` where the IR's price is fix's.
LayerCheck = Callable[[Graph, Node, Plan], "str | tuple[int, int] | None"]


def fix_estimate(
    graph: Graph,
    finding: Finding,
    options: FixOptions | None = None,
    *,
    check: LayerCheck | None = None,
) -> Fix | None:
    """The cost of removing ``finding`` with its policy, on the IR: Δparams and ΔMACs
    summed over its layers; ``None`` when the finding names no policy, or the policy cannot
    swap one of its layers, or the swap would not remove the finding. ``check``: what the
    model says of each layer (``stridescope.lint`` passes one for the model it reads: a
    functional call or a hooked layer that fix leaves, a conv subclass whose copy fix
    measures)."""
    if finding.policy is None or not finding.nodes:
        return None
    params = macs = 0
    adds: set[str] = set()
    for node_id in finding.nodes:
        priced = _node_price(graph, graph.nodes[node_id], finding, options, check)
        if priced is None:
            return None
        params, macs = params + priced[0], macs + priced[1]
        adds.update(priced[2])
    return Fix(finding.policy, params, macs, tuple(sorted(adds)))


def _node_price(
    graph: Graph,
    node: Node,
    finding: Finding,
    options: FixOptions | None,
    check: LayerCheck | None,
) -> tuple[int, int, tuple[str, ...]] | None:
    """One layer's price, and the codes its swap brings (:func:`~.brings.brought`). A later
    call of a layer (``node.shares``) is priced as ``fix`` prices it: as if it were the first
    call, its weights the first call's (Δparams 0), and only where the first call is
    swapped."""
    policy = finding.policy
    assert policy is not None
    first = first_call(graph, node) if node.shares else None
    if node.shares and first is None:
        return None
    alone = node if first is None else dataclasses.replace(node, shares="", params=first.params)
    plan = policy_plan(policy, graph, alone, options)
    if not isinstance(plan, Plan) or (priced := _price(graph, alone, plan, finding.code)) is None:
        return None
    target, target_plan = node, plan
    if first is not None:
        first_plan = policy_plan(policy, graph, first, options)
        if not isinstance(first_plan, Plan) or evaluate(graph, first, first_plan).reason:
            return None
        target, target_plan = first, first_plan
    verdict = None if check is None else check(graph, target, target_plan)
    if isinstance(verdict, str):
        return None
    adds = brought(graph, alone, plan)
    if first is not None:
        return 0, priced[1], adds
    return (*(priced if verdict is None else verdict), adds)
