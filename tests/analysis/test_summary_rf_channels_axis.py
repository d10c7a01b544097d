"""Fields and coverage where the model turns its input's channel axis into an axis a window
slides along: a spectrogram ``(N, T, F)`` made ``(N, 1, T, F)`` for ``Conv2d`` layers (a
Conformer's or AST's front end), a hyperspectral cube ``(N, B, H, W)`` made
``(N, 1, B, H, W)`` for ``Conv3d``. The input's layout reads the first axis as channels, so
the fields are on the others; each against what autograd reaches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stridescope


class Spectrogram(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 4, 3, stride), nn.GELU(), nn.Conv2d(4, 4, 3, stride), nn.GELU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1))


class Cube(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv3d(1, 4, (7, 3, 3), (2, 1, 1)), nn.Conv3d(4, 4, (3, 3, 3), (1, 2, 2))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1))


def _reach(out: torch.Tensor, x: torch.Tensor, at: tuple[int, ...]) -> list[tuple[int, int]]:
    """Per spatial axis of ``x`` (every axis after the channels), the first and last input
    position the output at ``at`` (over its channels) depends on."""
    (grad,) = torch.autograd.grad(out[(0, slice(None), *at)].sum(), x, retain_graph=True)
    read = grad[0].abs().sum(0) > 0  # (over the input's channels)
    spans = []
    for axis in range(read.dim()):
        others = tuple(a for a in range(read.dim()) if a != axis)
        hit = read.any(dim=others) if others else read
        idx = hit.nonzero().flatten()
        spans.append((int(idx.min()), int(idx.max())))
    return spans


@pytest.mark.parametrize(
    ("model", "shape"),
    [(Spectrogram(2), (1, 50, 40)), (Spectrogram(1), (1, 20, 17)), (Cube(), (1, 15, 13, 13))],
)
def test_fields_and_coverage_on_the_axes_after_the_channels(
    model: nn.Module, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    summary = stridescope.summary(model, input_shape=shape)
    x = torch.randn(shape, requires_grad=True)
    out = x.unsqueeze(1)
    rows = {r.path: r for r in summary.layers}
    for name, layer in model.conv.named_children():
        out = layer(out)
        row = rows[f"conv.{name}"]
        assert row.rf_note == "" and row.rf_size is not None and row.rf_jump is not None
        middle = tuple(d // 2 for d in out.shape[2:])  # (the former channels' axis too)
        spans = _reach(out, x, middle)
        assert list(row.rf_size) == [last - first + 1 for first, last in spans]
        step = (*middle[:-1], middle[-1] + 1)  # the next position along the last axis
        moved = _reach(out, x, step)
        assert row.rf_jump[-1] == moved[-1][0] - spans[-1][0]
    (grad,) = torch.autograd.grad(out.sum(), x)
    read = (grad[0].abs().sum(0) > 0).float().mean().item()
    assert summary.input_coverage == pytest.approx(read)
    assert not any("upper bound" in n for n in summary.notes)
