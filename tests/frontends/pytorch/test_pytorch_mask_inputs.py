"""A mask given as a further input, whose values the forward reads (hand-written patterns of
Hugging Face's mask helpers and DETR's pixel mask): taken as all ones, a note saying so.
Before, each was refused ("the forward reads tensor values")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.errors import StridescopeError

IDS = "1x8:int64"
NOTE = "taken as all ones"


class Text(nn.Module):
    """Token ids and a mask: embeds the ids, then ``pick(mask)`` says whether the mask can be
    skipped (every position kept); if not, the mask multiplies the tokens."""

    def __init__(self, pick: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 4)
        self.pick = pick

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        if self.pick(mask):
            return x.sum(-1)
        return (x * mask[..., None].to(x.dtype)).sum(-1)


SKIPPED = {  # each read of the mask says: skip it (it keeps every position)
    "all": lambda m: m.all(),
    "bool all": lambda m: m.to(torch.bool)[:, None, None, :].all(),
    "sum equals numel": lambda m: m.sum() == m.numel(),
    "no zero": lambda m: not (m == 0).any(),
    "not any padding": lambda m: not (1 - m).bool().any(),
    "mean above a half": lambda m: bool(m.float().mean(-1) > 0.5),
    "sum as a number": lambda m: int(m.sum(-1)) == m.shape[-1],
    "torch.all of eq": lambda m: torch.all(m == 1),
    "joined to a mask of ones": lambda m: torch.cat([m, torch.ones_like(m)[:, :3]], 1).all(),
    "stacked with itself": lambda m: torch.stack([m, m]).bool().all(),
}


@pytest.mark.parametrize("case", list(SKIPPED))
def test_a_mask_read_is_all_ones(case: str) -> None:
    model = Text(SKIPPED[case]).eval()
    summary = stridescope.summary(model, [IDS, IDS])
    assert any(NOTE in note for note in summary.notes)
    assert not any("discards" in note for note in summary.notes)  # the read decided a branch
    ids, ones = torch.randint(0, 100, (1, 8)), torch.ones(1, 8, dtype=torch.long)
    assert model.pick(ones)  # torch takes the same branch on a mask of ones
    products = [r for r in summary.layers if r.kind == "mul"]
    assert products == []  # the branch that skips the mask
    assert summary.layers[-1].output_shape == tuple(model(ids, ones).shape)


def test_a_pixel_mask_beside_pixels() -> None:
    """A bool ``(B, H, W)`` mask beside ``(B, C, H, W)`` pixels (DETR's ``pixel_mask``)."""

    class Detector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
            if (~pixel_mask).any():
                raise AssertionError("padded pixels: not what a mask of ones says")
            return self.conv(x)

    summary = stridescope.summary(Detector(), ["1x3x16x16", "1x16x16:bool"])
    assert summary.layers[-1].output_shape == (1, 4, 8, 8)
    assert any(NOTE in note for note in summary.notes)


def test_a_pixel_mask_resized_to_a_feature_map() -> None:
    """DETR's: the mask resized to the backbone's map (``interpolate``, then a bool cast and
    a flattening), then read by the encoder's mask helper; a max pool keeps it too."""

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor, pixel_mask: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            mask = F.interpolate(pixel_mask[None].float(), size=y.shape[-2:]).to(torch.bool)[0]
            pooled = F.max_pool2d(mask.float(), 2)
            if not mask.flatten(1).all() or not pooled.bool().all():
                raise AssertionError("padded pixels: not what a mask of ones says")
            return y

    summary = stridescope.summary(Encoder(), ["1x3x16x16", "1x16x16:int64"])
    assert summary.layers[-1].output_shape == (1, 4, 8, 8)
    assert any(NOTE in note for note in summary.notes)


def test_a_mask_pooled_by_a_layer() -> None:
    """CANINE's: the character mask downsampled by an ``nn.MaxPool1d`` made in the forward,
    then read; a layer that does not keep a constant (a conv) loses the value."""

    class Downsampled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 4)
            self.mix = nn.Conv1d(1, 1, 3, padding=1)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            pooled = nn.MaxPool1d(2, 2)(mask[:, None].float()).squeeze(1)
            if not pooled.bool().all():
                raise AssertionError("padding: not what a mask of ones says")
            if self.mix(mask[:, None].float()).bool().all():
                raise AssertionError("unreachable: a conv's output has no known value")
            return self.embed(ids)

    with pytest.raises(StridescopeError, match=r"reads tensor values"):
        stridescope.summary(Downsampled(), [IDS, IDS])  # (the conv's output is read)

    class PooledOnly(Downsampled):
        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            pooled = nn.MaxPool1d(2, 2)(mask[:, None].float()).squeeze(1)
            if not pooled.bool().all():
                raise AssertionError("padding: not what a mask of ones says")
            return self.embed(ids)

    summary = stridescope.summary(PooledOnly(), [IDS, IDS])
    assert summary.layers[-1].output_shape == (1, 8, 4)
    assert any(NOTE in note for note in summary.notes)


def test_a_mask_used_but_not_read_gets_no_note() -> None:
    """The extended attention mask, ``(1 - mask) * -10000`` added to the scores: no read."""

    class Scores(nn.Module):
        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            scores = x.float()[:, :, None] * x.float()[:, None, :]
            return scores + (1.0 - mask[:, None, :].float()) * -10000.0

    summary = stridescope.summary(Scores(), [IDS, IDS])
    assert summary.layers[-1].output_shape == (1, 8, 8)
    assert not any(NOTE in note for note in summary.notes)


def test_other_further_inputs_are_still_refused() -> None:
    """Lengths ``(B,)`` beside ids ``(B, L)`` are not a mask of their positions: a read of
    their values is refused, with the hint to summarise without them."""

    class Lengths(nn.Module):
        def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return ids[:, : int(lengths.max())]

    with pytest.raises(StridescopeError, match=r"reads tensor values.*input 2 only"):
        stridescope.summary(Lengths(), [IDS, "1:int64"])


def test_ids_compared_with_a_number_keep_their_rule() -> None:
    """The first input's ids stay unequal to any number (a padding id), beside a mask."""

    class Padded(nn.Module):
        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            if (ids == 0).any() or not mask.all():
                raise AssertionError("padding: not what the rules say")
            return ids * mask

    summary = stridescope.summary(Padded(), [IDS, IDS])
    assert summary.layers[-1].output_shape == (1, 8)


def test_a_mask_joined_to_zeros_holds_no_one_value() -> None:
    """A mask joined to real zeros (padding of its own) holds two values: a read of it is
    still refused, with the hint."""
    model = Text(lambda m: torch.cat([m, torch.zeros_like(m)], 1).all()).eval()
    with pytest.raises(StridescopeError, match="reads tensor values"):
        stridescope.summary(model, [IDS, IDS])
