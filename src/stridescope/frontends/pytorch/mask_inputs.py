"""A mask given as a further input, whose values the forward reads: taken as all ones.

Hugging Face's text models, given token ids and an ``attention_mask``, ask whether the mask
keeps every position (``padding_mask.all()``, ``mask.sum() == mask.numel()``, ``(mask ==
0).any()``) to pick their attention kernel, and DETR-style vision models take a ``pixel_mask``
beside the pixels. A trace follows shapes, not values, so such a read was refused. A further
input of an integer or bool dtype with the first input's shape (``(B, L)`` beside ids of
``(B, L)``), or, beside an input with spatial axes, that shape without its channel axis
(``(B, H, W)`` beside pixels of ``(B, C, H, W)``), is a mask over the first input's
positions: where the forward reads its values they are taken as all ones, the mask of a
batch without padding, and a note says so. Other further inputs (lengths, time steps) are
not: a read of theirs is still refused.

The value carries through what a forward does to the mask before the read (casts, views,
sums, comparisons: :mod:`.value_rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from stridescope.frontends.pytorch.known_values import remember
from stridescope.frontends.pytorch.proxy import ShapeProxy, integral

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["assume_masks"]


def assume_masks(
    tracer: Tracer, proxies: Sequence[ShapeProxy], keywords: Sequence[str | None] = ()
) -> None:
    """Take each further input that is a mask over the first's positions as all ones, where
    its values are read (a note then says so); ``keywords``: the inputs' names, where given
    by keyword."""
    first = proxies[0]
    # (pixels (B, C, H, W): a mask (B, H, W); ids (B, L) have no channel axis to drop)
    plain = first.dims[:1] + first.dims[2:] if len(first.dims) > 2 else first.dims
    for i, mask in enumerate(proxies[1:], 2):
        if (integral(mask.dtype) or mask.dtype is torch.bool) and mask.dims in (first.dims, plain):
            name = f" ({keywords[i - 1]})" if i <= len(keywords) and keywords[i - 1] else ""
            note = (
                f"the forward read the values of input {i}{name}, a mask over input 1's positions: "
                "taken as all ones, a mask that keeps every position (no padding)"
            )
            remember(tracer, mask.node, True if mask.dtype is torch.bool else 1, note=note)
