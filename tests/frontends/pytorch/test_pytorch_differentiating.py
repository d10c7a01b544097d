"""A forward that differentiates (a physics-informed net's ``torch.autograd.grad``,
``torch.func.jacrev`` under ``vmap``) cannot be traced: a trace computes no values, so there is
nothing to differentiate. The refusal blamed the forward's own error ('element 0 of tensors
does not require grad') or named the tracer's proxy type; it now says why, in the same line."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import jacrev, vmap

import stridescope
from stridescope.errors import StridescopeError


class _Residual(nn.Module):
    """u(x) plus its gradient's sum: a physics-informed loss term in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.requires_grad_(True)
        with torch.enable_grad():
            u = self.net(x)
            du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
        return u + du.sum(-1, keepdim=True)


class _Jacobian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 4), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return vmap(jacrev(self.net))(x).flatten(1)


class _Mapped(nn.Module):
    """vmap alone is traced (its function once per element): no hint."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 4), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return vmap(self.net)(x)


@pytest.mark.parametrize("model", [_Residual, _Jacobian])
def test_a_forward_that_differentiates_is_refused_with_the_reason(model: type) -> None:
    assert model()(torch.randn(2, 8)).shape[0] == 2  # (torch runs it)
    with pytest.raises(StridescopeError) as refused:
        stridescope.summary(model(), (2, 8))
    message = str(refused.value)
    assert "\n" not in message
    assert "the forward differentiates (torch.autograd.grad or torch.func)" in message


def test_vmap_alone_is_traced() -> None:
    assert stridescope.summary(_Mapped(), (2, 8)).totals.macs == 2 * 8 * 4
