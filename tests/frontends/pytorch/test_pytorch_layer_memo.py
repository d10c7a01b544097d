"""The module handlers' memo of layer configurations (``handlers.modules._MADE``): a layer
configured and fed as one before is made from the memo, with the same node as the full
handler makes, its own parameters counted once, and every change of configuration seen."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import trace_torch
from stridescope.frontends.pytorch.handlers import modules
from stridescope.ir import Graph


class Repeats(nn.Module):
    """The same configurations several times, with and without bias, and one layer twice."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(8, 8, 3, padding=1, bias=i % 2 == 0) for i in range(4)]
        )
        self.depthwise = nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8, padding_mode="reflect")
        self.norms = nn.ModuleList([nn.BatchNorm2d(8) for _ in range(4)])
        self.linears = nn.ModuleList([nn.Linear(8, 8, bias=i == 0) for i in range(3)])
        self.shared = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm(conv(x))
        x = self.shared(self.shared(self.depthwise(x)))
        x = x.permute(0, 2, 3, 1)
        for linear in self.linears:
            x = linear(x)
        return x


def _fields(graph: Graph) -> list[dict[str, object]]:
    return [dataclasses.asdict(n) for n in graph.nodes]


def test_nodes_from_the_memo_equal_the_handlers_own() -> None:
    """With the memo emptied before each trace every node is made by the full handler; with
    it full (the second trace, and repeats within one) the nodes are the same, field by field,
    and the parameters equal torch's count (the shared layer's once)."""
    net = Repeats()
    modules._MADE.clear()
    fresh = trace_torch(net, (1, 8, 16, 16))
    assert modules._MADE  # the configurations were remembered
    again = trace_torch(net, (1, 8, 16, 16))
    assert _fields(again) == _fields(fresh)
    assert again.params == sum(p.numel() for p in net.parameters())
    shared = [n for n in again.nodes if n.name.startswith("shared")]
    assert [n.params for n in shared] == [8 * 8 + 8, 0]


def test_a_changed_configuration_is_seen() -> None:
    """Attributes set after a trace (what surgery does) change the node: stride, padding,
    padding mode and groups are part of the configuration."""
    net = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
    before = trace_torch(net, (1, 4, 16, 16))
    assert before.nodes[1].output_shape == (1, 4, 16, 16)
    net[0].stride = (2, 2)
    after = trace_torch(net, (1, 4, 16, 16))
    assert after.nodes[1].output_shape == (1, 4, 8, 8)
    assert after.nodes[1].window is not None and after.nodes[1].window.stride == (2, 2)
    net[0].padding = [2, 2]  # a list (unhashable): traced without the memo
    assert trace_torch(net, (1, 4, 16, 16)).nodes[1].output_shape == (1, 4, 9, 9)
    net[0].padding = (1, 1)
    net[0].padding_mode = "circular"
    circular = trace_torch(net, (1, 4, 16, 16))
    assert circular.nodes[1].window is not None
    assert circular.nodes[1].window.pad_mode == "circular"


def test_a_layer_fed_a_wrong_input_still_fails_after_right_ones() -> None:
    """The memo is keyed on the input's shape: a conv that traced on 3 channels still refuses
    4, a norm its wrong channel count, with torch's one-line message."""
    conv = nn.Sequential(nn.Conv2d(3, 8, 3))
    trace_torch(conv, (1, 3, 16, 16))
    with pytest.raises(StridescopeError, match="C=3"):
        trace_torch(conv, (1, 4, 16, 16))
    norm = nn.Sequential(nn.BatchNorm2d(3))
    trace_torch(norm, (1, 3, 8, 8))
    with pytest.raises(StridescopeError, match="C=3"):
        trace_torch(norm, (1, 5, 8, 8))
