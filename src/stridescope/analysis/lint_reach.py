"""Which layers are responsible for input pixels that never influence the output (DS202).

The coverage map says which input pixels no output reads. Pushing those pixels forward
through the graph (a position of a node is *reached* when one of its windows touches a
reached position of its parent), every path from them to the output is cut somewhere: at a
layer whose windows never read a reached position of its input. Those layers are the
responsible ones: DS101 and DS201 layers, crops and slices.

>>> from stridescope.ir import GraphBuilder
>>> from stridescope.analysis.lint_base import LintContext
>>> b = GraphBuilder((1, 3, 8, 8), "nchw")
>>> x = b.conv(b.input, "stem", out_channels=4, kernel=3, stride=2)
>>> unread = np.zeros((8, 8), dtype=bool); unread[7, :] = unread[:, 7] = True
>>> [b.build().nodes[i].name for i in responsible(LintContext(b.build()), unread)]
['stem']
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stridescope.analysis.coverage_terms import BoolMatrix, Scatter, Slide, adaptive_matrix
from stridescope.analysis.lint_base import LintContext
from stridescope.analysis.lint_reads import keeps_positions, layer_reads
from stridescope.ir import Node, OpKind

__all__ = ["reach", "responsible"]

Mask = npt.NDArray[np.bool_]
_ADAPTIVE = frozenset({OpKind.ADAPTIVE_AVGPOOL, OpKind.ADAPTIVE_MAXPOOL})


def _push(mask: Mask, matrices: list[BoolMatrix]) -> Mask:
    """Per axis ``a``, ``out[.., o, ..] = any_i M_a[o, i] and mask[.., i, ..]``."""
    result = mask.astype(np.float32)
    for axis, matrix in enumerate(matrices):
        moved = np.tensordot(matrix.astype(np.float32), result, axes=([1], [axis]))
        result = np.moveaxis(moved, 0, axis)
    return np.asarray(result > 0)


def _matrices(ctx: LintContext, node: Node, out: tuple[int, ...]) -> list[BoolMatrix] | None:
    """Per axis, ``M[o, i]``: output ``o`` of ``node`` reads position ``i`` of its parent;
    ``None`` where the relation is not a per-axis one."""
    sizes = ctx.in_spatial(node)
    if sizes is None or len(sizes) != len(out):
        return None
    window, scatter = node.window, node.scatter
    if window is not None:
        return [
            Slide(k, s, d, p[0], n, window.pad_mode).matrix(o)
            for k, s, d, p, n, o in zip(
                window.kernel,
                window.stride,
                window.dilation,
                window.padding,
                sizes,
                out,
                strict=True,
            )
        ]
    if scatter is not None:
        return [
            Scatter(k, s, d, p[0], n).matrix(o)
            for k, s, d, p, n, o in zip(
                scatter.kernel,
                scatter.stride,
                scatter.dilation,
                scatter.padding,
                sizes,
                out,
                strict=True,
            )
        ]
    if node.kind in _ADAPTIVE:
        return [adaptive_matrix(o, n) for o, n in zip(out, sizes, strict=True)]
    return None


def reach(ctx: LintContext, unread: Mask) -> list[Mask | bool]:
    """Per node, the positions reached from the ``unread`` input pixels: a mask, or a bool
    where positions are unknown (``True``: maybe all of them)."""
    graph = ctx.graph
    result: list[Mask | bool] = []
    for node in graph.nodes:
        out = ctx.known(node)
        if node.id == 0:
            result.append(unread)
            continue
        above = [result[p] for p in node.parents]
        if not any(a is True or (isinstance(a, np.ndarray) and a.any()) for a in above):
            result.append(np.zeros(out, dtype=bool) if out is not None else False)
            continue
        result.append(_step(ctx, node, out, above))
    return result


def _step(
    ctx: LintContext, node: Node, out: tuple[int, ...] | None, above: list[Mask | bool]
) -> Mask | bool:
    if out is None or not node.counted:
        return True
    if all(keeps_positions(ctx, node, p) for p in node.parents):
        masks = [a for a in above if isinstance(a, np.ndarray)]
        if len(masks) < len(above):
            return True
        return np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
    matrices = _matrices(ctx, node, out) if len(node.parents) == 1 else None
    if matrices is None or not isinstance(above[0], np.ndarray):
        return np.ones(out, dtype=bool)  # not a per-axis relation: it may reach everything
    return _push(above[0], matrices)


def responsible(ctx: LintContext, unread: Mask) -> tuple[int, ...]:
    """Ids of the layers whose windows never read some reached position of their input."""
    reached = reach(ctx, unread)
    found = []
    for node in ctx.graph.nodes:
        reads = layer_reads(ctx, node)
        if reads is None:
            continue
        mask = reached[node.parents[0]]
        if not isinstance(mask, np.ndarray) or mask.shape != tuple(r.size for r in reads):
            continue
        read = np.ones((), dtype=bool)
        for r in reads:
            read = np.multiply.outer(read, r.mask)
        if (mask & ~read).any():
            found.append(node.id)
    return tuple(found)
