"""A fix plan: what one layer becomes, written once, independent of the framework.

A plan is a short sequence of steps (the original layer at a new stride, a blur, an average
pool, APS, space-to-depth) plus what the output at the start keeps. The same plan is turned
into PyTorch modules, into Keras layers, and into IR nodes (:func:`plan_ir`), so the cost a
fix reports, the cost ``lint`` quotes and the summary of the fixed model all come from one
description. :func:`evaluate` prices a plan on a node and checks that the output shape stays.

>>> from stridescope.ir import GraphBuilder
>>> from stridescope.surgery.records import EXPECTATION
>>> b = GraphBuilder((1, 8, 16, 16), "nchw")
>>> down = b.conv(b.input, "down", out_channels=16, kernel=1, stride=2, bias=False)
>>> g = b.build()
>>> plan = Plan((AvgPoolStep((2, 2)), Restride((1, 1), ((0, 0), (0, 0)))), EXPECTATION)
>>> outcome = evaluate(g, g.nodes[down], plan)
>>> outcome.delta_params, outcome.delta_macs, plan_text(g, g.nodes[down], plan)
(0, 2048, 'avgpool 2x2 s2 ceil → conv 1x1 s1, 8→16')
"""

from __future__ import annotations

from dataclasses import dataclass

from stridescope.errors import StridescopeError
from stridescope.geometry import GeometryError
from stridescope.ir import Graph, GraphBuilder, Node, OpKind, Shape, Window, channel_axis
from stridescope.ir.blur import blur_ir
from stridescope.surgery.records import OutputAtStart

__all__ = [
    "AvgPoolStep",
    "BlurStep",
    "Outcome",
    "Plan",
    "PolyphaseStep",
    "Restride",
    "SpaceToDepthStep",
    "Step",
    "evaluate",
    "node_text",
    "plan_graph",
    "plan_ir",
    "plan_text",
]

Pad = tuple[int, int]


@dataclass(frozen=True)
class Restride:
    """The original layer, weights kept, at ``stride`` with ``padding`` per axis."""

    stride: tuple[int, ...]
    padding: tuple[Pad, ...]


