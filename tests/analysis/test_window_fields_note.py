"""Window attention moves each window into the batch axis (Swin's ``(B·nW, 49, C)``), which the
receptive fields read as merging the positions: ``whole input`` from there on is an upper
bound, and the summary says so where it starts (until 2026-12-06 it said nothing). A
flatten of the map into tokens (a ViT) or heads moved into the batch axis of tokens already
mixed get no such note."""

from __future__ import annotations

import torch
from torch import nn

import stridescope


class _StemAttention(nn.Module):
    """A conv stem of stride 4 (an 8 x 8 map of a 32 x 32 input) and an attention layer."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)


class _Windows(_StemAttention):
    """Window attention on 4 x 4 windows of the stem's map, the windows put back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)  # (B, 8, 8, 16)
        b, h, w, c = x.shape
        windows = x.view(b, h // 4, 4, w // 4, 4, c).permute(0, 1, 3, 2, 4, 5)
        tokens = windows.reshape(-1, 16, c)  # (B·4, 16, C)
        mixed = self.attn(tokens, tokens, tokens)[0]
        back = mixed.view(b, h // 4, w // 4, 4, 4, c).permute(0, 1, 3, 2, 4, 5)
        return back.reshape(b, h, w, c)


class _Tokens(_StemAttention):
    """A ViT's patch tokens, then heads split into the batch axis of the mixed tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.stem(x).flatten(2).transpose(1, 2)  # (B, 64, 16)
        t = self.attn(t, t, t)[0]
        return t.reshape(1, 64, 2, 8).transpose(1, 2).reshape(2, 64, 8)  # heads into batch


def _bounds(model: nn.Module) -> list[str]:
    summary = stridescope.summary(model.eval(), (1, 3, 32, 32))
    return [n for n in summary.notes if "upper bound" in n]


def test_window_attention_says_where_whole_input_is_a_bound() -> None:
    assert _bounds(_Windows()) == [
        "receptive fields say whole input from reshape on, an upper bound: it moves the "
        "positions of the 2x2 map into the batch axis (as window attention does), and a row "
        "sees less until they mix again"
    ]


def test_tokens_and_heads_in_the_batch_axis_get_no_such_note() -> None:
    assert _bounds(_Tokens()) == []
