"""Past the node input coverage is measured at (the last one with the input's rank), a node
that keeps part of its input with nothing mixing the rest back in makes the coverage an upper
bound: the summary says so. Heads, attention and pieces put back together do not. Each
model's true coverage is what autograd finds reaching the output."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope

torch.set_num_threads(1)

_NOTE = "input coverage assumes (an upper bound if wrong): "


def _autograd_coverage(model: nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(shape, requires_grad=True)
    model(x).abs().sum().backward()
    assert x.grad is not None
    return float((x.grad.abs().sum(dim=(0, 1)) > 0).float().mean())


def _noted(model: nn.Module, shape: tuple[int, ...]) -> tuple[float | None, list[str]]:
    s = stridescope.summary(model, input_shape=shape)
    return s.input_coverage, [n for n in s.notes if n.startswith(_NOTE)]


class RowOfWindows(nn.Module):
    """Windows along the columns flattened into them, then one row picked."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unfold(3, 4, 2).flatten(-2).select(2, 10)


class StridedOverFolded(nn.Module):
    """Rows folded into the channels, then a strided 1-D conv along the columns."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(16, 4, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.flatten(1, 2))


class ClassToken(nn.Module):
    """Patches to tokens, a class token, self-attention, the class token to the head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, 8, 4, stride=4)
        self.token = nn.Parameter(torch.randn(1, 1, 8))
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.token.expand(t.shape[0], -1, -1), t], 1)
        t = t + self.attn(t, t, t, need_weights=False)[0]
        return self.head(t[:, 0])


class Pieces(nn.Module):
    """The flattened map cut in two along its positions and both halves used."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.flatten(2).chunk(2, dim=2)
        return torch.cat([b, a], 2)


class OneHalf(nn.Module):
    """The same cut, one half used."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).chunk(2, dim=2)[0]


def test_a_row_picked_past_the_last_map_is_noted() -> None:
    shape = (1, 1, 18, 23)
    coverage, notes = _noted(RowOfWindows(), shape)
    assert coverage is not None and coverage > _autograd_coverage(RowOfWindows(), shape)
    assert notes == [
        f"{_NOTE}select (select) past flatten, where input coverage is measured, keeps part "
        "of its input; treated as reading all of it"
    ]


def test_a_strided_window_past_the_last_map_is_noted() -> None:
    model, shape = StridedOverFolded(), (1, 1, 16, 16)
    coverage, notes = _noted(model, shape)
    assert coverage is not None and coverage > _autograd_coverage(model, shape)
    assert len(notes) == 1 and notes[0].startswith(f"{_NOTE}conv (Conv1d) past ")


def test_one_piece_of_a_cut_is_noted_both_pieces_are_not() -> None:
    shape = (1, 1, 8, 8)
    coverage, notes = _noted(OneHalf(), shape)
    assert coverage == 1.0 and _autograd_coverage(OneHalf(), shape) == 0.5
    assert len(notes) == 1
    coverage, notes = _noted(Pieces(), shape)
    assert coverage == 1.0 == _autograd_coverage(Pieces(), shape)
    assert notes == []


def test_a_class_token_after_attention_and_a_classifier_head_are_not_noted() -> None:
    shape = (1, 1, 16, 16)
    coverage, notes = _noted(ClassToken().eval(), shape)
    assert coverage == 1.0 == _autograd_coverage(ClassToken().eval(), shape)
    assert notes == []
    head = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 5))
    coverage, notes = _noted(head, shape)
    assert coverage == 1.0 and notes == []


class Resized(nn.Module):
    """The flattened map resized to ``size`` positions (a stride of 4, or 64 to 20: a
    resize without a window)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.flatten(2), size=self.size, mode="nearest")


@pytest.mark.parametrize("size", [16, 20])
def test_a_resize_that_skips_positions_past_the_last_map_is_noted(size: int) -> None:
    shape = (1, 1, 8, 8)
    coverage, notes = _noted(Resized(size), shape)
    assert coverage is not None and coverage > _autograd_coverage(Resized(size), shape)
    assert len(notes) == 1


def test_a_crop_that_pads_the_other_end_past_the_last_map_is_noted() -> None:
    class Cropped(nn.Module):  # (more values out than in: still two columns never read)
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.pad(x.movedim(3, 2).flatten(1, 2), (-2, 3))

    shape = (1, 1, 13, 11)
    coverage, notes = _noted(Cropped(), shape)
    assert coverage is not None and coverage > _autograd_coverage(Cropped(), shape)
    assert len(notes) == 1 and notes[0].startswith(f"{_NOTE}pad (F.pad) past flatten")


def test_the_coverage_map_says_so_too() -> None:
    shape = (1, 1, 18, 23)
    notes = stridescope.coverage(RowOfWindows(), input_shape=shape).notes
    assert any("select (select) past flatten" in n for n in notes)
    assert not any(
        "past" in n for n in stridescope.coverage(Pieces(), input_shape=(1, 1, 8, 8)).notes
    )
