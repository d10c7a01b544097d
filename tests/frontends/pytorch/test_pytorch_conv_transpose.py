"""Transposed convolutions in the PyTorch tracer: shapes and parameters against torch, MACs
against FlopCounterMode, coverage against autograd, receptive field exact or unknown."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.geometry import ReceptiveField
from stridescope.ir import OpKind

torch.set_num_threads(1)

LAYERS = [
    nn.ConvTranspose2d(4, 6, 2, stride=2),
    nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
    nn.ConvTranspose2d(4, 8, (3, 2), stride=(1, 3), padding=(1, 0), dilation=(2, 1)),
    nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=False),
    nn.ConvTranspose1d(4, 3, 5, stride=3, padding=2, output_padding=2),
]


@pytest.mark.parametrize("layer", LAYERS, ids=[repr(m) for m in LAYERS])
def test_module_shape_params_and_macs_match_torch(layer: nn.Module) -> None:
    shape = (2, 4, 7) if isinstance(layer, nn.ConvTranspose1d) else (2, 4, 7, 5)
    graph = trace_torch(layer, shape)
    node = graph.output
    assert node.kind is OpKind.CONV_TRANSPOSE and not graph.uncounted
    with FlopCounterMode(display=False) as counter:
        out = layer(torch.zeros(shape))
    assert node.output_shape == tuple(out.shape)
    assert node.params == sum(p.numel() for p in layer.parameters())
    assert counter.get_total_flops() == 2 * node.macs


def test_functional_conv_transpose_is_counted() -> None:
    class Up(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(3, 5, 4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.conv_transpose2d(x, self.weight, stride=2, padding=1)

    graph = trace_torch(Up(), (1, 3, 6, 6))
    assert graph.output.output_shape == (1, 5, 12, 12) and not graph.uncounted
    assert graph.params == 3 * 5 * 16


@pytest.mark.parametrize(
    "layer",
    [
        nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1),
        nn.ConvTranspose2d(1, 1, (2, 3), stride=(3, 1), padding=(0, 2), dilation=(1, 2)),
    ],
)
def test_coverage_of_a_strided_conv_after_upsampling_matches_autograd(layer: nn.Module) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 1, 3, stride=3), layer, nn.Conv2d(1, 1, 1, stride=4))
    for p in net.parameters():
        nn.init.uniform_(p, 0.5, 1.0)  # positive: no cancellation in the gradient
    x = torch.zeros(1, 1, 23, 19, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None
    cov = coverage_map(trace_torch(net, (1, 1, 23, 19)))
    assert not cov.notes
    assert (cov.counts > 0).tolist() == (x.grad[0, 0] != 0).tolist()


def test_receptive_field_exact_at_stride_one_fractional_when_upsampling() -> None:
    same = trace_torch(nn.ConvTranspose2d(1, 1, 3, padding=1), (1, 1, 8, 8))
    rf = receptive_fields(same)[-1]
    assert rf == (ReceptiveField(3, 1, -1),) * 2  # the same field as a 3x3 'same' conv
    up = trace_torch(nn.ConvTranspose2d(1, 1, 2, stride=2), (1, 1, 8, 8))
    # each pair of outputs copies one input pixel: half a pixel apart (until 2026-12-06 None)
    half = ReceptiveField(1, Fraction(1, 2), 0, ((0, 1), (0, 1)))
    assert receptive_fields(up)[-1] == (half, half)
