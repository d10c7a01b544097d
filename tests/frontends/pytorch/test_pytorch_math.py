"""Element-wise math in the PyTorch tracer: unary functions are counted like activations
(0 MACs, positions kept), a power of two tensors (traced, a constant or a learned exponent)
like a multiply, broadcast as one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind

Fn = Callable[[torch.Tensor], torch.Tensor]


class _Apply(nn.Module):
    def __init__(self, fn: Fn) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, stride=2)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.conv(x))


UNARY: list[tuple[str, Fn]] = [
    ("abs", lambda x: x.abs()),
    ("builtin_abs", lambda x: abs(x)),
    ("neg", lambda x: -x),
    ("exp", torch.exp),
    ("sqrt", lambda x: x.abs().sqrt()),
    ("clamp", lambda x: x.clamp(min=0)),
    ("clamp_inplace", lambda x: x.clone().clamp_(0, 1)),
    ("clip", lambda x: torch.clip(x, -1, 1)),
    ("square", torch.square),
    ("power", lambda x: x**2),
    ("rpower", lambda x: 2**x),
    ("normalize", lambda x: F.normalize(x, dim=1)),
]


@pytest.mark.parametrize(("label", "fn"), UNARY, ids=[c[0] for c in UNARY])
def test_unary_math_keeps_shape_and_positions_at_no_cost(label: str, fn: Fn) -> None:
    net = _Apply(fn)
    graph = trace_torch(net, (1, 2, 9, 9))
    assert graph.output.output_shape == tuple(net(torch.rand(1, 2, 9, 9)).shape), label
    assert not graph.uncounted, label
    conv = next(n for n in graph.nodes if n.kind is OpKind.CONV)
    assert graph.macs == conv.macs, label
    fields = receptive_fields(graph)
    assert fields[-1] == fields[1], label  # the conv's field, unchanged


def test_power_of_two_tensors_costs_like_a_multiply() -> None:
    graph = trace_torch(_Apply(lambda x: torch.pow(x, x.flip(-1))), (1, 2, 9, 9))
    assert graph.output.kind is OpKind.MUL and graph.output.macs == 3 * 4 * 4


def test_clamp_with_a_tensor_bound_broadcasts_at_no_cost() -> None:
    clamped = trace_torch(_Apply(lambda x: x.clamp(min=x.mean(1, keepdim=True))), (1, 2, 9, 9))
    assert not clamped.uncounted
    assert clamped.output.output_shape == (1, 3, 4, 4) and clamped.output.macs == 0
    assert clamped.output.parents[-1] != clamped.output.parents[0]  # the bound is a parent


class _LearnedExponent(_Apply):
    def __init__(self) -> None:
        super().__init__(lambda x: x)
        self.exponent = nn.Parameter(torch.ones(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).abs().pow(self.exponent)


def test_a_constant_or_learned_exponent_broadcasts_like_a_multiply() -> None:
    constant = trace_torch(_Apply(lambda x: torch.pow(x, torch.ones(3, 1, 1))), (1, 2, 9, 9))
    learned = trace_torch(_LearnedExponent(), (1, 2, 9, 9))
    for graph in (constant, learned):
        assert not graph.uncounted
        assert graph.output.output_shape == (1, 3, 4, 4) and graph.output.macs == 3 * 4 * 4
    assert learned.params == 2 * 3 * 9 + 3 + 3 and not learned.notes
