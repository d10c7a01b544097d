"""The fix policies, by name: each decides, from a layer's IR node alone, what the layer
becomes (a :class:`~stridescope.surgery.plans.Plan`) or why it is left as it is (a string).

What the output at the start keeps (see :mod:`stridescope.surgery.records`) is decided here,
per policy and layer, with the argument written next to it:

- a blur or an average pool sums to 1, so for a stationary input (the same distribution at
  every position) it keeps the mean of whatever it filters. Reflect padding keeps that true
  at the border. So a blur *before* a layer (``blurpool-first``, ``resnet-d``) keeps the
  expected output of every element; a blur *after* a layer at stride 1 (``blurpool``) does
  too when that layer reads no padding, but where its windows reach the padding the stride-1
  map's mean differs near the border, and the blur mixes it in: "changed" there.
- ``s2d`` computes the same sums as the old 1x1 conv: identical.
- ``aps`` keeps, per image, the phase of largest norm, which biases the output: changed.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 16, 16), "nchw")
>>> down = b.conv(b.input, "down", out_channels=16, kernel=1, stride=2)
>>> g = b.build()
>>> [policy_plan(name, g, g.nodes[down]).output_at_start for name in policy_names()]
['equal in expectation', 'equal in expectation', 'equal in expectation', 'identical', 'changed']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stridescope.analysis.lint_layer import returns_indices
from stridescope.errors import StridescopeError
from stridescope.geometry import output_size
from stridescope.ir import Graph, Node, OpKind, Window
from stridescope.ir.blur import BLUR_SIZES, blur_padding
from stridescope.registry import Registry
from stridescope.surgery.plans import (
    AvgPoolStep,
    BlurStep,
    Plan,
    PolyphaseStep,
    Restride,
    SpaceToDepthStep,
)
from stridescope.surgery.records import CHANGED, EXPECTATION, IDENTICAL

__all__ = [
    "POLICIES",
    "FixOptions",
    "PolicyRule",
    "policy_names",
    "policy_options",
    "policy_plan",
    "strided",
]


@dataclass(frozen=True)
class FixOptions:
    """Policy options: ``filter_size`` is the blur's taps per axis (3, 4 or 5)."""

    filter_size: int = 3


PolicyRule = Callable[[Graph, Node, FixOptions], "Plan | str"]
POLICIES: Registry[Plan | str] = Registry("policy")
_OPTIONS: dict[str, tuple[str, ...]] = {}


def policy_names() -> tuple[str, ...]:
    return POLICIES.names()


def policy_options(name: str) -> tuple[str, ...]:
    """The options a policy takes.

    >>> policy_options("blurpool"), policy_options("s2d")
    (('filter_size',), ())
    """
    POLICIES.get(name)
    return _OPTIONS.get(name, ())


#: the kinds of layer a fix looks at (pixel unshuffle and APS downsample without loss)
_LOOKED_AT = (OpKind.CONV, OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.SLICE)


def strided(node: Node) -> bool:
    """Whether a node is a downsampling layer a fix looks at: a conv, pool or slice with a
    stride above 1 on some axis."""
    w = node.window
    return node.kind in _LOOKED_AT and w is not None and any(s > 1 for s in w.stride)


def policy_plan(
    name: str, graph: Graph, node: Node, options: FixOptions | None = None
) -> Plan | str:
    """What policy ``name`` makes of ``node``: a plan, or why it leaves the layer alone.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 8, 16, 16), "nchw")
    >>> pool = b.pool(b.input, "pool", mode="max", kernel=3, stride=2, padding=1)
    >>> g = b.build()
    >>> policy_plan("resnet-d", g, g.nodes[pool])
    'a max pool; resnet-d swaps strided convs'
    >>> policy_plan("blurpool", g, g.nodes[pool], FixOptions(filter_size=4)).steps[1]
    BlurStep(size=(4, 4), stride=(2, 2), padding=((1, 2), (1, 2)))
    """
    options = options or FixOptions()
    if options.filter_size not in BLUR_SIZES:
        raise StridescopeError(
            f"filter size must be one of {', '.join(map(str, BLUR_SIZES))}; "
            f"received {options.filter_size!r}"
        )
    rule = POLICIES.get(name).factory
    return rule(graph, node, options)


def _ones(window: Window) -> tuple[int, ...]:
    return (1,) * len(window.kernel)


