"""The summary says when its input coverage rests on a node read whole because the coverage
walk does not know how it moves the positions (an upper bound there), in one note; not where
every position provably reaches the output, nor for layers on channels-last maps."""

from __future__ import annotations

import torch
from torch import nn

import stridescope

torch.set_num_threads(1)


class Strided(nn.Module):
    """``as_strided`` keeping every other column of each first row pair: a quarter read."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.as_strided((1, 2, 4, 4), (128, 64, 16, 2))


class ChannelsLast(nn.Module):
    """A 3x3 conv, then a block on channels-last maps (a norm and a linear layer per
    position), back to channels first: every position read."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).permute(0, 2, 3, 1)
        y = y + self.fc(self.norm(y))
        return y.permute(0, 3, 1, 2)


def _coverage_notes(model: nn.Module, side: int = 8) -> list[str]:
    s = stridescope.summary(model, input_shape=(1, 2, side, side))
    return [n for n in s.notes if n.startswith("input coverage")]


def test_a_node_read_whole_for_want_of_its_relation_is_noted() -> None:
    s = stridescope.summary(Strided(), input_shape=(1, 2, 8, 8))
    assert s.input_coverage == 1.0  # (autograd: 0.25; the walk cannot follow as_strided)
    assert _coverage_notes(Strided()) == [
        "input coverage assumes (an upper bound if wrong): as_strided (move): not a sliding "
        "window; treated as reading every position"
    ]


def test_the_walk_below_every_position_notes_its_guesses_too() -> None:
    model = nn.Sequential(nn.Conv2d(2, 2, 1, stride=2), Strided())  # (1x1 stride 2: a quarter)
    s = stridescope.summary(model, input_shape=(1, 2, 16, 16))
    assert s.input_coverage == 0.25
    assert len(_coverage_notes(model, 16)) == 1


def test_no_note_where_every_position_provably_reaches_the_output() -> None:
    conv = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU())
    assert _coverage_notes(conv) == []
    assert _coverage_notes(ChannelsLast()) == []


class Windows(nn.Module):
    """Windows taken apart and laid side by side (``unfold(3, 3, 3).flatten(-2)``, its axes
    moved), then convolutions: with ``stride``, they read part of the flattened map."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, stride=stride)
        self.head = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.unfold(3, 3, 3).flatten(-2)))


def _autograd_coverage(model: nn.Module, shape: tuple[int, ...]) -> float:
    for p in model.parameters():  # positive weights and inputs: nothing cancels
        nn.init.constant_(p, 0.1)
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    return float((grad[0].abs().sum(0) > 0).float().mean())


def test_a_node_on_moved_axes_read_whole_where_the_layers_after_it_read_part_is_noted() -> None:
    """Such a node is read whole (the walk does not follow it); where every position of it is
    read after it, as on channels-last blocks, that loses nothing and is not noted; where
    the layers after it read part (a strided conv), the coverage is an upper bound, and
    until 2026-12-07's fortieth session it said so nowhere (15/16 where autograd reads 5/16)."""
    shape = (1, 2, 8, 16)
    strided, dense = Windows(2), Windows(1)
    s = stridescope.summary(strided, input_shape=shape)
    assert s.input_coverage == 15 / 16 > _autograd_coverage(strided, shape)
    assert [n for n in s.notes if n.startswith("input coverage")] == [
        "input coverage assumes (an upper bound if wrong): flatten (flatten): on axes a permute "
        "moved, of which the layers after it read part; treated as reading every position"
    ]
    s = stridescope.summary(dense, input_shape=shape)
    assert s.input_coverage == 15 / 16 == _autograd_coverage(dense, shape)
    assert [n for n in s.notes if n.startswith("input coverage")] == []


def test_a_node_read_whole_with_nothing_pulled_back_is_not_a_skipped_one() -> None:
    """A count map (``stridescope coverage``) asks the relation of a node every position of
    which feeds every output (no terms pulled back to it: a vision transformer's class token
    concatenation): no note, and no crash (an empty union raised IndexError on eight zoo
    models' maps before this was guarded)."""
    from stridescope.analysis.coverage_relations import skipped
    from stridescope.ir import GraphBuilder

    b = GraphBuilder((1, 2, 8, 8), "nchw")
    conv = b.conv(b.input, "conv", out_channels=2, kernel=1)
    node = b.build().nodes[conv]
    assert skipped(node, [], (8, 8)) == []
