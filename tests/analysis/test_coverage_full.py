"""The fast answer ``every input position is read`` (:mod:`stridescope.analysis.coverage_full`)
against the count map: it answers only where one chain of nodes, each reading every position
of the next, leads from the input to the walk's start, and then the map reads every position
too; elsewhere the walk answers, as before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.analysis.coverage import _start, coverage_fraction, coverage_map
from stridescope.analysis.coverage_full import reads_everything
from stridescope.analysis.node_facts import node_facts
from stridescope.ir import Graph, GraphBuilder, OpKind

# per block: (kernel, stride, dilation, pad, shortcut: 0 none, 1 identity, 2 1x1 strided conv)
_BLOCK = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(0, 2)
)


def _network(size: int, blocks: list[tuple[int, int, int, int, int]]) -> Graph:
    """Residual blocks of a conv each, their shortcuts an identity (stride 1) or a strided
    1x1 conv (which reads one position in ``stride``)."""
    b = GraphBuilder((1, 2, size, size), "nchw")
    x = b.input
    for i, (kernel, stride, dilation, pad, shortcut) in enumerate(blocks):
        n = b.shape(x)[2]
        if n is None or n < (kernel - 1) * dilation + 1 - 2 * pad:
            break
        main = b.conv(
            x, f"c{i}", out_channels=2, kernel=kernel, stride=stride, dilation=dilation, padding=pad
        )
        side = None
        if shortcut == 1 and stride == 1 and b.shape(main) == b.shape(x):
            side = x
        elif shortcut == 2:
            side = b.conv(x, f"s{i}", out_channels=2, kernel=1, stride=stride)
            if b.shape(side) != b.shape(main):
                side = None
        x = main if side is None else b.merge([main, side], f"add{i}", kind=OpKind.ADD)
    return b.build()


@settings(max_examples=200, deadline=None)
@given(st.integers(6, 24), st.lists(_BLOCK, min_size=1, max_size=6))
def test_the_fast_answer_agrees_with_the_count_map(
    size: int, blocks: list[tuple[int, int, int, int, int]]
) -> None:
    graph = _network(size, blocks)
    cover = coverage_map(graph)
    read = float((cover.counts > 0).mean())
    assert coverage_fraction(graph) == read
    facts = node_facts(graph)
    if reads_everything(graph, facts, _start(graph, facts, False).last):
        assert read == 1.0


def test_a_union_of_branches_that_each_skip_is_left_to_the_walk() -> None:
    """Even rows and columns read by one branch, odd ones by another, joined along the
    channels: no single chain reads every position, so the fast answer says nothing; the walk
    finds the two quarters (50%)."""
    b = GraphBuilder((1, 1, 8, 8), "nchw")
    even = b.conv(b.input, "even", out_channels=1, kernel=1, stride=2)
    odd = b.conv(b.input, "odd", out_channels=1, kernel=1, stride=2, padding=1)
    b.merge(
        [even, b.slice(odd, "crop", spatial=[(1, 5, 1), (1, 5, 1)], output_shape=(1, 1, 4, 4))],
        "cat",
        kind=OpKind.CONCAT,
    )
    graph = b.build()
    facts = node_facts(graph)
    assert not reads_everything(graph, facts, _start(graph, facts, False).last)
    assert coverage_fraction(graph) == float((coverage_map(graph).counts > 0).mean()) == 0.5


def test_a_shortcut_that_skips_does_not_hide_a_main_path_that_reads_all() -> None:
    """ResNet's downsampling block: the 1x1 stride-2 shortcut reads a quarter of the pixels,
    the 3x3 stride-2 main path all of them; the search leaves the shortcut for the main path."""
    b = GraphBuilder((1, 2, 16, 16), "nchw")
    main = b.conv(b.input, "main", out_channels=2, kernel=3, stride=2, padding=1)
    short = b.conv(b.input, "short", out_channels=2, kernel=1, stride=2)
    add = b.merge([short, main], "add", kind=OpKind.ADD)
    graph = b.build()
    assert reads_everything(graph, node_facts(graph), add)
    assert coverage_fraction(graph) == 1.0
