"""Helpers shared by the geometry and coverage tests: the definition of a 1-D sliding window's
reads, and random branched graphs (importable because tests/ holds the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import strategies as st

from stridescope.ir import GraphBuilder, OpKind

# (kernel_h, kernel_w, dilation) of 1-3 parallel convolutions
BRANCHES = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 2)), min_size=1, max_size=3
)


def window_reads(
    out: int, n: int, kernel: int, stride: int, dilation: int, before: int
) -> Iterator[tuple[int, int]]:
    """``(o, i)`` for every output ``o < out`` and tap: ``i = o*stride - before + j*dilation``,
    kept when inside ``[0, n)`` (padding reads nothing)."""
    for o in range(out):
        for j in range(kernel):
            i = o * stride - before + j * dilation
            if 0 <= i < n:
                yield o, i


def summed_branches(
    h: int, w: int, stride: int, branches: list[tuple[int, int, int]]
) -> tuple[GraphBuilder, list[int], int]:
    """A ``(1, 1, h, w)`` graph of parallel 'same' convs (one per branch, dilation only at
    stride 1) summed: the builder, the branch nodes and the sum (or the only branch)."""
    b = GraphBuilder((1, 1, h, w), "nchw")
    nodes = [
        b.conv(
            b.input,
            f"br{i}",
            out_channels=1,
            kernel=(kh, kw),
            stride=stride,
            dilation=1 if stride > 1 else d,
            padding="same",
        )
        for i, (kh, kw, d) in enumerate(branches)
    ]
    x = b.merge(nodes, "add", kind=OpKind.ADD) if len(nodes) > 1 else nodes[0]
    return b, nodes, x
