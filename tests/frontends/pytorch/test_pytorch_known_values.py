"""A forward whose only value read asks whether values are finite (a numerical guard, as
Hugging Face's DETR-family encoder layers run in training mode) traces, taking the finite
branch; any other value read is still refused in one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph

SHAPE = (2, 3, 4, 4)


class Guarded(nn.Module):
    """Clamps when its tokens are not finite (training), checks them otherwise."""

    def __init__(self, check: str = "guard") -> None:
        super().__init__()
        self.check = check
        self.conv = nn.Conv2d(3, 8, 1)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(self.conv(x).flatten(2).transpose(1, 2))
        if self.check == "guard":
            if torch.isinf(h).any() or torch.isnan(h).any():
                h = h.clamp(-1e4, 1e4)  # not taken: values are finite
        elif self.check == "finite":
            if not torch.isfinite(h).all():
                raise ValueError("not finite")
        elif self.check == "item":
            if (~torch.isnan(h) & torch.isfinite(h)).all().item():
                h = h * 2  # taken
        elif self.check == "mixed" and (torch.isinf(h).any() or (h > 0).any()):
            h = -h  # (the second asks about values)
        return h


@pytest.mark.parametrize("check", ["guard", "finite", "item"])
def test_a_finite_values_check_takes_the_finite_branch(check: str) -> None:
    model = Guarded(check).train()
    graph = load_graph(model, SHAPE)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.output.output_shape == (2, 16, 8)
    ops = [n.op for n in graph.nodes]
    assert "clamp" not in ops
    assert ("mul" in ops) == (check == "item")
    assert not [n for n in graph.nodes if n.kind == "uncounted"]


def test_any_other_value_read_is_refused() -> None:
    with pytest.raises(StridescopeError, match=r"reads tensor values \(bool\(tensor\)\)"):
        load_graph(Guarded("mixed"), SHAPE)
