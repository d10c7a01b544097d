"""Products beyond ``matmul`` and ``einsum``, one test per op (hand-written): each counted,
with torch's output shape, its MACs from the operands' shapes (``multi_dot`` in the order
torch computes it, checked against ``FlopCounterMode``), ``einsum`` in its sublist form and
a weight cast with ``type_as``; ``stft`` as an FFT per frame."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.frontends.pytorch import trace_torch
from stridescope.frontends.pytorch.handlers.linalg import chain_macs
from tests.frontends.pytorch.applied import Apply

X = (2, 4, 6, 6)
pytestmark = pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")


class Weighted(nn.Module):
    """``forward(x)`` is ``fn(self, x)``, with a weight of each shape in ``weights``."""

    def __init__(self, fn: Callable[..., Any], **weights: tuple[int, ...]) -> None:
        super().__init__()
        self.fn = fn
        for name, shape in weights.items():
            setattr(self, name, nn.Parameter(torch.randn(shape)))

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self, x)


CASES: dict[str, tuple[nn.Module, int]] = {
    "multi_dot": (
        Weighted(
            lambda m, x: torch.linalg.multi_dot([x.flatten(1), m.a, m.b]), a=(144, 8), b=(8, 3)
        ),
        2 * 144 * 8 + 2 * 8 * 3,
    ),
    "chain_matmul": (
        Weighted(lambda m, x: torch.chain_matmul(m.a, x.flatten(1).T, m.b), a=(5, 144), b=(2, 1)),
        144 * 2 * 1 + 5 * 144 * 1,  # x.T @ b first (288), not a @ x.T (1,440)
    ),
    "addbmm": (
        Weighted(lambda m, x: torch.addbmm(m.c, x.flatten(2), m.w), w=(2, 36, 5), c=(4, 5)),
        2 * 4 * 36 * 5,
    ),
    "inner": (Weighted(lambda m, x: torch.inner(x, m.w), w=(5, 6)), 2 * 4 * 6 * 5 * 6),
    "vecdot": (Weighted(lambda m, x: torch.linalg.vecdot(x, m.w), w=(6,)), 2 * 4 * 6 * 6),
    "kron": (Weighted(lambda m, x: torch.kron(x, m.w), w=(1, 1, 2, 2)), 2 * 4 * 12 * 12),
    "cross": (Apply(lambda x: torch.linalg.cross(x[:, :3], x[:, 1:], dim=1)), 2 * 2 * 3 * 36),
    "trace": (Apply(lambda x: torch.trace(x[0, 0])), 6),
    "einsum sublist": (
        Apply(lambda x: torch.einsum(x, [0, 1, 2, 3], x, [0, 1, 4, 3], [0, 1, 2, 4])),
        2 * 4 * 6 * 6 * 6,
    ),
    "type_as weight": (Weighted(lambda m, x: m.w.type_as(x) * x, w=(1, 4, 1, 1)), 2 * 4 * 36),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_products_are_counted_with_torch_shapes(case: tuple[nn.Module, int]) -> None:
    model, macs = case
    summary = stridescope.summary(model, X)
    assert summary.totals.uncounted == ()
    assert summary.totals.macs == macs
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    graph = trace_torch(model, X)
    with torch.no_grad():
        out = model(torch.randn(X))
    assert graph.nodes[-1].output_shape == tuple(out.shape)


def test_multi_dot_counts_what_torch_multiplies() -> None:
    for name in ("multi_dot", "chain_matmul"):
        model, macs = CASES[name]
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.randn(X))
        assert counter.get_total_flops() // 2 == macs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=3, max_size=6))
def test_the_cheapest_chain_is_what_torch_multiplies(sizes: list[int]) -> None:
    matrices = [torch.zeros(a, b) for a, b in itertools.pairwise(sizes)]
    with FlopCounterMode(display=False) as counter:
        torch.linalg.multi_dot(matrices)
    assert chain_macs([tuple(m.shape) for m in matrices]) == counter.get_total_flops() // 2


def test_stft_is_an_fft_per_frame() -> None:
    """``torch.stft`` (a spectrogram front-end): one FFT of ``n_fft`` points per frame,
    ``log2(n_fft)`` MACs per point as ``torch.fft`` counts them; frames as torch makes them."""

    def spectrogram(x: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(16, device=x.device)
        return torch.stft(x.flatten(1), 16, hop_length=8, window=window, return_complex=True)

    graph = trace_torch(Apply(spectrogram), X)
    (node,) = [n for n in graph.nodes if n.op == "stft"]
    frames = 1 + 144 // 8  # centred: the signal padded by n_fft // 2 on each side
    assert node.counted and node.output_shape == (2, 9, frames)
    assert node.output_shape == tuple(spectrogram(torch.randn(X)).shape)
    assert node.macs == 2 * frames * 16 * 4