@dataclass(frozen=True)
class BlurStep:
    """A fixed binomial blur of ``size`` taps per axis (1: the axis is left alone), reflect
    ``padding``, at ``stride``."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[Pad, ...]


@dataclass(frozen=True)
class AvgPoolStep:
    """Average pooling with kernel = stride = ``size``, ceil mode, padding not counted."""

    size: tuple[int, ...]


@dataclass(frozen=True)
class PolyphaseStep:
    """Adaptive polyphase sampling by 2 (two spatial axes)."""


@dataclass(frozen=True)
class SpaceToDepthStep:
    """Space-to-depth by 2, then a 1x1 conv on 4x the channels: the old weights on the phase
    the old stride-2 1x1 conv sampled, zero on the other three."""


Step = Restride | BlurStep | AvgPoolStep | PolyphaseStep | SpaceToDepthStep


@dataclass(frozen=True)
class Plan:
    """What a layer becomes (``steps``, in order) and what its output keeps at the start."""

    steps: tuple[Step, ...]
    output_at_start: OutputAtStart
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    """A plan priced on a node: the cost difference, or why it cannot be used there."""

    delta_params: int = 0
    delta_macs: int = 0
    reason: str = ""


def _axes(values: tuple[int, ...]) -> str:
    return "x".join(map(str, values))


def _one(values: tuple[int, ...]) -> str:
    """A stride or dilation: one number when every axis has it."""
    return str(values[0]) if len(set(values)) == 1 else _axes(values)


def _pads(padding: tuple[Pad, ...]) -> str:
    if len(set(padding)) == 1:
        return f"{padding[0][0]}+{padding[0][1]}"
    return ",".join(f"{b}+{a}" for b, a in padding)


def _window_text(kind: str, window: Window) -> str:
    text = f"{kind} {_axes(window.kernel)} s{_one(window.stride)}"
    if any(d != 1 for d in window.dilation):
        text += f" d{_one(window.dilation)}"
    if any(p != (0, 0) for p in window.padding):
        text += f" pad {_pads(window.padding)}"
    return text


def _channels(layout: str, shape: Shape) -> int | None:
    return shape[channel_axis(len(shape), "nchw" if layout == "nchw" else "nhwc")]


def node_text(graph: Graph, node: Node) -> str:
    """A short description of a window node, e.g. ``conv 3x3 s2 pad 1+1, 64→128``."""
    if node.window is None:
        return str(node.kind)
    text = _window_text(str(node.kind), node.window)
    if node.kind is OpKind.CONV:
        cin, cout = graph.channels(node.input_shape), graph.channels(node.output_shape)
        text += f", {cin}→{cout}" + (f", groups {node.groups}" if node.groups != 1 else "")
    return text


def _step_text(graph: Graph, node: Node, step: Step) -> str:
    if isinstance(step, Restride):
        w = node.window
        assert w is not None
        moved = Window(w.kernel, step.stride, w.dilation, step.padding, False, w.pad_mode)
        text = _window_text(str(node.kind), moved)
        if node.kind is OpKind.CONV:
            cin, cout = graph.channels(node.input_shape), graph.channels(node.output_shape)
            text += f", {cin}→{cout}"
        return text
    if isinstance(step, BlurStep):
        return f"blur {_axes(step.size)} s{_one(step.stride)} reflect {_pads(step.padding)}"
    if isinstance(step, AvgPoolStep):
        return f"avgpool {_axes(step.size)} s{_one(step.size)} ceil"
    if isinstance(step, PolyphaseStep):
        return "aps 2x2"
    cin, cout = graph.channels(node.input_shape), graph.channels(node.output_shape)
    return f"space-to-depth 2x2 → conv 1x1, {4 * (cin or 0)}→{cout}"


def plan_text(graph: Graph, node: Node, plan: Plan) -> str:
    """A short description of what ``node`` becomes."""
    return " → ".join(_step_text(graph, node, step) for step in plan.steps)


def _bias(node: Node, cin: int, cout: int) -> int:
    """The bias elements of a conv node: its params beyond the weights (0 if shared)."""
    assert node.window is not None
    weights = cout * (cin // node.groups) * _prod(node.window.kernel)
    return max(node.params - weights, 0)


def _prod(values: tuple[int, ...]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _restride_ir(b: GraphBuilder, x: int, node: Node, step: Restride, name: str) -> int:
    w = node.window
    assert w is not None
    if node.kind is OpKind.CONV:
        return b.conv(
            x,
            f"{name}.conv",
            out_channels=_channels(b.layout, node.output_shape) or 1,
            kernel=w.kernel,
            stride=step.stride,
            dilation=w.dilation,
            padding=list(step.padding),
            groups=node.groups,
            params=node.params,
            op=node.op,
            pad_mode=w.pad_mode,
        )
    mode = "max" if node.kind is OpKind.MAXPOOL else "avg"
    return b.pool(
        x,
        f"{name}.pool",
        mode=mode,
        kernel=w.kernel,
        stride=step.stride,
        dilation=w.dilation,
        padding=list(step.padding),
        op=node.op,
    )


def _s2d_ir(b: GraphBuilder, x: int, node: Node, name: str) -> int:
    shape = b.shape(x)
    spatial = tuple(
        shape[a] for a in range(len(shape)) if a not in (0, channel_axis(len(shape), b.layout))
    )
    cin, cout = _channels(b.layout, shape) or 1, _channels(b.layout, node.output_shape) or 1
    if any(n is not None and n % 2 for n in spatial):  # odd sizes: one zero at the end
        x = b.pad(x, f"{name}.pad", padding=[(0, (n or 0) % 2) for n in spatial], op="s2d")
    x = b.pixel_unshuffle(x, f"{name}.unshuffle", factor=2, op="s2d")
    bias = _bias(node, cin, cout)
    params = 4 * (node.params - bias) + bias
    return b.conv(x, f"{name}.conv", out_channels=cout, kernel=1, params=params, op=node.op)


def plan_ir(builder: GraphBuilder, parent: int, graph: Graph, node: Node, plan: Plan) -> int:
    """Add the nodes ``node`` becomes under ``plan`` on top of ``parent``; return the last."""
    x, name = parent, node.name
    for step in plan.steps:
        if isinstance(step, Restride):
            x = _restride_ir(builder, x, node, step, name)
        elif isinstance(step, BlurStep):
            x = blur_ir(
                builder,
                x,
                f"{name}.blur",
                size=step.size,
                stride=step.stride,
                padding=step.padding,
                op="BlurPool",
            )
        elif isinstance(step, AvgPoolStep):
            rank = len(step.size)
            x = builder.pool(
                x,
                f"{name}.pool",
                mode="avg",
                kernel=step.size,
                stride=step.size,
                padding=[(0, 0)] * rank,
                ceil_mode=True,
                op="AvgPool",
            )
        elif isinstance(step, PolyphaseStep):
            x = builder.polyphase(x, f"{name}.aps", factor=2, op="AdaptivePolyphase")
        else:
            x = _s2d_ir(builder, x, node, name)
    return x


def _reflect_problem(graph: Graph, node: Node) -> str:
    """Why a blur's reflect padding cannot be applied (its padding reaches past the map)."""
    w = node.window
    if w is None or w.pad_mode != "reflect" or node.params:
        return ""
    spatial = graph.spatial(node.input_shape)
    for n, (before, after) in zip(spatial, w.padding, strict=True):
        if n is not None and max(before, after) >= n:
            return (
                f"the map before the blur is {_axes(tuple(m or 0 for m in spatial))}: too small "
                f"for reflect padding {before}+{after}"
            )
    return ""


def plan_graph(graph: Graph, node: Node, plan: Plan) -> tuple[Graph, int] | str:
    """The IR of what ``node`` becomes under ``plan``, alone on an input of ``node``'s input
    shape, and the id of its last node; or why it cannot be built there (the output shape
    would change, the map is too small for reflect padding, ...)."""
    builder = GraphBuilder(node.input_shape, graph.layout)
    try:
        last = plan_ir(builder, builder.input, graph, node, plan)
    except (StridescopeError, GeometryError) as error:
        return f"the replacement does not fit this input: {error}"
    local = builder.build()
    for made in local.nodes:
        problem = _reflect_problem(local, made)
        if problem:
            return problem
    shape = local.nodes[last].output_shape
    if shape != node.output_shape:
        return f"the replacement would give {shape} instead of {node.output_shape}"
    return local, last


def evaluate(graph: Graph, node: Node, plan: Plan) -> Outcome:
    """Price ``plan`` on ``node``: the difference in params and MACs, from the IR; a reason
    instead when the replacement would change the output shape or cannot be built."""
    built = plan_graph(graph, node, plan)
    if isinstance(built, str):
        return Outcome(reason=built)
    local, _ = built
    return Outcome(local.params - node.params, local.macs - node.macs)
