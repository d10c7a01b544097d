"""A model summary: per layer, shape, params, MACs, activation memory, cumulative receptive
field and the share of its own input the layer reads; totals; input coverage.

Every number comes from the IR (:class:`~stridescope.ir.GraphBuilder` computed it); this module
only groups and annotates. Rendering (table, CSV, Markdown) lives apart, in
:mod:`stridescope.analysis.summary_format`.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 8, 3), "nhwc")
>>> x = b.conv(b.input, "conv", out_channels=4, kernel=1, stride=2)
>>> s = summarize(b.build())
>>> s.layers[0].flags, s.totals.params, s.input_coverage, s.lint
(('DS101', 'DS401'), 16, 0.25, (('DS101', 1), ('DS202', 1), ('DS401', 1), ('DS501', 1)))

The flags are the codes of the findings :func:`stridescope.lint` reports for that layer (its
rules, asked for codes only), so the two never disagree; ``lint`` counts every finding by
code, the network-level ones included (here DS202: 75% of the input is never read, and
DS501: each output sees one input position). An op stridescope does not understand
is flagged DS001 and still listed as uncounted in the totals.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stridescope.analysis.formatting import percent
from stridescope.analysis.lint import lint_graph
from stridescope.analysis.node_facts import NodeFacts, node_facts
from stridescope.analysis.summary_rf import RFState, receptive_fields
from stridescope.analysis.summary_rf_notes import coverage_note, field_notes
from stridescope.analysis.units import check_sample_rate, milliseconds, plain_number, position_noun
from stridescope.errors import StridescopeError
from stridescope.ir import Graph, Node, OpKind, Shape, Window
from stridescope.ir.axes import axes_window

__all__ = ["LayerRow", "Summary", "Totals", "percent", "summarize"]


@dataclass(frozen=True)
class LayerRow:
    """One row: a node (``depth=None``) or a group of nodes sharing a module-path prefix."""

    path: str
    kind: str
    output_shape: Shape
    params: int
    macs: int
    activation_bytes: int
    rf_size: tuple[int, ...] | None
    rf_jump: tuple[float, ...] | None  # an int where whole (see units.plain_number)
    rf_note: str
    read_fraction: float | None
    flags: tuple[str, ...]
    nodes: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": None if self.kind == "uncounted" else self.macs,  # unknown, never 0
            "activation_bytes": self.activation_bytes,
            "receptive_field": None
            if self.rf_size is None or self.rf_jump is None
            else {"size": list(self.rf_size), "jump": list(self.rf_jump)},
            "receptive_field_note": self.rf_note,
            "read_fraction": self.read_fraction,
            "flags": list(self.flags),
            "nodes": self.nodes,
        }


@dataclass(frozen=True)
class Totals:
    """Sums over every node. ``activation_bytes``: all output tensors, float32, given batch."""

    params: int
    macs: int
    activation_bytes: int
    uncounted: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "uncounted": list(self.uncounted),
        }


@dataclass(frozen=True)
class Summary:
    """What :func:`stridescope.summary` returns. Receptive fields and jumps count input
    positions: samples (1-D input), pixels (2-D) or voxels (3-D), named by
    :attr:`position_unit`; with a ``sample_rate`` (Hz along the first spatial axis) they are
    also given in milliseconds."""

    source: str
    layout: str
    input_shape: Shape
    depth: int | None
    layers: tuple[LayerRow, ...]
    totals: Totals
    input_coverage: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    lint: tuple[tuple[str, int], ...] = ()  # findings per lint code, network-level ones too
    sample_rate: float | None = None
    bytes_per_value: int = 4  # of activations: 2 for a bf16 model or Keras mixed precision

    @property
    def spatial(self) -> Shape:
        """The input's spatial sizes (a ``(N, L)`` input's: ``L``, as
        :func:`~stridescope.ir.axes.signal_axes` places them)."""
        shape = self.input_shape
        if len(shape) < 3:
            return tuple(shape[1:])
        return shape[1:-1] if self.layout == "nhwc" else shape[2:]

    @property
    def position_unit(self) -> str:
        """``'samples'``, ``'pixels'`` or ``'voxels'``: what the input is made of."""
        return position_noun(len(self.spatial))

    def at_sample_rate(self, sample_rate: float | None) -> Summary:
        """The same summary with times in milliseconds at ``sample_rate`` Hz along the first
        spatial axis (a 1-D signal's samples, a 3-D video's frames); refused for 2-D inputs.

        >>> from stridescope.ir import GraphBuilder
        >>> b = GraphBuilder((1, 1, 16000), "nchw")
        >>> _ = b.conv(b.input, "conv", out_channels=4, kernel=400, stride=320)
        >>> summarize(b.build()).at_sample_rate(16000).to_dict()["layers"][0]["receptive_field"]
        {'size': [400], 'jump': [320], 'size_ms': 25.0, 'jump_ms': 20.0}
        """
        rate = check_sample_rate(sample_rate, len(self.spatial))
        return dataclasses.replace(self, sample_rate=rate)

    def to_dict(self) -> dict[str, Any]:
        layers = [row.to_dict() for row in self.layers]
        if self.sample_rate is not None:
            for row in layers:
                field_ = row["receptive_field"]
                if field_ is not None and field_["size"]:  # (no axes: a further input's)
                    field_["size_ms"] = milliseconds(field_["size"][0], self.sample_rate)
                    field_["jump_ms"] = milliseconds(field_["jump"][0], self.sample_rate)
        return {
            "source": self.source,
            "layout": self.layout,
            "input_shape": list(self.input_shape),
            "position_unit": self.position_unit,
            "sample_rate": self.sample_rate,
            "depth": self.depth,
            "layers": layers,
            "totals": self.totals.to_dict(),
            "input_coverage": self.input_coverage,
            "notes": list(self.notes),
            "lint": dict(self.lint),
            "bytes_per_value": self.bytes_per_value,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


_READS: dict[tuple[object, ...], float | None] = {}


def _window_read(window: Window, spatial: Shape) -> float | None:
    """:meth:`Window.read_fraction`, memoised: geometry walks every input index, and deep
    networks repeat the same few (window, size) pairs. Keyed by the window's fields, as
    hashing and comparing the dataclass on every lookup costs more than the lookup."""
    w = window
    key = (w.kernel, w.stride, w.dilation, w.padding, w.ceil_mode, w.pad_mode, spatial)
    if key not in _READS:
        if len(_READS) >= 4096:
            _READS.clear()
        _READS[key] = w.read_fraction(spatial)
    return _READS[key]


@functools.lru_cache(maxsize=1024)
def _scatter_read(window: Window, spatial: Shape, out: Shape) -> float | None:
    """Share of a transposed convolution's input that reaches some output position (less
    than 1 only when the padding crops every tap of an edge position)."""
    import numpy as np

    from stridescope.analysis.coverage_terms import Scatter

    if any(n is None for n in (*spatial, *out)):
        return None
    share = 1.0
    for n, o, k, s, d, p in zip(
        spatial, out, window.kernel, window.stride, window.dilation, window.padding, strict=True
    ):
        assert n is not None and o is not None
        reached = Scatter(k, s, d, p[0], n).pull(np.ones((1, o), dtype=bool))
        share *= float(reached.mean())
    return share


def _read(graph: Graph, node: Node) -> float | None:
    if node.scatter is not None:
        spatial = graph.spatial(node.input_shape)
        return _scatter_read(node.scatter, spatial, graph.spatial(node.output_shape))
    if node.window is None:
        if node.resample is None or node.spatial_at is not None:
            return None
        spatial = graph.spatial(node.input_shape)
        return node.resample.read_fraction(spatial, graph.spatial(node.output_shape))
    at = node.spatial_at  # a window on axes a permute moved: their sizes where they are
    window = node.window if at is None else axes_window(node, graph.layout)[0]
    if at is not None and window is not None and len(at) == len(window.kernel):
        if node.kind is OpKind.PIXEL_UNSHUFFLE:  # a reshape into blocks: on the parent's axes
            return _window_read(window, graph.spatial_of(graph.nodes[node.parents[0]]))
        return _window_read(window, tuple(node.input_shape[a] for a in at))
    return _window_read(node.window, graph.spatial(node.input_shape))


RFColumns = tuple[tuple[int, ...] | None, tuple[float, ...] | None, str]


def _rf(state: RFState) -> RFColumns:
    if state is None:
        return None, None, "?"
    if isinstance(state, str):  # WHOLE, NO_INPUT
        return None, None, state
    if isinstance(state, tuple):
        return tuple(r.size for r in state), tuple(plain_number(r.jump) for r in state), ""
    return None, None, "?"


def _rf_columns(states: list[RFState]) -> list[RFColumns]:
    """:func:`_rf` of every state, once per state object (a node that keeps its parent's
    field holds the parent's state itself, so most nodes share one)."""
    done: dict[int, RFColumns] = {}
    columns = []
    for state in states:
        found = done.get(id(state))
        if found is None:
            found = done[id(state)] = _rf(state)
        columns.append(found)
    return columns


def _group_key(name: str, depth: int | None) -> str:
    """``depth=N``: the first N dotted components of the module path; a ``/part`` suffix (a
    layer's fused activation, a separable conv's halves) belongs to its layer."""
    if depth is None:
        return name
    return ".".join(name.split("/")[0].split(".")[:depth])


def _group_row(
    graph: Graph,
    key: str,
    nodes: list[Node],
    columns: list[RFColumns],
    codes: dict[int, list[str]],
) -> LayerRow:
    """The row of a group of several nodes: sums, and flags that name their node."""
    last = nodes[-1]
    own = next((n for n in nodes if n.name == key), None)
    kind = str((own or last).kind) if own is not None or len(nodes) == 1 else "group"
    size, jump, note = columns[last.id]
    reads = [r for r in (_read(graph, n) for n in nodes) if r is not None]
    flags: list[str] = []
    for n in nodes:  # a group's rows name the node each code belongs to
        found = codes.get(n.id, [])
        if n.name == key:
            flags.extend(found)
        elif found:
            flags.append(f"{n.name}: {' '.join(found)}")
    return LayerRow(
        path=key,
        kind=kind,
        output_shape=last.output_shape,
        params=sum(n.params for n in nodes),
        macs=sum(n.macs for n in nodes),
        activation_bytes=sum(n.activation_bytes for n in nodes),
        rf_size=size,
        rf_jump=jump,
        rf_note=note,
        read_fraction=min(reads) if reads else None,
        flags=tuple(flags),
        nodes=len(nodes),
    )


def _rows(
    graph: Graph,
    groups: dict[str, list[Node]],
    columns: list[RFColumns],
    codes: dict[int, list[str]],
) -> tuple[LayerRow, ...]:
    """A row per group. A group of one node (every group without ``depth``) needs no sums:
    its row is built here, its fields given as its instance dict in one assignment, as the
    frozen dataclass's ``__init__`` sets each with its own ``object.__setattr__`` call
    (several times slower for a row per node); the row is the same frozen row
    ``LayerRow(**fields)`` makes."""
    rows = []
    new, give = object.__new__, object.__setattr__
    for key, nodes in groups.items():
        if len(nodes) > 1:
            rows.append(_group_row(graph, key, nodes, columns, codes))
            continue
        node = nodes[0]
        found = codes.get(node.id)
        if found is None:
            flags: tuple[str, ...] = ()
        elif node.name == key:
            flags = tuple(found)
        else:
            flags = (f"{node.name}: {' '.join(found)}",)
        size, jump, note = columns[node.id]
        row = new(LayerRow)
        give(
            row,
            "__dict__",
            {
                "path": key,
                "kind": str(node.kind),
                "output_shape": node.output_shape,
                "params": node.params,
                "macs": node.macs,
                "activation_bytes": node.activation_bytes,
                "rf_size": size,
                "rf_jump": jump,
                "rf_note": note,
                "read_fraction": (
                    None
                    if node.window is None and node.scatter is None and node.resample is None
                    else _read(graph, node)
                ),
                "flags": flags,
                "nodes": 1,
            },
        )
        rows.append(row)
    return tuple(rows)


def input_coverage(
    graph: Graph, facts: NodeFacts | None = None, notes: list[str] | None = None
) -> float | None:
    """Share of the input's positions that can influence the output (``None``: no spatial axes,
    or an op of unknown geometry); the walk's notes added to ``notes``, in one."""
    from stridescope.analysis.coverage import coverage_fraction

    found: list[str] = []
    try:
        return coverage_fraction(graph, facts, found)
    except StridescopeError:
        return None
    finally:
        if notes is not None and (note := coverage_note(found)):
            notes.append(note)


def summarize(graph: Graph, depth: int | None = None) -> Summary:
    """Summarise a graph; ``depth=N`` groups nodes by the first N components of their path."""
    if depth is not None and depth < 1:
        raise StridescopeError(f"depth must be a positive integer or None; received {depth!r}")
    facts = node_facts(graph)  # what the parts below all ask of every node, once
    states = receptive_fields(graph, facts)
    coverage = input_coverage(graph, facts, notes := [*graph.notes])
    findings = lint_graph(
        graph, detail=False, states=states, coverage=coverage, facts=facts
    ).findings
    codes: dict[int, list[str]] = {}
    for finding in findings:
        if finding.layer is not None and finding.nodes:
            codes.setdefault(finding.nodes[0], []).append(finding.code)
    groups: dict[str, list[Node]] = {}
    for node in graph.nodes[1:]:
        key = node.name if depth is None else _group_key(node.name, depth)
        groups.setdefault(key, []).append(node)
    rows = _rows(graph, groups, _rf_columns(states), codes)
    totals = Totals(
        params=graph.params,
        macs=graph.macs,
        activation_bytes=graph.activation_bytes,
        uncounted=tuple(n.name for n in graph.uncounted),
    )
    return Summary(
        source=graph.source,
        layout=graph.layout,
        input_shape=graph.input_shape,
        depth=depth,
        layers=rows,
        totals=totals,
        input_coverage=coverage,
        notes=(*notes, *field_notes(graph, states, facts)),
        lint=tuple(sorted(Counter(f.code for f in findings).items())),
        bytes_per_value=graph.dtype_bytes,
    )
