"""Operations in forms that tracing torch's own OpInfo samples found uncounted: the older
positional ``unbiased`` of ``var_mean`` / ``std_mean``, ``torch.dist``, ``diag`` and
``block_diag``, ``torch.normal`` around a traced mean, ``torch.addr``. Each keeps the shape
torch gives and is counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph, OpKind
from tests.frontends.pytorch.applied import Apply

SHAPE = (2, 3, 5, 5)


def _traced(fn: Callable[[torch.Tensor], Any]) -> Graph:
    graph = trace_torch(Apply(fn), SHAPE)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    real = fn(torch.rand(SHAPE))
    returned = [graph.output, *(graph.nodes[i] for i in graph.returned)]
    expected = [tuple(t.shape) for t in (real if isinstance(real, tuple) else (real,))]
    assert [n.output_shape for n in returned] == expected
    return graph


@pytest.mark.parametrize(
    ("older", "keywords"),
    [
        (lambda x: torch.var_mean(x, True), lambda x: torch.var_mean(x)),
        (lambda x: torch.std_mean(x, False), lambda x: torch.std_mean(x, correction=0)),
        (
            lambda x: torch.var_mean(x, 1, True, True),
            lambda x: torch.var_mean(x, dim=1, keepdim=True),
        ),
        (lambda x: torch.std_mean(x, (2, 3), True), lambda x: torch.std_mean(x, dim=(2, 3))),
    ],
)
def test_var_mean_with_unbiased_by_position_reads_as_with_keywords(
    older: Callable[[torch.Tensor], Any], keywords: Callable[[torch.Tensor], Any]
) -> None:
    graph, expected = _traced(older), _traced(keywords)
    facts = [(n.kind, n.output_shape, n.macs) for n in graph.nodes]
    assert facts == [(n.kind, n.output_shape, n.macs) for n in expected.nodes]
    assert graph.macs == 2 * 3 * 5 * 5  # (one per element reduced)


def test_dist_is_a_distance_of_the_broadcast_tensors() -> None:
    graph = _traced(lambda x: torch.dist(x, x[:, :1] * 2, p=3))
    dist = graph.output
    assert dist.kind is OpKind.REDUCE and dist.macs == 2 * 3 * 5 * 5


def test_diagonals_move_data() -> None:
    graph = _traced(lambda x: torch.block_diag(torch.diag(x[0, 0]), x[1, 2].diag().diag()))
    assert {n.kind for n in graph.nodes[1:]} <= {OpKind.MOVE, OpKind.SLICE, OpKind.RESHAPE}
    assert graph.macs == 0


def test_normal_samples_around_a_traced_mean() -> None:
    graph = _traced(lambda x: torch.normal(x, 0.5))
    assert graph.output.kind is OpKind.ADD and graph.output.parents == (0,)
    assert graph.output.macs == 2 * 3 * 5 * 5


def test_addr_adds_an_outer_product() -> None:
    graph = _traced(lambda x: torch.addr(x[0, 0], x[0, 1, :, 0], x[1, 0, 0], alpha=2))
    product, added = graph.nodes[-2], graph.output
    assert product.kind is OpKind.MUL and product.output_shape == (5, 5) and product.macs == 25
    assert added.kind is OpKind.ADD and added.parents[-1] == product.id and added.macs == 25


@pytest.mark.parametrize(
    ("fn", "axes"),
    [
        (lambda x: x.sum_to_size(1, 1, 1), (0, 1, 2, 3)),  # (the leading axis dropped)
        (lambda x: x.sum_to_size((3, 1, 5)), (0, 2)),
    ],
)
def test_sum_to_size_is_a_sum_over_the_axes_it_drops(
    fn: Callable[[torch.Tensor], Any], axes: tuple[int, ...]
) -> None:
    graph = _traced(fn)
    (summed,) = [n for n in graph.nodes if n.kind is OpKind.REDUCE]
    assert summed.macs == 2 * 3 * 5 * 5 and graph.macs == summed.macs
    kept = tuple(1 if i in axes else d for i, d in enumerate(SHAPE))
    assert summed.output_shape == kept


def test_sum_to_the_same_size_is_the_tensor_itself() -> None:
    graph = _traced(lambda x: x.sum_to_size(*SHAPE))
    assert len(graph.nodes) == 2  # (the input, which torch returns, and its output row)
    assert graph.output.op == "output" and graph.output.parents == (0,)


def test_fixed_size_nonzero_and_polar_are_counted() -> None:
    assert _traced(lambda x: torch.nonzero_static(x, size=7)).output.kind is OpKind.MOVE
    polar = _traced(lambda x: torch.polar(x.abs(), x)).output
    assert polar.parents and polar.macs == 0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.special.chebyshev_polynomial_t(x, 3),
        lambda x: torch.special.hermite_polynomial_h(x, torch.full((5,), 2.0)),
        lambda x: torch.special.legendre_polynomial_p(x, 2),
        lambda x: torch.mvlgamma(x + 2, 2),
        lambda x: torch.special.multigammaln(x + 2, 3),
    ],
)
def test_special_functions_are_element_wise_math(fn: Callable[[torch.Tensor], Any]) -> None:
    graph = _traced(fn)
    assert graph.output.kind is OpKind.ACTIVATION and graph.output.macs == 0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.special.bessel_j0(x),
        lambda x: torch.special.modified_bessel_k1(x + 1),
        lambda x: torch.special.airy_ai(x),
        lambda x: torch.polygamma(1, x + 1),
        lambda x: (x + 1).polygamma(2),
        lambda x: torch.special.polygamma(0, x + 1),
    ],
)
def test_bessel_and_polygamma_are_element_wise_math(fn: Callable[[torch.Tensor], Any]) -> None:
    graph = _traced(fn)
    assert graph.output.kind is OpKind.ACTIVATION and graph.output.macs == 0


@pytest.mark.parametrize(("n", "products"), [(0, 0), (1, 0), (2, 1), (3, 2), (8, 3), (7, 4)])
def test_matrix_power_counts_the_products_of_repeated_squaring(n: int, products: int) -> None:
    for graph in (
        _traced(lambda x: torch.matrix_power(x, n)),
        _traced(lambda x: torch.linalg.matrix_power(x, n)),
        _traced(lambda x: x.matrix_power(n)),
    ):
        assert graph.macs == 2 * 3 * 5**3 * products


def test_isin_is_a_mask_of_the_elements_shape() -> None:
    graph = _traced(lambda x: torch.isin(x, torch.tensor([0.5, 1.0])))
    assert graph.output.kind is OpKind.ACTIVATION and graph.output.parents == (0,)
    joined = _traced(lambda x: torch.isin(x, x[0, 0, 0]))
    assert len(joined.output.parents) == 2  # (the traced values, read whole)


def test_fills_dropouts_splits_and_strided_constants_are_counted() -> None:
    _traced(lambda x: x[0, 0].clone().fill_diagonal_(0.0))
    assert _traced(lambda x: torch.feature_dropout(x, 0.5, True)).output.kind is OpKind.DROPOUT
    _traced(lambda x: torch.unsafe_split_with_sizes(x, [2, 3], 3))
    _traced(lambda x: x.new_empty_strided((2, 3), (3, 1)).fill_(1.0) + x[0, 0, :2, :3])


def test_pdist_and_fairseq_conv_tbc_count_their_products() -> None:
    pdist = _traced(lambda x: torch.nn.functional.pdist(x[0, 0])).output
    assert pdist.output_shape == (10,) and pdist.macs == 10 * 5
    weight = torch.randn(3, 5, 4)  # (width, in, out) over (time, batch, channels)
    conv = _traced(lambda x: torch.conv_tbc(x[0], weight, torch.zeros(4), 1)).output
    assert conv.output_shape == (3, 5, 4) and conv.macs == 3 * 5 * 4 * 3 * 5
