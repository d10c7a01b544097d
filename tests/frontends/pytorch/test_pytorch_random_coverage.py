"""Random PyTorch models built from the ops whose positions the tracer follows (convs, average
pools, slices, channel chunks, channels-last MLPs, channel shuffles, channel padding): the
coverage map equals autograd's, position by position, and every shape equals torch's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_counts

torch.set_num_threads(1)
Step = Callable[[torch.Tensor], torch.Tensor]
C = 4  # channels between steps


def _conv(k: int, s: int, p: int) -> Step:
    weight = torch.ones(C, C, k, k)
    return lambda x: F.conv2d(x, weight, stride=s, padding=p)


def _mlp(x: torch.Tensor) -> torch.Tensor:
    y = x.permute(0, 2, 3, 1) @ torch.full((C, C), 0.5)  # no saturating activation:
    return F.softplus(y, beta=1e-3).permute(0, 3, 1, 2)  # autograd must not see a 0 slope


def _shuffle(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


def _halves(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.cat([b, a * 2], dim=1)


def _widen(x: torch.Tensor) -> torch.Tensor:
    y = F.pad(x, (0, 0, 0, 0, 1, 1))  # 6 channels
    return y[:, 1:5] + y.narrow(1, 0, 4)


_FIXED_STEPS: dict[str, Step] = {
    "mlp": _mlp,
    "shuffle": _shuffle,
    "halves": _halves,
    "widen": _widen,
}


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, Step]]:
    chosen: list[tuple[str, Step]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "slice", "mlp", "shuffle", "halves", "widen"]))
        if kind == "conv":
            k = draw(st.integers(1, 3))
            s, p = draw(st.integers(1, 2)), draw(st.integers(0, k // 2))
            chosen.append((f"conv{k}s{s}p{p}", _conv(k, s, p)))
        elif kind == "pool":
            k = draw(st.integers(2, 3))
            chosen.append((f"avgpool{k}", lambda x, k=k: F.avg_pool2d(x, k, 2)))
        elif kind == "slice":
            a, b = draw(st.integers(0, 1)), draw(st.integers(1, 2))
            chosen.append((f"x[..., {a}::{b}, ::{b}]", lambda x, a=a, b=b: x[..., a::b, ::b]))
        else:
            chosen.append((kind, _FIXED_STEPS[kind]))
    return chosen


class _Chain(nn.Module):
    def __init__(self, chosen: list[tuple[str, Step]]) -> None:
        super().__init__()
        self.chosen = chosen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, torch.ones(C, 1, 1, 1))  # 1 -> C channels
        for _name, step in self.chosen:
            x = step(x)
        return x


@settings(max_examples=200, deadline=None)
@given(steps(), st.integers(7, 12), st.integers(7, 12))
def test_random_chains_match_autograd(chosen: list[tuple[str, Step]], h: int, w: int) -> None:
    net = _Chain(chosen)
    try:
        expected = tuple(net(torch.rand(1, 1, h, w)).shape)
    except RuntimeError:
        expected = ()  # the chain shrank the map below a window: torch refuses it too
    assume(len(expected) == 4 and min(expected[2:]) >= 1)
    graph = trace_torch(net, (1, 1, h, w))
    names = [name for name, _ in chosen]
    assert graph.output.output_shape == expected, names
    assert not graph.uncounted, names
    cov = coverage_map(graph)
    assert not cov.notes, (names, cov.notes)
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, h, w), err_msg=str(names))
