"""A small causal text decoder whose forward takes a cache before the attention mask, as GPT-2's
does: ``forward(input_ids, past_key_values=None, attention_mask=None)``. The mask is given by
keyword:

    stridescope summary examples/text_decoder.py:build --input 1x16:int64 \\
        --input attention_mask=1x16:int64

Where every position is kept (``attention_mask.all()``), the forward skips the padding mask,
as Hugging Face's models do; stridescope takes a mask given as an input as all ones and says so.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        n = x.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        y = self.norm1(x)
        x = x + self.attn(y, y, y, attn_mask=causal, key_padding_mask=padding)[0]
        return x + self.mlp(self.norm2(x))


class TextDecoder(nn.Module):
    def __init__(self, vocab: int = 1000, width: int = 64, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.zeros(1, 256, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(
        self,
        input_ids: torch.Tensor,
        past_key_values: object = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if past_key_values is not None:
            raise NotImplementedError("this example keeps no cache")
        x = self.tokens(input_ids) + self.positions[:, : input_ids.shape[1]]
        padding = None
        if attention_mask is not None and not attention_mask.all():
            padding = attention_mask == 0  # only a batch with padding needs it
        for block in self.blocks:
            x = block(x, padding)
        return self.head(x)


def build() -> nn.Module:
    return TextDecoder().eval()
