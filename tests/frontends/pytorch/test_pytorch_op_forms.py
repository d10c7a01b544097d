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
    assert len(graph.nodes) == 1  # (the input: torch returns it)


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
