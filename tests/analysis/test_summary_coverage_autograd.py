"""`stridescope.coverage` against autograd: with positive weights, input pixel i influences
output position o iff d out[o] / d x[i] != 0; summing that mask over the output positions of
the last spatial layer gives the per-pixel window counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stridescope.api import coverage


class Branches(nn.Module):
    """A 1x1 stride-2 path and an avg-pool + 1x1 path, added (union across branches)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.skip = nn.Conv2d(2, 2, 1, stride=2)
        self.pool = nn.AvgPool2d(2)
        self.proj = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, 2, H, W)
        return self.skip(x) + self.proj(self.pool(x))  # (N, 2, H/2, W/2)


class Concat(nn.Module):
    """Two strided branches of different phase, concatenated on channels."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 1, 1, stride=2)
        self.b = nn.Conv2d(1, 1, 3, stride=2, padding=1, dilation=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=1)


MODELS = {
    "1x1s2_then_3x3": lambda: nn.Sequential(nn.Conv2d(1, 2, 1, stride=2), nn.Conv2d(2, 2, 3)),
    "3x3s2_twice": lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, stride=2)
    ),
    "dilated": lambda: nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 1, stride=3)),
    "branches_add": Branches,
    "concat": Concat,
}


def autograd_counts(model: nn.Module, shape: tuple[int, ...]) -> np.ndarray:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) + 0.5)  # positive: no cancellation
    x = torch.ones(shape, requires_grad=True)
    out = model(x)  # (N, C, Ho, Wo)
    counts = np.zeros(shape[2:], dtype=np.int64)
    for o in np.ndindex(*out.shape[2:]):
        (grad,) = torch.autograd.grad(out[(0, slice(None), *o)].sum(), x, retain_graph=True)
        counts += (grad[0].abs().sum(0) > 0).numpy()
    return counts


@pytest.mark.parametrize("name", sorted(MODELS))
def test_coverage_equals_autograd(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    shape = (1, 1, 12, 10)
    cov = coverage(model, shape)
    expected = autograd_counts(model, shape)
    np.testing.assert_array_equal(cov.counts, expected)
    assert cov.fraction == pytest.approx(float((expected > 0).mean()))


def test_checkerboard_of_1x1_stride_2() -> None:
    cov = coverage(MODELS["1x1s2_then_3x3"](), (1, 1, 12, 10))
    assert cov.fraction == 0.25
    assert cov.counts[1].sum() == 0 and cov.counts[:, 1].sum() == 0
