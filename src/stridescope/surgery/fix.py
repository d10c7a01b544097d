"""``fix``: swap a model's downsampling layers under a policy, weights kept; and ``fix_cost``,
what one policy costs on one layer of any IR graph (what ``lint`` quotes).

The pipeline: read the model into the IR; pick the layers (all strided ones, or a
``select``); let the policy plan each from its IR node; price every plan on the IR (the same
numbers the fixed model's summary gives); build the new model (PyTorch: module surgery on a
deep copy; Keras: ``clone_model``); read the new model back and check its output shape.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 64, 56, 56), "nchw")
>>> _ = b.conv(b.input, "layer2.0.downsample.0", out_channels=128, kernel=1, stride=2, bias=False)
>>> fix_cost(b.build(), "blurpool", "layer2.0.downsample.0")
FixCost(policy='blurpool', layer='layer2.0.downsample.0', delta_params=0, delta_macs=20170752, output_at_start='equal in expectation')
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frameworks import is_keras_model
from stridescope.frontends import load_graph
from stridescope.frontends.inputs import Inputs
from stridescope.ir import Graph, Node, OpKind
from stridescope.surgery.plans import Plan, evaluate, node_text, plan_text
from stridescope.surgery.policies import FixOptions, policy_options, policy_plan, strided
from stridescope.surgery.records import (
    Change,
    FixCost,
    Fixed,
    OutputAtStart,
    Unchanged,
)
from stridescope.surgery.select import selected_names

__all__ = ["fix", "fix_cost"]

InputShape = Inputs


def _options(policy: str, filter_size: int | None) -> FixOptions:
    allowed = policy_options(policy)  # unknown policies list the known ones
    if filter_size is None:
        return FixOptions()
    if "filter_size" not in allowed:
        raise StridescopeError(
            f"policy {policy!r} takes no filter size (it has no blur); received "
            f"filter_size={filter_size!r}"
        )
    return FixOptions(filter_size=filter_size)


def _framework(model: object) -> str:
    if is_keras_model(model):
        from stridescope.surgery.keras_apply import check_keras_model

        check_keras_model(model)
        return "keras"
    if "torch" in sys.modules:
        from torch import nn

        if isinstance(model, nn.Module):
            from stridescope.surgery.torch_models import check_torch_model

            check_torch_model(model)
            return "torch"
    what = (
        "an IR graph, which has no weights (fix_cost prices a policy on one)"
        if isinstance(model, Graph)
        else f"{type(model).__name__}"
    )
    raise StridescopeError(f"fix takes a torch.nn.Module or a Keras model; received {what}")


def _plans(
    graph: Graph, policy: str, options: FixOptions, select: Sequence[str] | str | None
) -> tuple[dict[str, tuple[Node, Plan, tuple[int, int]]], dict[str, Unchanged]]:
    """The plan of every layer looked at, or why it stays (by node name, in graph order)."""
    chosen = None if select is None else selected_names(graph, select)
    explicit = set() if select is None else {select} if isinstance(select, str) else set(select)
    planned: dict[str, tuple[Node, Plan, tuple[int, int]]] = {}
    unchanged: dict[str, Unchanged] = {}
    for node in graph.nodes:
        looked_at = strided(node) and (chosen is None or node.name in chosen)
        if not looked_at and node.name not in explicit:
            continue
        plan = policy_plan(policy, graph, node, options)
        outcome = evaluate(graph, node, plan) if isinstance(plan, Plan) else None
        reason = plan if isinstance(plan, str) else outcome.reason if outcome else ""
        if reason or not isinstance(plan, Plan):
            unchanged[node.name] = Unchanged(
                node.name, str(node.kind), node_text(graph, node), reason
            )
            continue
        channels = (graph.channels(node.input_shape) or 0, graph.channels(node.output_shape) or 0)
        planned[node.name] = (node, plan, channels)
    return planned, unchanged


def _change(
    graph: Graph, node: Node, plan: Plan, override: tuple[OutputAtStart, str] | None
) -> Change:
    outcome = evaluate(graph, node, plan)
    output, note = override or (plan.output_at_start, plan.note)
    return Change(
        node.name,
        str(node.kind),
        node_text(graph, node),
        plan_text(graph, node, plan),
        outcome.delta_params,
        outcome.delta_macs,
        output,
        note,
    )


def _called_again(
    graph: Graph,
    policy: str,
    options: FixOptions,
    changes: list[Change],
    unchanged: dict[str, Unchanged],
    overrides: dict[str, tuple[OutputAtStart, str]],
) -> list[Change]:
    """The later calls of a layer swapped at its first call (a conv applied twice, a
    ``TimeDistributed`` layer's later steps): changed too, each priced at its own input.
    A layer is matched by its name up to the first '/' (a Keras layer's parts and steps)."""
    swapped = {c.layer.partition("/")[0]: c for c in changes}
    nodes = {n.name: n for n in graph.nodes}
    made = []
    for name in list(unchanged):
        node = nodes[name]
        first = swapped.get(node.shares.partition("/")[0]) if node.shares else None
        if first is None:
            continue
        alone = replace(node, shares="", params=nodes[first.layer].params)  # as if first
        plan = policy_plan(policy, graph, alone, options)
        if isinstance(plan, Plan) and not evaluate(graph, alone, plan).reason:
            change = _change(graph, alone, plan, overrides.get(first.layer))
            made.append(replace(change, delta_params=0))  # its weights: the first call's
    return made


def fix(
    model: Any,
    policy: str,
    *,
    select: Sequence[str] | str | None = None,
    input_shape: InputShape = None,
    filter_size: int | None = None,
) -> Fixed:
    """A new model with the downsampling layers swapped under ``policy`` (``blurpool``,
    ``blurpool-first``, ``resnet-d``, ``s2d``, ``aps``), weights kept; the original is never
    modified. ``select``: layer paths (a path selects the layers under it) or lint codes
    (``"DS101"``: the layers that skip input); default: every strided layer. ``input_shape``
    is needed for PyTorch models (costs are per input size). ``filter_size``: the blur's taps
    (3, 4 or 5; blur policies only). See ``docs/fix.md`` for what each policy keeps.
    """
    framework = _framework(model)
    options = _options(policy, filter_size)
    graph = load_graph(model, input_shape)
    planned, unchanged = _plans(graph, policy, options, select)
    overrides: dict[str, tuple[OutputAtStart, str]] = {}
    costs: dict[str, tuple[int, int]] = {}  # measured where a copy was checked, not planned
    if framework == "torch":
        from stridescope.surgery.torch_apply import apply_torch

        fixed_model, refused, costs = apply_torch(model, planned, graph)
    else:
        from stridescope.surgery.keras_apply import apply_keras

        two = {name: (node, plan) for name, (node, plan, _) in planned.items()}
        fixed_model, refused, overrides = apply_keras(model, two)
    changes = []
    for name, (node, plan, _) in planned.items():
        if name in refused:
            unchanged[name] = Unchanged(name, str(node.kind), node_text(graph, node), refused[name])
        else:
            change = _change(graph, node, plan, overrides.get(name))
            if name in costs:
                change = replace(change, delta_params=costs[name][0], delta_macs=costs[name][1])
            changes.append(change)
    for change in _called_again(graph, policy, options, changes, unchanged, overrides):
        del unchanged[change.layer]
        changes.append(change)
    order = {n.name: n.id for n in graph.nodes}
    changes.sort(key=lambda c: order[c.layer])
    after = load_graph(fixed_model, input_shape)
    if after.output.output_shape != graph.output.output_shape:
        raise StridescopeError(
            f"internal: the fixed model's output {after.output.output_shape} differs from "
            f"{graph.output.output_shape}"
        )
    kept = tuple(sorted(unchanged.values(), key=lambda u: order[u.layer]))
    return Fixed(fixed_model, policy, tuple(changes), kept, graph, after)


def fix_cost(
    target: Any,
    policy: str,
    layer: str,
    input_shape: InputShape = None,
    *,
    filter_size: int | None = None,
) -> FixCost | None:
    """What ``policy`` would cost on ``layer`` (a node name: module path or Keras layer name)
    of ``target`` (an IR graph, or anything ``stridescope.summary`` reads), from the IR alone:
    Δparams, ΔMACs and the output-at-start class; ``None`` when the policy leaves the layer
    as it is. The numbers are those ``fix`` reports for the same layer."""
    graph = target if isinstance(target, Graph) else load_graph(target, input_shape)
    node = next((n for n in graph.nodes if n.name == layer and n.kind is not OpKind.INPUT), None)
    if node is None:
        downsampling = [n.name for n in graph.nodes if strided(n)]
        raise StridescopeError(
            f"no layer {layer!r} in {graph.source or 'the graph'}; its downsampling layers: "
            f"{', '.join(downsampling) or 'none'}"
        )
    plan = policy_plan(policy, graph, node, _options(policy, filter_size))
    if not isinstance(plan, Plan):
        return None
    outcome = evaluate(graph, node, plan)
    if outcome.reason:
        return None
    return FixCost(policy, layer, outcome.delta_params, outcome.delta_macs, plan.output_at_start)
