"""Coverage of 1-D and 3-D models against autograd: random chains of strided and dilated
convolutions (zero or reflect padding), average pools (ceil mode too), transposed convolutions,
slices and residual branches, traced by the PyTorch frontend. The count map equals autograd's
position by position, and every traced shape equals torch's. (Max pools are left out: autograd
sends their gradient to the maximum only, while coverage counts every position a window
reads.)"""

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
C = 3  # channels between steps
_CONV = {1: F.conv1d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 3: F.conv_transpose3d}
_AVG = {1: F.avg_pool1d, 3: F.avg_pool3d}


def _conv(rank: int, k: int, s: int, p: int, d: int, reflect: bool) -> Step:
    weight = torch.ones(C, C, *(k,) * rank)
    conv = _CONV[rank]
    if not reflect:
        return lambda x: conv(x, weight, stride=s, padding=p, dilation=d)
    return lambda x: conv(F.pad(x, (p, p) * rank, mode="reflect"), weight, stride=s, dilation=d)


def _branches(rank: int) -> Step:
    """A 1-tap stride-2 conv plus average pool + 1-tap (ResNet-D's shortcut beside v1's)."""
    one = torch.ones(C, C, *(1,) * rank)

    def step(x: torch.Tensor) -> torch.Tensor:
        pooled = _AVG[rank](x, 2, 2, ceil_mode=True, count_include_pad=False)
        return _CONV[rank](x, one, stride=2) + _CONV[rank](pooled, one)

    return step


@st.composite
def steps(draw: st.DrawFn, rank: int) -> list[tuple[str, Step]]:
    chosen: list[tuple[str, Step]] = []
    kinds = ["conv", "conv", "pool", "transpose", "slice", "branches"]
    for _ in range(draw(st.integers(1, 4 if rank == 1 else 3))):
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            k = draw(st.integers(1, 5 if rank == 1 else 3))
            s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p, reflect = draw(st.integers(0, k // 2)), draw(st.booleans())
            name = f"conv k{k} s{s} p{p} d{d}{' reflect' if reflect else ''}"
            chosen.append((name, _conv(rank, k, s, p, d, reflect)))
        elif kind == "pool":
            k, s, ceil = draw(st.integers(2, 3)), draw(st.integers(1, 2)), draw(st.booleans())
            chosen.append(
                (
                    f"avgpool k{k} s{s} ceil={ceil}",
                    lambda x, k=k, s=s, c=ceil: _AVG[rank](x, k, s, ceil_mode=c),
                )
            )
        elif kind == "transpose":
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            w = torch.ones(C, C, *(k,) * rank)
            chosen.append(
                (f"transpose k{k} s{s}", lambda x, w=w, s=s: _CONV_T[rank](x, w, stride=s))
            )
        elif kind == "slice":
            a, b = draw(st.integers(0, 1)), draw(st.integers(1, 2))
            index = (Ellipsis, *(slice(a, None, b),) * rank)
            chosen.append((f"x[..., {a}::{b}]", lambda x, i=index: x[i]))
        else:
            chosen.append(("branches", _branches(rank)))
    return chosen


class _Chain(nn.Module):
    def __init__(self, rank: int, chosen: list[tuple[str, Step]]) -> None:
        super().__init__()
        self.rank, self.chosen = rank, chosen
        self.stem = torch.ones(C, 1, *(1,) * rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _CONV[self.rank](x, self.stem)  # 1 -> C channels
        for _name, step in self.chosen:
            x = step(x)
        return x


def _check(rank: int, chosen: list[tuple[str, Step]], spatial: tuple[int, ...]) -> None:
    net = _Chain(rank, chosen)
    try:
        expected = tuple(net(torch.rand(1, 1, *spatial)).shape)
    except RuntimeError:
        expected = ()  # the chain shrank the input below a window: torch refuses it too
    assume(len(expected) == 2 + rank and min(expected[2:]) >= 1)
    graph = trace_torch(net, (1, 1, *spatial))
    names = [name for name, _ in chosen]
    assert graph.output.output_shape == expected, names
    assert not graph.uncounted, names
    cov = coverage_map(graph)
    assert not cov.notes, (names, cov.notes)
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, *spatial), err_msg=str(names))


@settings(max_examples=150, deadline=None)
@given(steps(1), st.integers(6, 40))
def test_random_1d_chains_match_autograd(chosen: list[tuple[str, Step]], length: int) -> None:
    _check(1, chosen, (length,))


@settings(max_examples=60, deadline=None)
@given(steps(3), st.tuples(st.integers(4, 7), st.integers(4, 7), st.integers(4, 7)))
def test_random_3d_chains_match_autograd(
    chosen: list[tuple[str, Step]], spatial: tuple[int, int, int]
) -> None:
    _check(3, chosen, spatial)