def _zeros(window: Window) -> tuple[tuple[int, int], ...]:
    return ((0, 0),) * len(window.kernel)


def _blur(size: int, stride: tuple[int, ...], along: tuple[int, ...]) -> BlurStep:
    """A blur at ``stride`` with ``size`` taps on the axes ``along`` subsamples (1 tap on the
    others: an axis kept at full resolution needs no low-pass), at least as many taps as its
    own stride (fewer would leave positions between its windows unread), reflect padding."""
    sizes = tuple(max(size, s) if a > 1 else 1 for s, a in zip(stride, along, strict=True))
    return BlurStep(sizes, stride, tuple(blur_padding(k, "uneven") for k in sizes))


def _too_coarse(w: Window, policy: str) -> str:
    """Why a blur at the layer's stride cannot read every position ('' when it can)."""
    if max(w.stride) <= max(BLUR_SIZES):
        return ""
    return (
        f"stride {_stride_text(w)}: a blur at that stride needs as many taps, and {policy} "
        f"blurs with {max(BLUR_SIZES)} at most; blurpool-first blurs before it at stride 1"
    )


def _stride_text(w: Window) -> str:
    return "x".join(map(str, w.stride))


def _padded(window: Window) -> bool:
    return any(p != (0, 0) for p in window.padding)


def _refusal(graph: Graph, node: Node, kinds: tuple[OpKind, ...], policy: str) -> str:
    """Why ``node`` is not a layer ``policy`` can swap ('' when it is)."""
    w = node.window
    if w is None or all(s == 1 for s in w.stride):
        return "stride 1: not a downsampling layer"
    if not strided(node):
        return f"a {node.kind} layer: no fix policy swaps it"
    if node.shares:
        return f"the layer {node.shares!r} called again: fixed, or not, where it is first called"
    if node.kind is OpKind.CONV and node.params == 0:
        return "a fixed filter without weights (a blur already): left as is"
    if returns_indices(node):
        return "a max pool that returns its indices (for a max unpool): left as is"
    if node.kind not in kinds:
        what = {
            OpKind.AVGPOOL: "average pooling already low-pass filters its input",
            OpKind.SLICE: "strided slicing (x[..., ::2]) has no layer to swap",
            OpKind.MAXPOOL: "a max pool",
        }.get(node.kind, f"a {node.kind} layer")
        swaps = " and ".join({OpKind.CONV: "convs", OpKind.MAXPOOL: "max pools"}[k] for k in kinds)
        return f"{what}; {policy} swaps strided {swaps}"
    if w.crops:
        return "a window with negative padding (a crop): left as is"
    if w.ceil_mode:
        spatial = graph.spatial(node.input_shape)
        floor = tuple(
            output_size(n, k, s, d, p)
            for n, k, s, d, p in zip(
                spatial, w.kernel, w.stride, w.dilation, w.padding, strict=True
            )
        )
        if floor != graph.spatial(node.output_shape):
            return "ceil_mode keeps a last partial window here, which a blur cannot reproduce"
    return ""


def _kernel_text(window: Window) -> str:
    text = "x".join(map(str, window.kernel))
    return text + (" with padding" if _padded(window) else "")


_BORDER = "equal in expectation away from the border; where windows reach the padding, changed"


@POLICIES.register(
    "blurpool",
    doc="A strided conv or max pool runs at stride 1, then a binomial blur at the stride.",
    reference="Zhang 2019, Making Convolutional Networks Shift-Invariant Again",
)
def blurpool(graph: Graph, node: Node, options: FixOptions) -> Plan | str:
    refusal = _refusal(graph, node, (OpKind.CONV, OpKind.MAXPOOL), "blurpool")
    if refusal:
        return refusal
    w = node.window
    assert w is not None
    if coarse := _too_coarse(w, "blurpool"):
        return coarse
    size = options.filter_size
    steps = (Restride(_ones(w), w.padding), _blur(size, w.stride, w.stride))
    if _padded(w) or _after_padding(graph, node):
        return Plan(steps, CHANGED, _BORDER)
    return Plan(steps, EXPECTATION)


def _after_padding(graph: Graph, node: Node) -> bool:
    """Whether the layer reads an explicit pad's output (``F.pad`` before a conv, as a
    TensorFlow-"same" conv pads in its forward): its border windows read padding too."""
    parent = graph.nodes[node.parents[0]] if node.parents else None
    if parent is None or parent.kind is not OpKind.PAD or parent.window is None:
        return False
    return any(before > 0 or after > 0 for before, after in parent.window.padding)


