"""Selection by a traced mask whose every element's value the trace knows: a mask given as
an input (taken as all ones) selects every position, ids compared with a padding id select
none, so ``x[mask]``, ``nonzero``, ``argwhere``, ``masked_select`` and ``torch.where(mask)``
have known sizes (until 2026-12-06 each was refused: "returns as many elements as the
tensor's values select"). A mask of unknown values selects every position, an upper bound
(noted: test_pytorch_data_bounds.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import stridescope

IDS = "1x8:int64"
Pick = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PICKS: dict[str, Pick] = {
    "x[mask]": lambda x, ids, m: x[m.bool()],
    "masked_select": lambda x, ids, m: torch.masked_select(x, m.bool()[..., None]),
    "x[nonzero]": lambda x, ids, m: x.flatten(0, 1)[torch.nonzero(m.flatten()).flatten()],
    "x[nonzero as tuple]": lambda x, ids, m: x[torch.nonzero(m, as_tuple=True)],
    "x[argwhere]": lambda x, ids, m: x[0, torch.argwhere(m[0]).flatten()],
    "x[where(mask)]": lambda x, ids, m: x[torch.where(m.bool())],
    "x[ids == pad]": lambda x, ids, m: x[ids == 0],
    "x[ids != pad]": lambda x, ids, m: x[ids != 0],
}


class Picked(nn.Module):
    def __init__(self, pick: Pick) -> None:
        super().__init__()
        self.embed, self.pick = nn.Embedding(50, 4), pick

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> Any:
        return self.pick(self.embed(ids), ids, mask)


@pytest.mark.parametrize("case", list(PICKS))
def test_a_mask_of_known_value_selects_all_or_none(case: str) -> None:
    model = Picked(PICKS[case])
    summary = stridescope.summary(model, [IDS, IDS])
    ids = torch.randint(1, 50, (1, 8))  # no padding id, as the trace takes them
    real = model(ids, torch.ones(1, 8, dtype=torch.long))
    assert summary.layers[-1].output_shape == tuple(real.shape)
    assert summary.totals.uncounted == ()


def test_a_mask_of_unknown_values_is_taken_at_its_largest() -> None:
    model = Picked(lambda x, ids, m: x[x.sum(-1) > 0])
    summary = stridescope.summary(model, [IDS, IDS])
    assert summary.layers[-1].output_shape == (8, 4)
    assert any("taken at their largest" in n for n in summary.notes)


class Levels(nn.Module):
    """Rows put in pyramid levels by their size (``MultiScaleRoIAlign``'s mapping): integers
    computed from measured values, not ids; a projection of each level's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 6)

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        levels = torch.log2(boxes.abs().sum(-1) + 1).floor().clamp(0, 2).to(torch.int64)
        return torch.cat([self.proj(boxes[torch.where(levels == k)[0]]) for k in range(3)])


def test_integers_computed_from_measured_values_are_not_ids() -> None:
    summary = stridescope.summary(Levels(), (10, 4))
    proj = [r for r in summary.layers if r.path.startswith("proj")]
    assert [r.output_shape for r in proj] == [(10, 6)] * 3  # (each level: every row, a bound)
    assert any("taken at their largest" in n for n in summary.notes)
    assert not any("never equal" in n for n in summary.notes)
    for _ in range(5):  # whatever the sizes, each level holds at most every row
        assert Levels()(torch.randn(10, 4) * 4).shape[0] <= 30
