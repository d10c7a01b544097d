"""Which layers a fix looks at: all downsampling layers, or those a ``select`` names — layer
paths (a module path selects every layer under it) or lint codes, run by ``stridescope.lint``
itself (``"DS101"``: the layers that skip input; a prefix such as ``"DS2"`` takes every code
under it).

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 16, 16), "nchw")
>>> stem = b.conv(b.input, "stem", out_channels=8, kernel=3, stride=2, padding=1)
>>> _ = b.conv(stem, "block.down", out_channels=16, kernel=1, stride=2)
>>> g = b.build()
>>> layers_for_code(g, "DS101"), sorted(selected_names(g, ["stem", "DS101"]))
(('block.down',), ['block.down', 'stem'])
>>> layers_for_code(g, "DS301")
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: select: lint code DS301 (misaligned merge) flags nothing a fix swaps (no fix policy removes it); lint codes select takes: DS101, DS201, DS202, DS401
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stridescope.analysis.lint import LintOptions, lint_graph, parse_codes, rules
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, Node, OpKind
from stridescope.surgery.policies import strided

__all__ = ["first_call", "layers_for_code", "selectable_codes", "selected_names"]

_CODE = re.compile(r"^DS\d{1,3}$", re.IGNORECASE)


def selectable_codes() -> tuple[str, ...]:
    """The lint codes ``select`` takes: those whose findings name a fix policy.

    >>> selectable_codes()
    ('DS101', 'DS201', 'DS202', 'DS401')
    """
    return tuple(r.code for r in rules() if r.policies)


def layers_for_code(graph: Graph, code: str) -> tuple[str, ...]:
    """The layers lint ``code`` (or a prefix) flags in ``graph``, in graph order: a layer
    finding's layer, a network finding's responsible layers (DS202). Unknown codes list the
    known ones; codes whose findings no fix policy removes are refused."""
    codes = parse_codes(code)
    chosen = [r for r in rules() if any(r.code.startswith(c) for c in codes)]
    fixable = tuple(r.code for r in chosen if r.policies)
    if not fixable:
        named = ", ".join(f"{r.code} ({r.name})" for r in chosen)
        raise StridescopeError(
            f"select: lint code {named} flags nothing a fix swaps (no fix policy removes it); "
            f"lint codes select takes: {', '.join(selectable_codes())}"
        )
    report = lint_graph(graph, LintOptions(select=fixable, measure=False))
    found = {i for f in report.findings for i in f.nodes}
    return tuple(n.name for n in graph.nodes if n.id in found)


def _under(name: str, path: str) -> bool:
    return name == path or name.startswith(path + ".")


def selected_names(graph: Graph, select: Sequence[str] | str) -> frozenset[str]:
    """The node names ``select`` picks: each entry a lint code (``DS101``) or a layer path
    (the layer itself and every layer under it); a later call of a layer picks the layer (its
    first call)."""
    entries = [select] if isinstance(select, str) else list(select)
    names: set[str] = set()
    for entry in entries:
        entry = entry.strip()
        if _CODE.match(entry):
            names.update(layers_for_code(graph, entry))
            continue
        found = {
            n.name for n in graph.nodes if n.kind is not OpKind.INPUT and _under(n.name, entry)
        }
        if not found:
            downsampling = [n.name for n in graph.nodes if strided(n)]
            raise StridescopeError(
                f"select: no layer {entry!r} in the model; its downsampling layers: "
                f"{', '.join(downsampling) or 'none'} (or a lint code: "
                f"{', '.join(selectable_codes())})"
            )
        names.update(found)
    return frozenset(names | _calls_of(graph, names))


def _calls_of(graph: Graph, names: set[str]) -> set[str]:
    """Every call of the layers ``names`` pick: a layer called again is one layer, swapped
    where it is first called (its later calls, named ``<path>_1``, ``td/conv_1``, name it in
    ``shares``)."""
    later = [n for n in graph.nodes if n.shares]
    if not later:
        return set()
    calls: dict[str, set[str]] = {}  # per first call, its later ones
    for n in later:
        if (called := first_call(graph, n)) is not None:
            calls.setdefault(called.name, set()).add(n.name)
    found: set[str] = set()
    for first, again in calls.items():
        if first in names or not again.isdisjoint(names):
            found |= {first, *again}
    return found


def first_call(graph: Graph, node: Node) -> Node | None:
    """The node of the first call of the layer ``node`` calls again: the node ``shares``
    names, else the first of its kind without ``shares`` under the same name up to the first
    '/', as ``fix`` matches them (a Keras layer's parts and steps)."""
    exact = next((n for n in graph.nodes if n.name == node.shares), None)
    if exact is not None:
        return exact
    name = node.shares.partition("/")[0]  # (a TimeDistributed layer's steps: td/conv, td/conv_1)
    return next(
        (
            n
            for n in graph.nodes
            if n.name.partition("/")[0] == name and n.kind is node.kind and not n.shares
        ),
        None,
    )