@POLICIES.register(
    "blurpool-first",
    doc=(
        "A binomial blur at stride 1 before a strided conv (a 1x1 conv: the blur at the "
        "stride, then the 1x1 at stride 1); max pools as in blurpool."
    ),
    reference="Zhang 2019; blur before the conv as in MosaicML composer's blurpool",
)
def blurpool_first(graph: Graph, node: Node, options: FixOptions) -> Plan | str:
    if node.kind is OpKind.MAXPOOL:
        plan = blurpool(graph, node, options)
        if isinstance(plan, Plan):
            return Plan(plan.steps, plan.output_at_start, "a max pool: as in blurpool")
        return plan
    refusal = _refusal(graph, node, (OpKind.CONV,), "blurpool-first")
    if refusal:
        return refusal
    w = node.window
    assert w is not None
    size = options.filter_size
    if all(k == 1 for k in w.kernel) and not _padded(w):
        if coarse := _too_coarse(w, "blurpool-first (a 1x1 conv: the blur at its stride)"):
            return coarse
        steps: tuple[BlurStep | Restride, ...] = (
            _blur(size, w.stride, w.stride),
            Restride(_ones(w), _zeros(w)),
        )
    else:
        steps = (_blur(size, _ones(w), w.stride), Restride(w.stride, w.padding))
    return Plan(steps, EXPECTATION)


@POLICIES.register(
    "resnet-d",
    doc="A 1x1 stride-s conv becomes an s x s average pool (ceil mode), then the 1x1 at stride 1.",
    reference="He et al. 2019, Bag of Tricks for Image Classification with CNNs (ResNet-D)",
)
def resnet_d(graph: Graph, node: Node, options: FixOptions) -> Plan | str:
    refusal = _refusal(graph, node, (OpKind.CONV,), "resnet-d")
    if refusal:
        return refusal
    w = node.window
    assert w is not None
    if any(k != 1 for k in w.kernel) or _padded(w):
        return f"resnet-d swaps unpadded 1x1 strided convs; this one is {_kernel_text(w)}"
    return Plan((AvgPoolStep(w.stride), Restride(_ones(w), _zeros(w))), EXPECTATION)


@POLICIES.register(
    "s2d",
    doc=(
        "A 1x1 stride-2 conv becomes space-to-depth then a 1x1 on 4x the channels, the old "
        "weights on the phase it sampled and zero elsewhere: the same output at the start."
    ),
    reference=(
        "Ridnik et al. 2021, TResNet (SpaceToDepth stem); Liu et al. 2022, ConvNeXt (2x2 "
        "stride-2 stem, the same map)"
    ),
)
def s2d(graph: Graph, node: Node, options: FixOptions) -> Plan | str:
    refusal = _refusal(graph, node, (OpKind.CONV,), "s2d")
    if refusal:
        return refusal
    w = node.window
    assert w is not None
    if w.kernel != (1, 1) or w.stride != (2, 2) or _padded(w):
        return (
            "s2d swaps unpadded 1x1 convs with stride 2 on two spatial axes; this one is "
            f"{_kernel_text(w)} stride {'x'.join(map(str, w.stride))}"
        )
    if node.groups != 1:
        return f"s2d swaps convs without groups; this one has groups={node.groups}"
    return Plan((SpaceToDepthStep(),), IDENTICAL)


@POLICIES.register(
    "aps",
    doc="A stride-2 conv or max pool runs at stride 1, then adaptive polyphase sampling.",
    reference="Chaman & Dokmanic 2021, Truly Shift-Invariant Convolutional Neural Networks",
)
def aps(graph: Graph, node: Node, options: FixOptions) -> Plan | str:
    refusal = _refusal(graph, node, (OpKind.CONV, OpKind.MAXPOOL), "aps")
    if refusal:
        return refusal
    w = node.window
    assert w is not None
    if w.stride != (2, 2):
        return (
            "aps samples by 2 on two spatial axes (the zoo's operator); this layer has "
            f"stride {'x'.join(map(str, w.stride))}"
        )
    note = "APS keeps, per image, the phase of largest norm; the old layer kept phase (0, 0)"
    return Plan((Restride(_ones(w), w.padding), PolyphaseStep()), CHANGED, note)


_OPTIONS.update({"blurpool": ("filter_size",), "blurpool-first": ("filter_size",)})
