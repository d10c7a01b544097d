"""A tensor whose values read no input (made from a shape: ``x.new_empty(...).bernoulli_()``
for stochastic depth in training, ``torch.ones_like(x)``, ``torch.rand_like(x)``) leaves the
receptive field of what it is merged with as it was: where it meets the input's values, the
field is theirs alone. It used to make every field after it unknown (``?``), so a model built
with ``drop_path_rate > 0`` summarised in ``.train()`` had no receptive field from its first
block on. Checked against the gradient of an output position: the input positions it
depends on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import stridescope


class _DropPath(nn.Module):
    """Stochastic depth: each sample's branch kept with probability 0.9, as residual
    networks with ``drop_path_rate`` write it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(0.9)
        return x * mask.div_(0.9)


_GATES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "new_ones": lambda x: x * x.new_ones((x.shape[0], 1, 1, 1)),
    "ones_like": lambda x: x + torch.ones_like(x),
    "rand_like": lambda x: x * torch.rand_like(x).add(0.5),
    "cat": lambda x: torch.cat([x, torch.zeros_like(x)], dim=1)[:, : x.shape[1]],
}


class _Block(nn.Module):
    def __init__(self, gate: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.drop = _DropPath()
        self.c = nn.Conv2d(4, 4, 3, padding=1, stride=2)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x)
        x = x + self.drop(self.b(x))
        if self.gate is not None:
            x = self.gate(x)
        return self.c(x)


def _gradient_extent(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of the input the centre output position depends on."""
    torch.manual_seed(0)
    x = torch.rand(shape).requires_grad_(True)
    y = model(x)
    h, w = y.shape[-2] // 2, y.shape[-1] // 2
    (grad,) = torch.autograd.grad(y[0, :, h, w].sum(), x)
    rows, cols = torch.nonzero(grad[0].abs().sum(0), as_tuple=True)
    return int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1


@pytest.mark.parametrize("gate", [None, *_GATES])
def test_a_tensor_made_from_a_shape_keeps_the_receptive_field(gate: str | None) -> None:
    model = _Block(None if gate is None else _GATES[gate]).train()
    torch.nn.init.constant_(model.b.weight, 0.1)  # (nothing cancels in the gradient)
    for conv in (model.a, model.c):
        torch.nn.init.constant_(conv.weight, 0.1)
    shape = (2, 1, 24, 32)
    summary = stridescope.summary(model, input_shape=shape)
    last = summary.layers[-1]
    assert last.path == "c" and last.rf_size == (7, 7) and last.rf_jump == (2, 2)
    assert _gradient_extent(model, shape) == last.rf_size
    made = [r for r in summary.layers if r.path.startswith("drop.")]
    assert [r.path for r in made][:2] == ["drop.new_empty", "drop.bernoulli"]


def test_a_positional_encoding_made_from_the_size_alone_keeps_the_field() -> None:
    """A coordinate grid made from the feature size (real values, no traced input), projected
    by a conv and added to the features, as Fourier position encodings are: its nodes read
    no input."""

    class Positioned(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.project = nn.Conv2d(2, 4, 1)
            self.out = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv(x)
            h, w = x.shape[-2:]
            rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack([rows, cols]).float()[None].expand(x.shape[0], -1, -1, -1)
            return self.out(x + self.project(grid))

    model = Positioned().eval()
    summary = stridescope.summary(model, input_shape=(1, 1, 16, 16))
    assert [r.path for r in summary.layers][:3] == ["conv", "project.input", "project"]
    assert summary.layers[-1].rf_size == (5, 5) == _gradient_extent(model, (1, 1, 16, 16))
