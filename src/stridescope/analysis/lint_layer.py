"""Layer rules: DS001 (op not understood), DS101 (skipped input), DS201 (dropped border) and
DS401 (aliasing). Each looks at one node at a time; see docs/lint.md for every rule.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> x = b.conv(b.input, "down", out_channels=4, kernel=1, stride=2)
>>> [f.message for f in skipped_input.check(LintContext(b.build(), detail=False))]
['reads 25% of its input: stride 2x2 over kernel 1x1 leaves positions between its windows unread']
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from stridescope.analysis.formatting import axes_text, percent
from stridescope.analysis.lint_base import Finding, LintContext, Rule, rule
from stridescope.analysis.lint_reads import (
    AxisReads,
    polyphase,
    producers,
    unpadded_reads,
    windowed,
)
from stridescope.ir import Node, OpKind, Window
from stridescope.ir.blur import BLUR_SIZES

__all__ = [
    "alias_policy",
    "aliasing",
    "border_policy",
    "dropped_border",
    "is_lowpass",
    "returns_indices",
    "skip_policy",
    "skipped_input",
    "uncounted",
]

_PASS_THROUGH = frozenset({OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.PAD})
_STRIDED = frozenset({OpKind.CONV, OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.SLICE, OpKind.POLYPHASE})
_DELIBERATE = frozenset({OpKind.PAD, OpKind.SLICE})  # crops and slices say what they drop


@rule(
    "DS001",
    "op not understood",
    "info",
    "layer",
    "An op stridescope does not understand: its MACs are unknown and the geometry after it "
    "(receptive field, coverage, alignment) is incomplete.",
)
def uncounted(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    for node in ctx.graph.nodes:
        if node.counted:
            continue
        what = node.op or str(node.kind)
        evidence = {"op": what, "output_shape": list(node.output_shape), "note": node.note}
        message = (
            f"{what} is not understood: its MACs are unknown and checks after it are incomplete"
        )
        yield self.finding(node, message, evidence)


def _window_evidence(node: Node, reads: tuple[AxisReads, ...]) -> dict[str, Any]:
    window = node.window
    assert window is not None
    return {
        "input_spatial": [r.size for r in reads],
        "kernel": list(window.kernel),
        "stride": list(window.stride),
        "dilation": list(window.dilation),
        "padding": [list(p) for p in window.padding],
        "read_fraction": math.prod(r.read / r.size for r in reads),
        "read_per_axis": [r.read / r.size for r in reads],
    }


def returns_indices(node: Node) -> bool:
    """A max pool that also returns where its maxima are (``return_indices=True``, for a max
    unpool): a blur after it at stride 1 would leave indices of the stride-1 map."""
    return node.op.endswith("_with_indices")


def _swappable(node: Node) -> bool:
    """A layer ``stridescope fix`` swaps: a conv with weights (a later call of one: where it
    swaps the first) or a max pool (not one that returns indices). A conv without weights is
    a fixed filter (a blur already), which fix leaves as it is."""
    if node.kind is OpKind.MAXPOOL:
        return not returns_indices(node)
    return node.kind is OpKind.CONV and (node.params > 0 or bool(node.shares))


def skip_policy(node: Node) -> str | None:
    """resnet-d for an unpadded 1x1 conv (an average pool, then the 1x1 at stride 1);
    blurpool for other convs and max pools; no policy handles slices, average pools or
    fixed filters (the kinds ``stridescope fix`` leaves alone).

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
    >>> plain = b.conv(b.input, "plain", out_channels=4, kernel=1, stride=2)
    >>> padded = b.conv(b.input, "padded", out_channels=4, kernel=1, stride=2, padding=1)
    >>> pool = b.pool(b.input, "pool", mode="avg", kernel=1, stride=2)
    >>> g = b.build()
    >>> [skip_policy(g.nodes[i]) for i in (plain, padded, pool)]
    ['resnet-d', 'blurpool', None]
    """
    if not _swappable(node):
        return None
    if _pointwise(node):
        return "resnet-d"
    return "blurpool" if _blurs_at(node) else None


def _pointwise(node: Node) -> bool:
    """An unpadded 1x1 conv."""
    window = node.window
    return (
        node.kind is OpKind.CONV
        and window is not None
        and all(k == 1 for k in window.kernel)
        and all(p == (0, 0) for p in window.padding)
    )


def alias_policy(node: Node) -> str | None:
    """blurpool-first for an unpadded 1x1 conv (the blur at the stride, then the 1x1 at
    stride 1: the same function as blurpool's 1x1 at stride 1 then the blur, since both are
    linear and the blur sums to 1, without the 1x1's outputs that the blur drops); blurpool
    for other convs and max pools; none for the kinds ``stridescope fix`` leaves alone.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 3, 8, 8), "nchw")
    >>> down = b.conv(b.input, "down", out_channels=4, kernel=1, stride=2)
    >>> wide = b.conv(b.input, "wide", out_channels=4, kernel=3, stride=2, padding=1)
    >>> g = b.build()
    >>> alias_policy(g.nodes[down]), alias_policy(g.nodes[wide])
    ('blurpool-first', 'blurpool')
    """
    if not _swappable(node):
        return None
    if _pointwise(node):  # (its blur runs at the conv's stride)
        return "blurpool-first" if _blurs_at(node) else None
    if not _blurs_at(node):  # too coarse for a blur at the stride: one at stride 1 before
        return "blurpool-first" if node.kind is OpKind.CONV else None
    return "blurpool"


@rule(
    "DS101",
    "skipped input",
    "warning",
    "layer",
    "A window whose stride exceeds its dilated kernel on some axis (a 1x1 stride-2 conv, "
    "x[:, :, ::2, ::2]): input positions between its windows are never read.",
    ("resnet-d", "blurpool"),
)
def skipped_input(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    pieces = polyphase(ctx)  # what one piece of a polyphase split skips, another reads
    for node_id, reads in windowed(ctx).items():
        if not any(r.gap for r in reads) or node_id in pieces:
            continue
        node = ctx.graph.nodes[node_id]
        assert node.window is not None
        evidence = _window_evidence(node, reads)
        dilated = "" if set(node.window.dilation) == {1} else " (dilated)"
        message = (
            f"reads {percent(evidence['read_fraction'])} of its input: stride "
            f"{axes_text(node.window.stride)} over kernel {axes_text(node.window.kernel)}"
            f"{dilated} leaves positions between its windows unread"
        )
        if ctx.detail:
            found = producers(ctx, node.parents[0])
            wasted = sum(p.wasted_macs for p in found)
            evidence["wasted_macs"] = wasted
            evidence["producers"] = [p.to_dict() for p in found]
            if wasted:
                names = ", ".join(p.layer for p in found)
                verb = "spends" if len(found) == 1 else "spend"
                message += f"; {names} {verb} {wasted:,} MACs on outputs nothing reads"
        yield self.finding(node, message, evidence, skip_policy(node))


def border_policy(node: Node) -> str | None:
    """blurpool: the layer at stride 1 reads every position, and the blur that then samples
    is padded; no policy handles average pools or fixed filters."""
    return "blurpool" if _swappable(node) and _blurs_at(node) else None


def _blurs_at(node: Node) -> bool:
    """Whether a blur at the layer's stride can have as many taps as that stride, as it must
    to read every position (``stridescope fix`` blurs with at most 5)."""
    window = node.window
    assert window is not None
    return max(window.stride) <= max(BLUR_SIZES)


def _lines(reads: tuple[AxisReads, ...]) -> str:
    """``'the last row and the last column'``, ``'the first 2 rows'``, ..."""
    names = ("row", "column") if len(reads) == 2 else ("position",) * len(reads)
    parts = []
    for axis, (r, name) in enumerate(zip(reads, names, strict=True)):
        where = "" if len(reads) in (1, 2) else f" on axis {axis}"
        for side, lines in (("first", r.border_before), ("last", r.border_after)):
            if len(lines) == 1:
                parts.append(f"the {side} {name}{where}")
            elif lines:
                parts.append(f"the {side} {len(lines)} {name}s{where}")
    return " and ".join(parts)


@rule(
    "DS201",
    "dropped border",
    "info",
    "layer",
    "A layer whose windows never reach the first or last rows or columns of its input (a 3x3 "
    "stride-2 conv without padding on an even size, a floor-mode pool on an odd size).",
    ("blurpool",),
)
def dropped_border(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    for node_id, reads in windowed(ctx).items():
        node = ctx.graph.nodes[node_id]
        if node.kind in _DELIBERATE or not any(r.drops_border for r in reads):
            continue
        reads = unpadded_reads(ctx, node) or reads  # (rows an explicit pad added: no loss)
        if not any(r.drops_border for r in reads):
            continue
        assert node.window is not None
        evidence = _window_evidence(node, reads)
        evidence["ceil_mode"] = node.window.ceil_mode
        evidence["unread"] = [
            {"axis": axis, "before": list(r.border_before), "after": list(r.border_after)}
            for axis, r in enumerate(reads)
        ]
        sizes = axes_text([r.size for r in reads])
        message = f"never reads {_lines(reads)} of its {sizes} input"
        yield self.finding(node, message, evidence, border_policy(node))


def _is_blur(ctx: LintContext, node: Node) -> bool:
    """A fixed (parameter-free) depthwise filter wider than one pixel: a blur, as BlurPool
    and the ``blurpool`` fix build it."""
    window = node.window
    if node.kind is not OpKind.CONV or window is None or node.params or node.shares:
        return False
    channels = ctx.graph.channels(node.input_shape)
    return node.groups == channels and max(window.kernel) > 1


def is_lowpass(ctx: LintContext, node: Node) -> bool:
    """A blur, or an average pool whose kernel covers its stride on every axis (a box
    filter applied before it samples)."""
    window = node.window
    if window is None:
        return False
    if node.kind is OpKind.AVGPOOL:
        return all(k >= s for k, s in zip(window.kernel, window.stride, strict=True))
    return _is_blur(ctx, node)


def _keeps_positions(window: Window | None) -> bool:
    """A window that reads each position alone (a channel split, a 1x1 conv)."""
    return window is not None and all(
        k == 1 and s == 1 and p == (0, 0)
        for k, s, p in zip(window.kernel, window.stride, window.padding, strict=True)
    )


def _lowpass_before(ctx: LintContext, node: Node) -> bool:
    """Whether a stride-1 low-pass feeds ``node``, through norms, activations, dropout,
    padding and ops that keep every position (a channel split) only."""
    current = node
    while len(current.parents) == 1:
        current = ctx.graph.nodes[current.parents[0]]
        if current.kind in _PASS_THROUGH or _keeps_positions(current.window):
            continue
        window = current.window
        return window is not None and set(window.stride) == {1} and is_lowpass(ctx, current)
    return False


def _strided(node: Node) -> bool:
    window = node.window
    return node.kind in _STRIDED and window is not None and max(window.stride, default=1) > 1


@rule(
    "DS401",
    "aliasing",
    "info",
    "layer",
    "A strided op with no low-pass filter before it: input frequencies above the output's "
    "Nyquist limit fold back (evidence: the aliasing share of its configuration, measured).",
    ("blurpool", "blurpool-first"),
)
def aliasing(ctx: LintContext, self: Rule) -> Iterator[Finding]:
    graph = ctx.graph
    pieces = polyphase(ctx)  # a polyphase split keeps every sample, as pixel_unshuffle does
    found = [
        n
        for n in graph.nodes
        if n.window is not None  # (the cheap test first: most nodes have no window)
        and _strided(n)
        and n.id not in pieces
        and not is_lowpass(ctx, n)
        and not _lowpass_before(ctx, n)
    ]
    configs: dict[int, Any] = {}
    shares: dict[Any, float | None] = {}
    if ctx.detail:
        from stridescope.analysis.lint_aliasing import aliasing_shares, config_of

        configs = {n.id: config_of(graph, n) for n in found}
        if ctx.measure:
            shares = aliasing_shares(c for c in configs.values() if c is not None)
    for node in found:
        assert node.window is not None
        config = configs.get(node.id)
        share = shares.get(config) if config is not None else None
        evidence = {
            "stride": list(node.window.stride),
            "configuration": None if config is None else config.to_dict(),
            "aliasing": share,
        }
        message = f"stride {axes_text(node.window.stride)} with no low-pass filter before it"
        if share is not None:
            message += f": {share:.4f} of its output energy is aliased (bundled photos)"
        yield self.finding(node, message, evidence, alias_policy(node))
