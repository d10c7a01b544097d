"""Receptive fields after tokens: an embedding of token ids keeps each id's position (a row of
the table at it), so a 1-D convolution over the embedded tokens has the field it has over a
signal; self-attention along a signal's or the tokens' axis mixes every position of it, so
the field after it covers the input (until 2026-12-06 the first was unknown, ``?``, and the
second the projections' field, as if attention read one position)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.analysis.summary import LayerRow

LENGTH = 16


class TextCNN(nn.Module):
    """Token ids, an embedding, then two 1-D convolutions over the sequence (``embed=False``:
    the same convolutions on a signal of the embedding's width)."""

    def __init__(self, embed: bool, functional: bool = False) -> None:
        super().__init__()
        self.embed, self.functional = embed, functional
        self.table = nn.Embedding(50, 8)
        self.convs = nn.Sequential(nn.Conv1d(8, 8, 3, stride=2), nn.ReLU(), nn.Conv1d(8, 8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed:
            weight = self.table.weight * 2.0 if self.functional else None
            x = F.embedding(x, weight) if weight is not None else self.table(x)
            x = x.transpose(1, 2)
        return self.convs(x)


def _fields(rows: tuple[LayerRow, ...], kind: str) -> list[tuple[object, object]]:
    return [(r.rf_size, r.rf_jump) for r in rows if r.kind == kind]


@pytest.mark.parametrize("functional", [False, True])
def test_convolutions_over_embedded_tokens_have_their_fields_over_a_signal(
    functional: bool,
) -> None:
    tokens = stridescope.summary(TextCNN(True, functional), f"1x{LENGTH}:int64", depth=3)
    signal = stridescope.summary(TextCNN(False), (1, 8, LENGTH), depth=3)
    assert (
        _fields(tokens.layers, "conv")
        == _fields(signal.layers, "conv")
        == [
            ((3,), (2,)),
            ((7,), (2,)),
        ]
    )
    assert tokens.input_coverage == signal.input_coverage == 15 / 16  # (the last id unread)
    embedded = next(r for r in tokens.layers if r.kind == "move")
    assert (embedded.rf_size, embedded.output_shape) == ((1,), (1, LENGTH, 8))
    model = TextCNN(True, functional)
    assert tokens.totals.params == sum(p.numel() for p in model.parameters())


class SignalAttention(nn.Module):
    """A convolution over a signal, its steps moved to the sequence axis, then self-attention
    over them (``how``: ``nn.MultiheadAttention`` batch first or not, or a whole
    ``nn.TransformerEncoderLayer``)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv1d(4, 8, 3)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=how != "sequence first")
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.how == "encoder layer":
            return self.layer(y.transpose(1, 2))
        if self.how == "sequence first":
            y = y.permute(2, 0, 1)
            return self.attn(y, y, y, need_weights=False)[0]
        y = y.transpose(1, 2)
        return self.attn(y, y, y)[0]


@pytest.mark.parametrize("how", ["batch first", "sequence first", "encoder layer"])
def test_self_attention_over_a_signals_steps_reads_every_step(how: str) -> None:
    model = SignalAttention(how).eval()
    summary = stridescope.summary(model, (1, 4, 32), depth=1)
    conv = next(r for r in summary.layers if r.kind == "conv")
    last = summary.layers[-1]
    assert conv.rf_size == (3,)
    assert last.rf_size is not None and last.rf_size[0] >= 32  # every input step
    assert summary.input_coverage == 1.0
    assert last.output_shape == tuple(model(torch.randn(1, 4, 32)).shape)
