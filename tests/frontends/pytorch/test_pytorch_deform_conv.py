"""torchvision's ``deform_conv2d`` (``DeformConv2d``, DCNv1 and v2): a conv whose every tap is
a bilinear sample at an offset a conv before it predicts. It was an uncounted node (no MACs,
the receptive field '?' from there on); it is now read by name as ``nms`` and ``roi_align``
are: the conv's shape and MACs, 4 taps per sample (and one more where a mask scales it), its
weights counted, every input position read (the offsets are data)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.frontends.pytorch import trace_torch


def _deform_conv2d_op() -> Any:
    """torchvision's ``deform_conv2d`` as its C++ library defines it (schema and name), with a
    plain conv as its body: the tests do not import torchvision."""
    if not hasattr(torch.ops.torchvision, "deform_conv2d"):

        @torch.library.custom_op("torchvision::deform_conv2d", mutates_args=())
        def deform_conv2d(
            input: torch.Tensor,
            weight: torch.Tensor,
            offset: torch.Tensor,
            mask: torch.Tensor,
            bias: torch.Tensor,
            stride_h: int,
            stride_w: int,
            pad_h: int,
            pad_w: int,
            dil_h: int,
            dil_w: int,
            n_weight_grps: int,
            n_offset_grps: int,
            use_mask: bool,
        ) -> torch.Tensor:
            stride, pad, dil = (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w)
            return F.conv2d(input, weight, bias, stride, pad, dil, n_weight_grps)

        @deform_conv2d.register_fake
        def _(input: torch.Tensor, weight: torch.Tensor, *args: Any) -> torch.Tensor:
            sh, sw, ph, pw, dh, dw, groups = args[3:10]  # (torch's conv sizes it)
            return F.conv2d(input, weight, None, (sh, sw), (ph, pw), (dh, dw), groups)

    return torch.ops.torchvision.deform_conv2d


class DeformBlock(nn.Module):
    """``torchvision.ops.DeformConv2d``'s call, written out: offsets (and a mask) from a conv."""

    def __init__(self, mask: bool, stride: int) -> None:
        super().__init__()
        self.mask = mask
        self.offset = nn.Conv2d(4, 2 * 9 + (9 if mask else 0), 3, stride=stride, padding=1)
        self.weight = nn.Parameter(torch.randn(8, 2, 3, 3))  # (two groups)
        self.bias = nn.Parameter(torch.zeros(8))
        self.op = _deform_conv2d_op()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        predicted = self.offset(x)
        offset, mask = predicted[:, :18], predicted[:, 18:].sigmoid()
        if not self.mask:
            mask = x.new_zeros(0)
        s = self.offset.stride
        return self.op(x, self.weight, offset, mask, self.bias, *s, 1, 1, 1, 1, 2, 1, self.mask)


@pytest.mark.parametrize(("mask", "stride"), [(False, 1), (True, 1), (True, 2)])
def test_a_deformable_conv_is_counted(mask: bool, stride: int) -> None:
    model = DeformBlock(mask, stride)
    shape = (1, 4, 10, 12)
    out = model(torch.randn(shape))
    graph = trace_torch(model, shape)
    assert not graph.uncounted
    assert graph.output.output_shape == tuple(out.shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    node = next(n for n in graph.nodes if n.op == "torchvision::deform_conv2d")
    h, w = out.shape[2:]
    samples = 4 * 9 * h * w  # (C_in · kh · kw per output position)
    assert node.macs == out.numel() * 2 * 9 + samples * (4 + mask)
