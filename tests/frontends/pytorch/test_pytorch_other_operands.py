"""A traced tensor given to an op besides its input: ``bucketize``'s boundaries,
``searchsorted``'s sorted sequence, ``trapz``'s sample points, ``quantile``'s ``q``. Before,
the op's node read only its input, so the layers that made the other tensor were reported as
work the forward discards and the graph lost the dependence. ``cumulative_trapezoid``, and
``quantile`` with a vector of ``q`` (one result per value, its axis first), were uncounted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.frontends import load_graph
from stridescope.ir import Graph
from tests.frontends.pytorch.applied import traced_and_real


class TwoBranches(nn.Module):
    """Two 1x1 convs of the input, ``a`` and ``b``, handed to ``op``."""

    def __init__(self, op: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self.op = op
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x: Any) -> Any:
        return self.op(self.a(x), self.b(x))


def _reaches(graph: Graph) -> set[str]:
    """Names of the nodes the last node depends on."""
    seen: set[int] = set()
    stack = [graph.nodes[-1].id]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(graph.nodes[i].parents)
    return {graph.nodes[i].name for i in seen}


OPS: dict[str, Callable[[Any, Any], Any]] = {
    "bucketize boundaries": lambda a, b: torch.bucketize(a, b.flatten().sort().values),
    "searchsorted sequence": lambda a, b: torch.searchsorted(a.flatten().sort().values, b),
    "searchsorted by keyword": lambda a, b: torch.searchsorted(
        a.flatten().sort().values, b.flatten(), right=True
    ),
    "trapz sample points": lambda a, b: torch.trapz(a, b),
    "trapezoid by keyword": lambda a, b: torch.trapezoid(a, x=b, dim=2),
    "quantile q": lambda a, b: torch.quantile(a.flatten(1), b.mean().sigmoid(), dim=1),
    "quantile q vector": lambda a, b: torch.nanquantile(a.flatten(1), b.flatten()[:3].sigmoid(), 1),
    "cumulative_trapezoid": lambda a, b: torch.cumulative_trapezoid(a, b),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_other_operand_is_read(name: str) -> None:
    model = TwoBranches(OPS[name])
    graph, real = traced_and_real(model, (1, 3, 8, 8))
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert {"a", "b"} <= _reaches(graph)
    assert not any("discards" in note for note in graph.notes)
    assert not graph.uncounted
    assert graph.params == sum(p.numel() for p in model.parameters())


def test_bucket_indices_keep_their_dtype() -> None:
    model = TwoBranches(lambda a, b: torch.bucketize(a, b.flatten().sort().values, out_int32=True))
    summary = stridescope.summary(model, input_shape=(1, 3, 8, 8))
    assert summary.layers[-1].activation_bytes == 4 * 8 * 8 * 4  # int32 indices


def test_cumulative_trapezoid_reads_every_position_up_to_its_own() -> None:
    class Net(nn.Module):
        def forward(self, y: Any) -> Any:
            return torch.cumulative_trapezoid(y, dx=0.5, dim=2)

    summary = stridescope.summary(Net(), input_shape=(1, 3, 8, 8))
    pairs, scan = summary.layers
    assert (pairs.path, scan.path) == ("cumulative_trapezoid.pairs", "cumulative_trapezoid")
    assert scan.output_shape == tuple(
        torch.cumulative_trapezoid(torch.zeros(1, 3, 8, 8), dim=2).shape
    )
    assert (pairs.rf_size, scan.rf_size) == ((2, 1), (8, 1))  # the last output reads rows 0-7
    assert summary.totals.macs == 2 * 3 * 7 * 8
    assert summary.input_coverage == 1.0


def test_quantiles_of_a_vector_of_q_have_its_axis_first() -> None:
    class Net(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.flatten(2).quantile(torch.tensor([0.25, 0.75]), dim=-1, keepdim=True)

    graph = load_graph(Net(), (2, 3, 8, 8))
    assert graph.nodes[-1].output_shape == (2, 2, 3, 1)
    assert graph.macs == 2 * 3 * 64  # one per element read
    assert not graph.uncounted


def test_quantile_with_dim_by_position() -> None:
    """``torch.quantile(x, 0.5, 1)``: ``dim`` was read one place too far on (uncounted)."""

    class Net(nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.quantile(x.flatten(1), 0.5, 1, True)

    graph = load_graph(Net(), (2, 3, 8, 8))
    assert graph.nodes[-1].output_shape == (2, 1)
    assert not graph.uncounted
