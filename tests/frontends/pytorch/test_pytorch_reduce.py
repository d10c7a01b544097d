"""Spatial and channel reductions (mean / sum / amax / amin / max / min) in the PyTorch tracer: shapes against
real torch, MACs against the convention, coverage and receptive field of a global pool."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import WHOLE, receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind

Fn = Callable[[torch.Tensor], torch.Tensor]

CASES: list[tuple[str, Fn]] = [
    ("mean_hw", lambda x: x.mean(dim=(2, 3))),
    ("mean_neg_keep", lambda x: x.mean((-2, -1), keepdim=True)),
    ("torch_mean", lambda x: torch.mean(x, dim=[2, 3])),
    ("sum_hw", lambda x: x.sum((2, 3))),
    ("amax_hw", lambda x: x.amax(dim=(2, 3), keepdim=True)),
    ("torch_amax", lambda x: torch.amax(x, (-1, -2))),
    ("mean_w", lambda x: x.mean(-1)),
    ("mean_c", lambda x: x.mean(1, keepdim=True)),
    ("sum_c", lambda x: x.sum(dim=1)),
    ("amax_c", lambda x: x.amax(1)),
    ("mean_all", lambda x: x.mean()),
    ("sum_all", lambda x: torch.sum(x)),
    ("max_c_values", lambda x: x.max(1).values),
    ("torch_max_c_keep", lambda x: torch.max(x, dim=1, keepdim=True)[0]),
    ("min_w", lambda x: x.min(-1)[0]),
    ("max_all", lambda x: x.max()),
    ("torch_min_all", lambda x: torch.min(x)),
    ("amin_hw", lambda x: torch.amin(x, (2, 3))),
]


class _Net(nn.Module):
    def __init__(self, fn: Fn) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.conv(x))


@pytest.mark.parametrize(("label", "fn"), CASES, ids=[c[0] for c in CASES])
def test_reduction_shapes_match_torch_and_are_counted(label: str, fn: Fn) -> None:
    net = _Net(fn)
    expected = tuple(net(torch.zeros(2, 3, 9, 7)).shape)
    graph = trace_torch(net, (2, 3, 9, 7))
    assert graph.output.output_shape == expected, label
    assert not graph.uncounted, label
    conv_out = 2 * 4 * 5 * 4
    reducing = [n for n in graph.nodes if n.name not in ("input", "conv")]
    assert sum(n.macs for n in reducing) == conv_out  # one MAC per element read


def test_global_mean_is_an_adaptive_pool_reading_every_position() -> None:
    net = _Net(lambda x: x.mean(dim=(2, 3)))
    graph = trace_torch(net, (1, 3, 8, 8))
    kinds = [n.kind for n in graph.nodes]
    assert OpKind.ADAPTIVE_AVGPOOL in kinds and kinds[-1] is OpKind.RESHAPE
    assert receptive_fields(graph)[-1] == WHOLE
    # the conv's coverage (stride 2, kernel 3, padding 1) is what the pool sees: every pixel
    cov = coverage_map(graph)
    assert cov.fraction == 1.0 and not cov.notes


def test_amax_over_one_spatial_axis_keeps_the_other_exact() -> None:
    graph = trace_torch(_Net(lambda x: x.amax(-1, keepdim=True)), (1, 3, 6, 6))
    pool = graph.output
    assert pool.kind is OpKind.ADAPTIVE_MAXPOOL and pool.output_shape == (1, 4, 3, 1)
    x = torch.zeros(1, 3, 6, 6, requires_grad=True)
    net = _Net(lambda x: x.mean(-1, keepdim=True))  # same reads as amax, dense gradient
    with torch.no_grad():
        net.conv.weight.fill_(1.0)
    net(x).sum().backward()
    assert x.grad is not None
    assert (coverage_map(graph).counts > 0).tolist() == (x.grad[0, 0] != 0).tolist()


def test_channel_mean_keeps_positions_for_coverage_and_rf() -> None:
    graph = trace_torch(_Net(lambda x: x.mean(1, keepdim=True)), (1, 3, 8, 8))
    assert graph.output.kind is OpKind.REDUCE
    fields = receptive_fields(graph)
    assert isinstance(fields[-1], tuple) and fields[-1] == fields[-2]
    assert coverage_map(graph).notes == ()


def test_flop_counter_agrees_on_the_conv_and_leaves_the_mean_to_our_convention() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    net = _Net(lambda x: x.mean(dim=(2, 3)))
    graph = trace_torch(net, (1, 3, 16, 16))
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 16, 16))
    conv = next(n for n in graph.nodes if n.kind is OpKind.CONV)
    assert counter.get_total_flops() == 2 * conv.macs  # torch counts no FLOPs for mean
    assert graph.macs - conv.macs == 4 * 8 * 8


def test_receptive_field_after_reductions_is_whole_or_unknown_never_wrong() -> None:
    everything = trace_torch(_Net(lambda x: x.mean()), (1, 3, 8, 8))
    assert receptive_fields(everything)[-1] == WHOLE
    squeezed = trace_torch(_Net(lambda x: x.sum(1)), (1, 3, 8, 8))  # (N, H, W): kept
    fields = receptive_fields(squeezed)
    assert squeezed.output.spatial_at == (1, 2) and fields[-1] == fields[-2]


class _Attention(nn.Module):
    """CBAM's spatial attention: channel max and mean, a 7x7 conv, a sigmoid gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        peak, where = torch.max(x, dim=1, keepdim=True)
        low = x.min(1, keepdim=True)
        pooled = torch.cat([peak, low.values + x.mean(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.gate(pooled)) + where.float()


def test_max_with_dim_gives_values_and_indices_like_torch_and_keeps_positions() -> None:
    net = _Attention()
    graph = trace_torch(net, (1, 3, 10, 8))
    assert graph.output.output_shape == tuple(net(torch.zeros(1, 3, 10, 8)).shape)
    assert not graph.uncounted
    named = {n.name: n for n in graph.nodes}
    at = {n.name: i for i, n in enumerate(graph.nodes)}
    assert named["max"].macs == named["min"].macs == 4 * 10 * 8  # one MAC per element read
    indices = named["max.indices"]
    assert indices.macs == 0 and indices.output_shape == (1, 1, 10, 8)
    fields = receptive_fields(graph)
    assert fields[at["max.indices"]] == fields[at["max"]] == fields[at["conv"]]
    assert coverage_map(graph).fraction == 1.0


def test_elementwise_max_of_two_tensors_costs_like_an_add() -> None:
    """``torch.max(a, b)`` and ``torch.maximum``: one MAC per output element, as Keras
    ``Maximum`` (an element-wise merge)."""
    for fn in (lambda x: torch.max(x, x.flip(-1)), lambda x: torch.minimum(x, x * 2)):
        graph = trace_torch(_Net(fn), (1, 3, 8, 8))
        assert not graph.uncounted
        assert graph.output.kind is OpKind.ADD and graph.output.macs == 4 * 4 * 4
