"""An ``einsum`` of three or more operands costs what torch computes: torch contracts them in
opt_einsum's order where that package is installed and ``torch.backends.opt_einsum`` is
enabled (a dependency of TensorFlow and JAX, often present), left to right otherwise; the
MACs follow the same order (until 2026-12-07 always left to right: 2,048 where torch
computes 1,020 for ``bchw,cd,de->behw``). Checked against ``FlopCounterMode`` either way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.ir.einsum import einsum_macs, torch_path


class Chain(nn.Module):
    def __init__(self, equation: str, shapes: list[tuple[int, ...]]) -> None:
        super().__init__()
        self.equation = equation
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(s)) for s in shapes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, x, *self.weights)


@pytest.fixture(params=[True, False], ids=["opt_einsum on", "opt_einsum off"])
def opt_einsum(request: pytest.FixtureRequest) -> Iterator[bool]:
    was = torch.backends.opt_einsum.enabled
    torch.backends.opt_einsum.enabled = request.param
    yield request.param
    torch.backends.opt_einsum.enabled = was


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("bchw,cd,de->behw", [(2, 3, 8, 8), (3, 4), (4, 5)]),
        ("b i j, j k, k l, l m -> b i m", [(2, 16, 3), (3, 40), (40, 2), (2, 30)]),
        ("bij,jk,bkl->bil", [(2, 9, 30), (30, 2), (2, 2, 17)]),
    ],
)
def test_macs_follow_the_order_torch_contracts_in(
    opt_einsum: bool, equation: str, shapes: list[tuple[int, ...]]
) -> None:
    model = Chain(equation, shapes[1:])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(shapes[0]))
    summary = stridescope.summary(model, input_shape=shapes[0])
    assert summary.totals.macs == counter.get_total_flops() // 2
    assert einsum_macs(equation, shapes) == summary.totals.macs
    if not opt_einsum or not torch.backends.opt_einsum.is_available():
        assert torch_path(equation, shapes) is None
