"""What a swap brings that the layer did not have: the lint codes a finding's fix adds.

A replacement removes its finding (:mod:`.estimate` checks that), but it may bring another:

- a **layer** code, found by the layer rules on the replacement alone and not on the layer
  alone: a blur of as many taps as a stride of 4 never reaches the last row of a map whose
  size the stride divides (DS201);
- **DS301**, where the replacement moves the output's sampling grid (the centre of its first
  position, in input pixels) and the layer's output meets, at an add, multiply or
  concatenation, a branch that does not come from it: a ResNet-D shortcut's 2x2 average pool
  is centred half a pixel from the 3x3 stride-2 pad-1 main path it is added to. After a
  nearest upsampling the fields repeat in phases, and a conv at stride 1 then a blur at
  stride 2 reach other coarse positions than the strided conv: there the grid is composed on
  the field the layer reads in the graph.

>>> from stridescope.ir import GraphBuilder, OpKind
>>> from stridescope.surgery.policies import policy_plan
>>> b = GraphBuilder((1, 8, 16, 16), "nchw")
>>> x = b.conv(b.input, "stem", out_channels=8, kernel=3, padding=1)
>>> main = b.conv(x, "main", out_channels=16, kernel=3, stride=2, padding=1)
>>> short = b.conv(x, "short", out_channels=16, kernel=1, stride=2)
>>> _ = b.merge([main, short], "add", kind=OpKind.ADD)
>>> g = b.build()
>>> brought(g, g.nodes[short], policy_plan("resnet-d", g, g.nodes[short]))
('DS301',)
>>> brought(g, g.nodes[short], policy_plan("blurpool-first", g, g.nodes[short]))
()
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from stridescope.analysis.lint import rules
from stridescope.analysis.lint_base import LintContext
from stridescope.analysis.rf_state import MERGES
from stridescope.analysis.summary_rf import RFState, receptive_fields
from stridescope.geometry.receptive import ReceptiveField
from stridescope.ir import Graph, GraphBuilder, Node, OpKind
from stridescope.surgery.plans import Plan, Restride, plan_graph, plan_ir
from stridescope.surgery.records import CHANGED

__all__ = ["brought", "placeless"]

# (layout, the node without its name and place, plan) -> the layer codes and grid shift: as
# for prices, a network repeats its layer configurations
_LOCAL: dict[tuple[str, Node, Plan], tuple[tuple[str, ...], bool]] = {}


def brought(graph: Graph, node: Node, plan: Plan) -> tuple[str, ...]:
    """The lint codes ``node`` replaced under ``plan`` brings (sorted; ``()`` for none)."""
    key = (graph.layout, placeless(node), plan)
    if key not in _LOCAL:
        if len(_LOCAL) >= 4096:
            _LOCAL.clear()
        _LOCAL[key] = _local(graph, node, plan)
    codes, shifted = _LOCAL[key]
    asked = _asked(graph)
    if asked.first_resize < node.id:  # (the fields it reads may not be a regular grid)
        shifted = _moves(asked, node, plan)
    if shifted and "DS301" not in codes and asked.meets(node):
        codes = (*codes, "DS301")
    return tuple(sorted(codes))


def placeless(node: Node) -> Node:
    """``node`` without its id, name and parents: the key of what depends on its
    configuration alone (a network repeats its layer configurations)."""
    return replace(node, id=0, name="", parents=())


_RESIZES = frozenset({OpKind.INTERPOLATE, OpKind.CONV_TRANSPOSE})


class _Asked:
    """What brings asks of the graph last priced (every finding of a lint asks of the same
    graph, a layer's findings of the same node): where its first resize or transposed window
    is (after one, fields may repeat in phases, where the same windows composed in another
    order cover other inputs), its receptive fields (made when a layer after one asks), and
    per node whether it meets another branch."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        found = (n.id for n in graph.nodes if n.kind in _RESIZES)
        self.first_resize = next(found, len(graph.nodes))
        self._states: list[RFState] | None = None
        self._met: dict[int, bool] = {}

    @property
    def states(self) -> list[RFState]:
        if self._states is None:
            self._states = receptive_fields(self.graph)
        return self._states

    def meets(self, node: Node) -> bool:
        if node.id not in self._met:
            self._met[node.id] = _meets_other_branch(self.graph, node)
        return self._met[node.id]


_ASKED: _Asked | None = None


def _asked(graph: Graph) -> _Asked:
    global _ASKED
    if _ASKED is None or _ASKED.graph is not graph:
        _ASKED = _Asked(graph)
    return _ASKED


def _moves(asked: _Asked, node: Node, plan: Plan) -> bool:
    """Whether the replacement's output grid sits elsewhere than the layer's (its centre, or
    its phases against each other, which a later stride picks from), composed on the field the
    layer reads in the graph: after a nearest upsampling, a conv at stride 1 then a blur at
    stride 2 reach other coarse positions than the strided conv did."""
    states = asked.states
    parent, before = states[node.parents[0]] if node.parents else None, states[node.id]
    if not isinstance(parent, tuple) or not isinstance(before, tuple):
        return False
    built = plan_graph(asked.graph, node, plan)
    if isinstance(built, str):
        return False
    field = parent
    for made in built[0].nodes[1:]:
        if made.window is not None and len(made.window.kernel) == len(field):
            field = made.window.receptive(field)
    return _moved(before, field)


def _moved(before: RFState, after: RFState) -> bool:
    """Whether two fields' grids sit apart on some axis (:func:`_grid`)."""
    if not isinstance(before, tuple) or not isinstance(after, tuple):
        return False
    return any(_grid(a) != _grid(b) for a, b in zip(before, after, strict=True))


def _grid(field: ReceptiveField) -> tuple[float, tuple[Fraction, ...]]:
    """Where a field's grid sits: its centre, and where each phase's field is centred against
    its place on the grid (a later stride picks one phase: phases moved apart move its grid)."""
    phases = tuple(Fraction(a + b - 1, 2) - p * field.jump for p, (a, b) in enumerate(field.phases))
    return field.centre, tuple(x - phases[0] for x in phases)


def _local(graph: Graph, node: Node, plan: Plan) -> tuple[tuple[str, ...], bool]:
    """The layer codes the replacement alone has and the layer alone has not, and whether
    its output's grid is centred elsewhere."""
    w = node.window
    if w is None or isinstance(plan_graph(graph, node, plan), str):
        return (), False
    old, new = (
        _alone(graph, node, p) for p in (Plan((Restride(w.stride, w.padding),), CHANGED), plan)
    )
    layer_rules = [r for r in rules() if r.scope == "layer" and r.code != "DS401"]
    codes = {r.code for r in layer_rules for _ in r.check(new)} - {
        r.code for r in layer_rules for _ in r.check(old)
    }
    return tuple(sorted(codes)), _moved(old.states[-1], new.states[-1])


def _alone(graph: Graph, node: Node, plan: Plan) -> LintContext:
    """What ``node`` becomes under ``plan`` on its input, after the explicit pad that makes
    that input where there is one (``ZeroPad2d`` before a 'valid' stem conv: the rows it
    drops may be that padding), for the layer rules (its last node last)."""
    pad = graph.nodes[node.parents[0]] if node.parents else None
    if pad is not None and (pad.kind is not OpKind.PAD or pad.window is None or not pad.parents):
        pad = None
    if pad is not None and graph.channels(pad.input_shape) != graph.channels(pad.output_shape):
        pad = None  # (one that pads the channels too)
    b = GraphBuilder(node.input_shape if pad is None else pad.input_shape, graph.layout)
    x = b.input
    if pad is not None and pad.window is not None:
        x = b.pad(x, pad.name, padding=pad.window.padding, mode=pad.window.pad_mode or "zeros")
    plan_ir(b, x, graph, node, plan)
    return LintContext(b.build(), detail=False, measure=False, coverage=None)


def _meets_other_branch(graph: Graph, node: Node) -> bool:
    """Whether a merge after ``node``, on a map its grid leads to (through windows and the
    ops that keep positions), joins it with a map of the merge's size that does not come from
    ``node``."""
    later = graph.nodes[node.id + 1 :]
    from_it = {node.id}
    for n in later:
        if not from_it.isdisjoint(n.parents):
            from_it.add(n.id)
    on_grid = {node.id}
    for n in later:
        if on_grid.isdisjoint(n.parents) or not (spatial := graph.spatial(n.output_shape)):
            continue
        if n.kind in MERGES and any(
            p not in from_it and graph.spatial(graph.nodes[p].output_shape) == spatial
            for p in n.parents
        ):
            return True
        on_grid.add(n.id)
    return False
