"""The fast coverage paths (:mod:`stridescope.analysis.coverage_terms`) against their
definitions: the slice-OR window relation against a dense boolean matrix product, the union
size against a materialised union, and ``coverage_fraction`` against the full count map of
``coverage_map``."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stridescope.analysis.coverage import coverage_fraction, coverage_map
from stridescope.analysis.coverage_terms import Full, Slide, union_size
from stridescope.analysis.summary import summarize
from stridescope.ir import GraphBuilder, OpKind
from tests.window_reference import BRANCHES, summed_branches, window_reads


def _dense(out: int, n: int, kernel: int, stride: int, dilation: int, before: int) -> np.ndarray:
    matrix = np.zeros((out, n), dtype=np.int64)
    for o, i in window_reads(out, n, kernel, stride, dilation, before):
        matrix[o, i] = 1
    return matrix


@settings(max_examples=300)
@given(
    st.integers(1, 5),
    st.integers(1, 12),
    st.integers(1, 20),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 4),
    st.integers(0, 2**32 - 1),
)
def test_slide_pull_equals_the_dense_product(
    rows: int, out: int, n: int, kernel: int, stride: int, dilation: int, before: int, seed: int
) -> None:
    """Any output count (ceil mode adds outputs past the end), any padding before."""
    a = np.random.default_rng(seed).random((rows, out)) < 0.4
    expected = (a.astype(np.int64) @ _dense(out, n, kernel, stride, dilation, before)) > 0
    got = Slide(kernel, stride, dilation, before, n).pull(a)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100)
@given(st.integers(1, 5), st.integers(1, 12), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_full_pull_equals_the_product_with_ones(rows: int, out: int, n: int, seed: int) -> None:
    """A dense layer's relation kept as a size pulls a term as the all-ones matrix would."""
    a = np.random.default_rng(seed).random((rows, out)) < 0.3
    expected = (a.astype(np.int64) @ np.ones((out, n), dtype=np.int64)) > 0
    np.testing.assert_array_equal(Full(n).pull(a), expected)


@settings(max_examples=200)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_union_size_equals_the_materialised_union(rank: int, terms: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = tuple(int(n) for n in rng.integers(1, 9, size=rank))
    masks = [tuple(rng.random(n) < 0.5 for n in sizes) for _ in range(terms)]
    union = np.zeros(sizes, dtype=bool)
    for term in masks:
        product = term[0]
        for m in term[1:]:
            product = np.logical_and.outer(product, m)
        union |= product
    assert union_size(masks) == int(union.sum())


@settings(max_examples=80)
@given(
    st.integers(4, 20),
    st.integers(4, 20),
    st.integers(1, 3),
    BRANCHES,
    st.tuples(st.integers(1, 3), st.integers(1, 4)),
    st.booleans(),
)
def test_fraction_equals_the_count_map(
    h: int,
    w: int,
    stride: int,
    branches: list[tuple[int, int, int]],
    pool: tuple[int, int],
    adaptive: bool,
) -> None:
    """Parallel convs summed (a union of products), a pool that may skip (stride > kernel),
    optionally an adaptive pool (a dense relation): the fraction is the count map's."""
    b, _, x = summed_branches(h, w, stride, branches)
    kernel, pool_stride = pool
    assume(all(n is not None and n >= kernel for n in b.shape(x)[2:]))
    x = b.pool(x, "pool", mode="max", kernel=kernel, stride=pool_stride)
    if adaptive:
        b.adaptive_pool(x, "gap", mode="avg", output_size=2)
    graph = b.build()
    cov = coverage_map(graph)
    assert (
        coverage_fraction(graph) == cov.fraction == float((cov.counts > 0).sum()) / cov.counts.size
    )


def test_large_input_fraction_and_summary() -> None:
    """A ResNet-style stem and a skipping shortcut at 2048x2048, without a 2048x2048 map."""
    b = GraphBuilder((1, 3, 2048, 2048), "nchw")
    x = b.conv(b.input, "stem", out_channels=8, kernel=7, stride=2, padding=3)
    x = b.pool(x, "mp", mode="max", kernel=3, stride=2, padding=1)
    main = b.conv(x, "a", out_channels=8, kernel=3, stride=2, padding=1)
    short = b.conv(x, "down", out_channels=8, kernel=1, stride=2)
    x = b.merge([main, short], "add", kind=OpKind.ADD)
    b.conv(x, "skip", out_channels=8, kernel=1, stride=4)
    graph = b.build()
    fraction = coverage_fraction(graph)
    assert fraction == coverage_map(graph).fraction
    assert 0 < fraction < 1
    assert summarize(graph).input_coverage == fraction
