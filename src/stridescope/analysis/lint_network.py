"""Network rules: DS202 (unread input), DS301 (misaligned merge) and DS501 (receptive field
short of the input). See docs/lint.md for every rule.

Grids (DS301): per axis, output position 0 of a tensor is centred on input pixel
``start + (size - 1) / 2`` of its receptive field, and neighbours are ``jump`` pixels apart
(:mod:`stridescope.analysis.summary_rf`); after an upsampling, where fields repeat in phases,
the grid is where the phases' centres sit on average (:attr:`ReceptiveField.centre`). Two
branches merged by add, multiply or concatenation sample the same grid when both agree.

>>> from stridescope.ir import GraphBuilder, OpKind
>>> b = GraphBuilder((1, 8, 16, 16), "nchw")
>>> main = b.conv(b.input, "main", out_channels=8, kernel=3, stride=2, padding=1)
>>> short = b.pool(b.input, "short", mode="avg", kernel=2, stride=2)
>>> _ = b.merge([main, short], "add", kind=OpKind.ADD)
>>> [f.evidence["misalignment"] for f in misaligned_merge.check(LintContext(b.build()))]
[[0.5, 0.5]]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from stridescope.analysis.formatting import axes_text, percent
from stridescope.analysis.lint_base import Finding, LintContext, Rule, rule
from stridescope.analysis.lint_layer import border_policy, skip_policy
from stridescope.analysis.lint_reach import responsible
from stridescope.analysis.lint_reads import layer_reads, polyphase, split_roots, unpadded_reads
from stridescope.analysis.rf_state import MERGES
from stridescope.analysis.summary_rf import WHOLE, merged
from stridescope.analysis.units import plain_number, position_noun, position_short
from stridescope.errors import StridescopeError
from stridescope.geometry import ReceptiveField
from stridescope.geometry.receptive import Jump
from stridescope.ir import OpKind
from stridescope.ir.axes import axes_window

__all__ = ["misaligned_merge", "short_field", "unread_input"]


def _codes(ctx: LintContext, node_id: int) -> list[str]:
    """The layer codes a responsible layer carries (DS101 / DS201, as those rules decide)."""
    node = ctx.graph.nodes[node_id]
    reads = layer_reads(ctx, node) or ()
    codes = ["DS101"] if any(r.gap for r in reads) and node_id not in polyphase(ctx) else []
    border = any(r.drops_border for r in (unpadded_reads(ctx, node) or reads))
    if border and node.kind not in (OpKind.PAD, OpKind.SLICE):
        codes.append("DS201")
    return codes


def _policy(ctx: LintContext, blamed: tuple[int, ...]) -> str | None:
    """The policy that removes every responsible layer's drop: theirs when they agree, else
    blurpool when it handles them all (it removes both skips and dropped borders)."""
    policies: set[str | None] = set()
    for node_id in blamed:
        node, codes = ctx.graph.nodes[node_id], _codes(ctx, node_id)
        policies.add(skip_policy(node) if "DS101" in codes else border_policy(node))
    if len(policies) == 1:
        return policies.pop()
    fixable = all(border_policy(ctx.graph.nodes[i]) == "blurpool" for i in blamed)
    return "blurpool" if blamed and fixable else None


def _unread_lines(unread: np.ndarray) -> list[list[int]]:
    """Per axis, the indices whose whole line (row, column) is unread."""
    return [
        [
            int(i)
            for i in np.flatnonzero(
                unread.all(axis=tuple(a for a in range(unread.ndim) if a != axis))
            )
        ]
        for axis in range(unread.ndim)
    ]


@rule(
    "DS202",
    "unread input",
    "warning",
    "network",
    "Input positions (samples, pixels, voxels) that can never influence the output (input "
    "coverage < 1), with the layers responsible.",
    ("resnet-d", "blurpool"),
)
def unread_input(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    fraction = ctx.coverage
    sizes = ctx.known(ctx.graph.nodes[0])
    if fraction is None or fraction >= 1.0 or sizes is None:
        return
    total = math.prod(sizes)
    evidence: dict[str, Any] = {
        "input_coverage": fraction,
        "input_spatial": list(sizes),
        "unread_positions": round((1.0 - fraction) * total),
    }
    blamed: tuple[int, ...] = ()
    if ctx.detail:
        from stridescope.analysis.coverage import coverage_map

        try:
            unread = coverage_map(ctx.graph).counts == 0
        except StridescopeError:
            unread = None
        if unread is not None:
            blamed = responsible(ctx, unread)
            evidence["unread_positions"] = int(unread.sum())
            evidence["unread_lines"] = _unread_lines(unread)
            evidence["responsible"] = [
                {"layer": ctx.graph.nodes[i].name, "codes": _codes(ctx, i)} for i in blamed
            ]
    message = (
        f"{percent(1.0 - fraction)} of the {axes_text(sizes)} input {position_noun(len(sizes))} "
        f"({evidence['unread_positions']:,}) can never influence the output"
    )
    if blamed:
        message += f"; responsible: {', '.join(ctx.graph.nodes[i].name for i in blamed)}"
    yield self.finding(None, message, evidence, _policy(ctx, blamed), blamed)


def _grid(field: tuple[ReceptiveField, ...]) -> tuple[tuple[Jump, float], ...]:
    """Per axis ``(jump, where the grid's position 0 is centred)`` in input pixels."""
    return tuple((r.jump, r.centre) for r in field)


def _grid_of(
    field: tuple[ReceptiveField, ...], done: dict[int, tuple[tuple[Jump, float], ...]]
) -> tuple[tuple[Jump, float], ...]:
    """:func:`_grid`, once per field object (``done`` holds the fields' grids by id)."""
    found = done.get(id(field))
    if found is None:
        found = done[id(field)] = _grid(field)
    return found


_GATED = frozenset({OpKind.ADD, OpKind.MUL, OpKind.ACTIVATION, OpKind.NORM, OpKind.DROPOUT})


def _sampling(ctx: LintContext) -> list[tuple[ReceptiveField, ...] | None]:
    """Per node, the field whose grid says where its positions sit: its receptive field, or,
    where a gate of the whole input (squeeze-and-excitation's ``x * sigmoid(fc(mean(x)))``)
    made that the whole input, the grid of the full-size operand it scales (and through the
    element-wise ops and windows after it); ``None`` where no grid is known."""
    sizes = ctx.facts.layout_sizes
    found: list[tuple[ReceptiveField, ...] | None] = []
    for node, state in zip(ctx.graph.nodes, ctx.states, strict=True):
        field = state if isinstance(state, tuple) else None
        if field is None and state == WHOLE and node.kind in _GATED:
            parents = node.parents
            if len(parents) == 1:  # (most: the parent's grid, where it has one, as merged gives)
                p = parents[0]
                field = found[p] if sizes[p] == sizes[node.id] else None
            else:
                full = [found[p] for p in dict.fromkeys(parents) if sizes[p] == sizes[node.id]]
                union = merged(list(full)) if full else None  # (as the field merges them)
                field = union if isinstance(union, tuple) else None
        elif field is None and state == WHOLE and (window := node.window) is not None:
            if node.spatial_at is not None:  # (the layer's window, where the axes are)
                window = axes_window(node, ctx.graph.layout)[0] or window
            parent = found[node.parents[0]]  # (a 1x1 conv after the gate: RegNetY's)
            if parent is not None and len(parent) == len(window.kernel):
                field = parent if window.identity else window.receptive(parent)
        found.append(field)
    return found


def _ancestors(ctx: LintContext, node_id: int) -> set[int]:
    seen, stack = {node_id}, [node_id]
    while stack:
        for parent in ctx.graph.nodes[stack.pop()].parents:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _split(ctx: LintContext, branches: list[int]) -> int | None:
    """The last node every branch comes from (where they split), if any."""
    common = set.intersection(*(_ancestors(ctx, b) for b in branches))
    return max(common) if common else None


def _merge_evidence(
    ctx: LintContext,
    branches: list[int],
    grids: list[tuple[tuple[Jump, float], ...]],
    sampling: list[tuple[ReceptiveField, ...] | None],
) -> dict[str, Any]:
    split = _split(ctx, branches)
    state = sampling[split] if split is not None else None
    base = _grid(state) if isinstance(state, tuple) and len(state) == len(grids[0]) else None
    records = []
    for branch, grid in zip(branches, grids, strict=True):
        record: dict[str, Any] = {
            "layer": ctx.graph.nodes[branch].name,
            "jump_input": [plain_number(j) for j, _ in grid],
            "offset_input": [c for _, c in grid],
            "jump": None,
            "offset": None,
        }
        if base is not None:
            record["jump"] = [float(j / bj) for (j, _), (bj, _) in zip(grid, base, strict=True)]
            record["offset"] = [
                float((c - bc) / bj) for (_, c), (bj, bc) in zip(grid, base, strict=True)
            ]
        records.append(record)
    spread = [max(c) - min(c) for c in zip(*(r["offset_input"] for r in records), strict=True)]
    return {
        "split": None if split is None else ctx.graph.nodes[split].name,
        "branches": records,
        "misalignment": None
        if base is None
        else [float(s / bj) for s, (bj, _) in zip(spread, base, strict=True)],
        "misalignment_input": spread,
        "same_jump": len({tuple(j for j, _ in g) for g in grids}) == 1,
    }


def _one_split(ctx: LintContext, branches: list[int]) -> bool:
    """Whether every branch is made of polyphase pieces of the same tensor
    (:func:`split_roots`): their grids are offset by design, as ``pixel_unshuffle``'s
    channels are (space-to-depth, a Haar wavelet's sums and differences)."""
    roots = split_roots(ctx)
    found = {roots[b] for b in branches}
    return len(found) == 1 and None not in found


@rule(
    "DS301",
    "misaligned merge",
    "info",
    "layer",
    "Tensors joined by add, multiply or concatenation whose sampling grids differ: the same "
    "jump with a different offset (a ResNet-D average-pool shortcut against a 3x3 stride-2 "
    "pad-1 main path: half a pixel), or different jumps.",
)
def misaligned_merge(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    graph, known = ctx.graph, ctx.facts.layout_sizes
    grids_of: dict[int, tuple[tuple[Jump, float], ...]] = {}  # by state object: merges share them
    sampling: list[tuple[ReceptiveField, ...] | None] | None = None  # (made when needed)
    for node in graph.nodes:
        out = known[node.id] if node.kind in MERGES else None
        if out is None:
            continue
        sampling = _sampling(ctx) if sampling is None else sampling
        sampled = {p: sampling[p] for p in dict.fromkeys(node.parents)}
        branches = [p for p, f in sampled.items() if known[p] == out and f is not None]
        fields = [sampled[p] for p in branches]
        grids = [
            _grid_of(f, grids_of) for f in fields if isinstance(f, tuple) and len(f) == len(out)
        ]
        if len(grids) < 2 or len(grids) != len(branches) or len(set(grids)) == 1:
            continue
        if _one_split(ctx, branches):
            continue  # the phases of a polyphase split, joined as pixel_unshuffle joins them
        if not ctx.detail:  # codes only: not where the branches split (an ancestor walk each)
            names = [graph.nodes[b].name for b in branches]
            yield self.finding(
                node, "merges branches whose sampling grids differ", {"branches": names}
            )
            continue
        evidence = _merge_evidence(ctx, branches, grids, sampling)
        where = evidence["split"] or "the input"
        apart = axes_text(evidence["misalignment_input"])
        unit = position_short(len(out))  # px, samples, voxels
        if evidence["same_jump"] and evidence["misalignment"] is not None:
            message = (
                f"merges branches whose grids are {axes_text(evidence['misalignment'])} {unit} "
                f"apart in {where}, where they split ({apart} {unit} of the input)"
            )
        else:
            jumps = " vs ".join(axes_text(r["jump_input"]) for r in evidence["branches"])
            message = f"merges branches sampled with jumps {jumps} {unit} of the input"
        yield self.finding(node, message, evidence)


@rule(
    "DS501",
    "receptive field short of the input",
    "info",
    "network",
    "The output cannot see the whole input: each output position's receptive field is "
    "smaller than the input on some axis (a fully convolutional network; one that ends in a "
    "global pool or a dense layer sees everything).",
)
def short_field(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    out = ctx.graph.output
    field, sizes = ctx.states[out.id], ctx.known(ctx.graph.nodes[0])
    if not isinstance(field, tuple) or sizes is None or len(field) != len(sizes):
        return
    if all(r.size >= n for r, n in zip(field, sizes, strict=True)):
        return
    rf = [r.size for r in field]
    evidence = {"output_layer": out.name, "receptive_field": rf, "input_spatial": list(sizes)}
    message = (
        f"each output position of {out.name} sees at most {axes_text(rf)} of the "
        f"{axes_text(sizes)} input {position_noun(len(sizes))}"
    )
    yield self.finding(None, message, evidence, None, (out.id,))
