"""Every geometry rule of lint against an independent computation, on Hypothesis-generated
windows and chains: autograd for reads and coverage (DS101, DS201, DS202 and the wasted
MACs), explicit index arithmetic for grids and receptive fields (DS301, DS501)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from stridescope.analysis.lint import LintOptions, LintReport, lint_graph
from stridescope.ir import Graph, GraphBuilder, OpKind
from tests.analysis.lint_chains import (
    Win,
    autograd_read,
    chain_fits,
    chain_graph,
    chain_torch,
    index_span,
    wins,
)

GEOMETRY = LintOptions(ignore=("DS4",), measure=False)
sizes = st.tuples(st.integers(5, 18), st.integers(5, 18))


def _lint(graph: Graph) -> LintReport:
    return lint_graph(graph, GEOMETRY)


def _axis_class(read: np.ndarray) -> tuple[bool, list[int], list[int]]:
    """From a 1-D read mask: whether positions between read ones are unread (skipped), and
    the leading / trailing unread positions when their run is longer than every such gap."""
    where = np.flatnonzero(read)
    gaps = np.diff(where) - 1 if where.size > 1 else np.array([0])
    gap = int(gaps.max())
    head, tail = int(where[0]), len(read) - 1 - int(where[-1])
    before = list(range(head)) if head > gap else []
    after = list(range(len(read) - tail, len(read))) if tail > gap else []
    return gap > 0, before, after


@settings(max_examples=150, deadline=None)
@given(wins(max_stride=4), sizes)
def test_one_window_reads_as_autograd_says(win: Win, spatial: tuple[int, int]) -> None:
    assume(win.sizes(spatial) is not None)
    builder, _ = chain_graph([win], spatial)
    report = _lint(builder.build())
    read = autograd_read([win], spatial).numpy()
    rows, cols = read.any(axis=1), read.any(axis=0)
    assert np.array_equal(read, np.outer(rows, cols))  # a window reads a product of lines
    classes = [_axis_class(rows), _axis_class(cols)]
    by_code = {f.code: f for f in report.findings if f.layer == "w0"}
    assert ("DS101" in by_code) == any(skips for skips, _, _ in classes)
    border = any(before or after for _, before, after in classes)
    assert ("DS201" in by_code) == border
    event(f"codes: {sorted(by_code)}")
    for finding in by_code.values():
        assert finding.evidence["read_fraction"] == pytest.approx(read.mean())
    if border:
        unread = by_code["DS201"].evidence["unread"]
        assert [(u["before"], u["after"]) for u in unread] == [(b, a) for _, b, a in classes]


@settings(max_examples=100, deadline=None)
@given(st.lists(wins(), min_size=1, max_size=4), st.tuples(st.integers(8, 24), st.integers(8, 24)))
def test_chain_coverage_is_autograds(chain: list[Win], spatial: tuple[int, int]) -> None:
    assume(chain_fits(chain, spatial))
    builder, _ = chain_graph(chain, spatial)
    report = _lint(builder.build())
    read = autograd_read(chain, spatial).numpy()
    reference = float(read.mean())
    assert report.input_coverage == pytest.approx(reference, abs=1e-9)
    unread = [f for f in report.findings if f.code == "DS202"]
    assert bool(unread) == (reference < 1.0)
    event(f"unread input: {bool(unread)}")
    if unread:
        (finding,) = unread
        assert finding.evidence["input_coverage"] == pytest.approx(reference, abs=1e-9)
        assert finding.evidence["unread_positions"] == int((~read).sum())
        lines = [list(np.flatnonzero(~read.any(axis=1))), list(np.flatnonzero(~read.any(axis=0)))]
        assert finding.evidence["unread_lines"] == lines
        # the responsible layers are among those that leave part of their input unread
        partial = {f.layer for f in report.findings if f.code in ("DS101", "DS201")}
        blamed = [r["layer"] for r in finding.evidence["responsible"]]
        assert blamed and set(blamed) <= partial


@settings(max_examples=60, deadline=None)
@given(wins(max_stride=1), wins(max_stride=4), sizes)
def test_wasted_macs_count_the_outputs_autograd_reaches(
    producer: Win, consumer: Win, spatial: tuple[int, int]
) -> None:
    assume(chain_fits([producer, consumer], spatial))
    builder, _ = chain_graph([producer, consumer], spatial)
    graph = builder.build()
    skipping = [f for f in _lint(graph).findings if f.code == "DS101"]
    assume(skipping)
    (finding,) = skipping
    middle = producer.torch(torch.rand(1, 1, *spatial, dtype=torch.float64) + 0.5)
    middle = middle.detach().requires_grad_(True)
    consumer.torch(middle).sum().backward()
    assert middle.grad is not None
    positions = middle.shape[2] * middle.shape[3]
    read = int((middle.grad != 0).sum())
    source = graph.nodes[1]
    expected = [] if read == positions else [("w0", positions, read)]
    got = [(p["layer"], p["positions"], p["read_positions"]) for p in finding.evidence["producers"]]
    assert got == expected
    assert finding.evidence["wasted_macs"] == source.macs * (positions - read) // positions


@st.composite
def two_branches(draw: st.DrawFn) -> tuple[Win | None, list[Win], list[Win], tuple[int, int]]:
    """A stem (or none), two chains from it (often with the same strides, so their outputs
    can be merged) and the input size."""
    stem = draw(st.none() | wins())
    left = draw(st.lists(wins(), min_size=1, max_size=2))
    same = draw(st.booleans())
    right = (
        [draw(wins(stride=w.stride)) for w in left]
        if same
        else draw(st.lists(wins(), min_size=1, max_size=2))
    )
    return stem, left, right, draw(st.tuples(st.integers(8, 20), st.integers(8, 20)))


def _centre(chain: list[Win], axis: int) -> float:
    low, high = index_span(chain, axis)
    return (low + high) / 2


@settings(max_examples=200, deadline=None)
@given(two_branches())
def test_merge_offsets_match_index_arithmetic(
    case: tuple[Win | None, list[Win], list[Win], tuple[int, int]],
) -> None:
    stem, left, right, spatial = case
    builder = GraphBuilder((1, 1, *spatial), "nchw")
    split = builder.input if stem is None else stem.ir(builder, builder.input, "stem")
    sizes = spatial if stem is None else stem.sizes(spatial)
    assume(sizes is not None and chain_fits(left, sizes) and chain_fits(right, sizes))
    ends = []
    for tag, chain in (("a", left), ("b", right)):
        node = split
        for index, win in enumerate(chain):
            node = win.ir(builder, node, f"{tag}{index}")
        ends.append(node)
    shapes = {builder.shape(e) for e in ends}
    assume(len(shapes) == 1)
    builder.merge(ends, "add", kind=OpKind.ADD)
    merges = [f for f in _lint(builder.build()).findings if f.code == "DS301"]
    centres = [[_centre(c, axis) for axis in (0, 1)] for c in (left, right)]
    jumps = [[math.prod(w.stride[axis] for w in c) for axis in (0, 1)] for c in (left, right)]
    assert bool(merges) == (centres[0] != centres[1] or jumps[0] != jumps[1])
    event(f"misaligned: {bool(merges)}, same jump: {jumps[0] == jumps[1]}")
    if not merges:
        return
    evidence = merges[0].evidence
    stem_centre = [0.0, 0.0] if stem is None else [_centre([stem], a) for a in (0, 1)]
    stem_jump = [1, 1] if stem is None else list(stem.stride)
    for record, centre, jump in zip(evidence["branches"], centres, jumps, strict=True):
        assert record["offset"] == centre
        assert record["jump"] == jump
        assert record["offset_input"] == [
            sc + sj * c for sc, sj, c in zip(stem_centre, stem_jump, centre, strict=True)
        ]
    spread = [abs(a - b) for a, b in zip(*centres, strict=True)]
    assert evidence["misalignment"] == spread
    assert evidence["split"] == ("input" if stem is None else "stem")


@settings(max_examples=100, deadline=None)
@given(st.lists(wins(), min_size=1, max_size=4), sizes)
def test_short_field_matches_index_arithmetic(chain: list[Win], spatial: tuple[int, int]) -> None:
    assume(chain_fits(chain, spatial))
    builder, _ = chain_graph(chain, spatial)
    report = _lint(builder.build())
    spans = [index_span(chain, axis) for axis in (0, 1)]
    field = [high - low + 1 for low, high in spans]
    short = [f for f in report.findings if f.code == "DS501"]
    assert bool(short) == any(f < n for f, n in zip(field, spatial, strict=True))
    event(f"short field: {bool(short)}")
    if short:
        assert short[0].evidence["receptive_field"] == field
    # a global pool and a dense head see every position of the map before them: short only
    # where that map is one position whose field is short (its one pixel is all they read)
    one = all(d == 1 for d in builder.shape(len(chain))[2:])
    builder.adaptive_pool(len(chain), "pool", mode="avg", output_size=1)
    builder.flatten(len(chain) + 1, "flatten")
    pooled = [f for f in _lint(builder.build()).findings if f.code == "DS501"]
    assert bool(pooled) == (one and bool(short))


def test_chain_torch_matches_the_graph_shapes() -> None:
    """The two builds of a chain agree on shapes (the reference is the same network)."""
    chain = [
        Win("conv", (3, 1), (2, 1), (1, 1), ((0, 1), (1, 0))),
        Win("avg", (1, 2), (2, 2), (2, 1), ((0, 0), (0, 0))),
    ]
    builder, last = chain_graph(chain, (11, 9))
    out = chain_torch(chain, torch.ones(1, 1, 11, 9))
    assert tuple(out.shape) == builder.shape(last)
