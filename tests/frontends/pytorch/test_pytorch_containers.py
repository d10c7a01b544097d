"""nn.Sequential's own forward is followed layer by layer; a subclass or an instance that
brings its own forward is traced through that forward instead."""

from __future__ import annotations

import torch
from torch import nn

from stridescope.frontends.pytorch import trace_torch


class _Doubles(nn.Sequential):
    """A Sequential subclass whose forward runs its layers twice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(layer(x))
        return x


def test_sequential_layers_are_named_by_their_paths() -> None:
    net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), nn.Flatten())
    graph = trace_torch(net, (1, 3, 4, 4))
    assert [n.name for n in graph.nodes[1:]] == ["0.0", "0.1", "1"]


def test_a_subclass_forward_is_traced_not_the_sequential_one() -> None:
    graph = trace_torch(_Doubles(nn.Conv2d(3, 3, 1), nn.ReLU()), (1, 3, 4, 4))
    assert [n.name for n in graph.nodes[1:]] == ["0", "0_1", "1", "1_1"]


def test_a_forward_set_on_the_instance_is_traced() -> None:
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    net.forward = lambda x: net[1](net[0](net[0](x)))  # type: ignore[method-assign]
    graph = trace_torch(net, (1, 3, 4, 4))
    assert [n.name for n in graph.nodes[1:]] == ["0", "0_1", "1"]
    assert graph.output.output_shape == tuple(net(torch.rand(1, 3, 4, 4)).shape)
