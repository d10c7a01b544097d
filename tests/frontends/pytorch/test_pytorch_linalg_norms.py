"""``torch.linalg.norm`` and ``torch.linalg.matrix_norm`` (a contrastive head normalising its
embeddings: ``x / torch.linalg.norm(x, ord=2, dim=-1, keepdim=True)``): vector norms and the
matrix norms that sum the entries are reductions counted as ``vector_norm`` is, one MAC per
element read; the nuclear and spectral matrix norms, sums of singular values, stay
uncounted, as ``svd`` does (until 2026-12-06 every ``linalg.norm`` was uncounted)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

import stridescope

SHAPE = (2, 4, 8)
Norm = Callable[[torch.Tensor], torch.Tensor]

COUNTED: dict[str, Norm] = {
    "vector, ord 2, keepdim": lambda x: torch.linalg.norm(x, ord=2, dim=-1, keepdim=True),
    "vector, default ord": lambda x: torch.linalg.norm(x, dim=-1),
    "vector, ord 1": lambda x: torch.linalg.norm(x, ord=1, dim=1),
    "vector, ord inf": lambda x: torch.linalg.norm(x, ord=math.inf, dim=-1),
    "every axis, flattened": lambda x: torch.linalg.norm(x),
    "matrix, fro over a pair": lambda x: torch.linalg.norm(x, dim=(-2, -1)),
    "matrix, 2-D input with an ord": lambda x: torch.linalg.norm(x[0], ord=1),
    "matrix_norm, default fro": lambda x: torch.linalg.matrix_norm(x),
    "matrix_norm, ord inf": lambda x: torch.linalg.matrix_norm(x, ord=-math.inf),
}
SPECTRAL: dict[str, Norm] = {
    "matrix_norm, ord 2": lambda x: torch.linalg.matrix_norm(x, ord=2),
    "norm, nuclear": lambda x: torch.linalg.norm(x, ord="nuc", dim=(1, 2)),
}


class Normed(nn.Module):
    def __init__(self, norm: Norm) -> None:
        super().__init__()
        self.proj, self.norm = nn.Linear(8, 8), norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


@pytest.mark.parametrize("case", list(COUNTED))
def test_norms_that_sum_the_entries_count_one_mac_per_element(case: str) -> None:
    model = Normed(COUNTED[case])
    summary = stridescope.summary(model, SHAPE)
    real = model(torch.randn(SHAPE))
    assert summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == tuple(real.shape)
    read = math.prod(SHAPE) if "2-D" not in case else math.prod(SHAPE[1:])
    assert summary.totals.macs - math.prod(SHAPE) * 8 == read  # (after the projection's)


@pytest.mark.parametrize("case", list(SPECTRAL))
def test_norms_of_singular_values_stay_uncounted(case: str) -> None:
    model = Normed(SPECTRAL[case])
    summary = stridescope.summary(model, SHAPE)
    assert len(summary.totals.uncounted) == 1
    assert summary.layers[-1].output_shape == tuple(model(torch.randn(SHAPE)).shape)
