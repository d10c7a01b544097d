"""A module run with ``torch.func.functional_call`` on tensors that are its parameters' own
values, detached (``state_dict()``, ``p.detach()``, ``p.data``): those tensors are the
parameters, counted once and not named unused (until 2026-12-06 they were counted, and the
parameters themselves were also named unused); tensors computed from the parameters (fast
weights) count what they came from, as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.func import functional_call

import stridescope

Weights = Callable[[nn.Module], dict[str, torch.Tensor]]

WEIGHTS: dict[str, Weights] = {
    "state_dict": lambda m: dict(m.state_dict()),
    "detached": lambda m: {k: v.detach() for k, v in m.named_parameters()},
    "data": lambda m: {k: v.data for k, v in m.named_parameters()},
    "computed": lambda m: {k: v * 1.0 for k, v in m.named_parameters()},
}


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean((2, 3)))


class Wrapped(nn.Module):
    """Runs its inner model on the weights ``weights`` gives (twice: counted once)."""

    def __init__(self, weights: Weights) -> None:
        super().__init__()
        self.inner, self.weights = Inner(), weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = functional_call(self.inner, self.weights(self.inner), (x,))
        return first + functional_call(self.inner, self.weights(self.inner), (x,))


@pytest.mark.parametrize("case", list(WEIGHTS))
def test_weights_that_are_the_parameters_count_them_once(case: str) -> None:
    model = Wrapped(WEIGHTS[case])
    summary = stridescope.summary(model, (1, 3, 8, 8))
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert not any("not used" in note for note in summary.notes)
    assert summary.layers[-1].output_shape == tuple(model(torch.randn(1, 3, 8, 8)).shape)
