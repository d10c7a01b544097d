"""Rows of tensors whose values read no input (a mask made from a shape and filled by slice
assignment, as Swin's shifted-window attention mask is; ``ones_like``) say ``no input`` in the
RF column, where they said ``?`` (unknown); the ops that meet them keep the field of their
other inputs, as before."""

from __future__ import annotations

import torch
from torch import nn

import stridescope


class _Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x.new_zeros(1, 1, *x.shape[2:])
        mask[:, :, :2] = 1.0
        gate = mask.masked_fill(mask != 0, -100.0).exp()
        return self.conv(x) * gate + torch.ones_like(x)


def test_a_mask_made_from_a_shape_has_no_input_and_the_product_keeps_its_field() -> None:
    summary = stridescope.summary(_Masked(), (1, 1, 8, 8))
    rows = {r.path: r for r in summary.layers}
    free = [p for p, r in rows.items() if r.rf_note == "no input"]
    assert "new_zeros" in free and "masked_fill" in free and "ones_like" in free
    assert all(rows[p].rf_size is None for p in free)
    assert not [p for p, r in rows.items() if r.rf_note == "?"]
    assert (rows["mul"].rf_size, rows["add"].rf_size) == ((3, 3), (3, 3))
    table = stridescope.summary(_Masked(), (1, 1, 8, 8)).to_dict()["layers"]
    assert {r["path"]: r["receptive_field_note"] for r in table}["new_zeros"] == "no input"
