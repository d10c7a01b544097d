"""Recurrent layers in the PyTorch tracer: torch's output and state shapes, every parameter,
and MACs equal to ``FlopCounterMode`` / 2 where it sees the products (``nn.RNN``, ``nn.GRU``;
for the fused ``nn.LSTM`` it counts 0) and to the gate formula everywhere."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends.pytorch import trace_torch


class _Sequence(nn.Module):
    """A conv stem, its width as the sequence, then ``rnn``; returns every output."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, (8, 1), stride=(8, 1))  # (N, 4, 1, W)
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        seq = self.conv(x).flatten(1, 2)  # (N, 4, W)
        seq = (
            seq.transpose(1, 2) if getattr(self.rnn, "batch_first", False) else seq.permute(2, 0, 1)
        )
        out, state = self.rnn(seq)
        states = state if isinstance(state, tuple) else (state,)
        return (out, *states)


CASES = [
    nn.RNN(4, 6),
    nn.GRU(4, 6, num_layers=2, batch_first=True),
    nn.GRU(4, 5, bidirectional=True),
    nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True),
    nn.LSTM(4, 6, proj_size=3),
]


@pytest.mark.parametrize("rnn", CASES, ids=[repr(c) for c in CASES])
def test_recurrent_layers_match_torch(rnn: nn.Module) -> None:
    module = _Sequence(rnn).eval()
    shape = (2, 3, 8, 7)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = module(torch.rand(shape))
    graph = trace_torch(module, shape)
    assert not graph.uncounted
    assert graph.params == sum(p.numel() for p in module.parameters())
    node = next(n for n in graph.nodes if n.name == "rnn")
    assert node.output_shape == tuple(outputs[0].shape)
    states = [n.output_shape for n in graph.nodes if n.name.startswith("rnn.")]
    assert states == [tuple(o.shape) for o in outputs[1:]]
    conv = next(n for n in graph.nodes if n.name == "conv")
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[type(rnn).__name__]
    d, hidden, proj = 1 + rnn.bidirectional, rnn.hidden_size, getattr(rnn, "proj_size", 0)
    out = proj or hidden
    formula = sum(
        d * 7 * 2 * (gates * hidden * ((4 if k == 0 else d * out) + out) + hidden * proj)
        for k in range(rnn.num_layers)
    )
    assert node.macs == formula
    if gates != 4:
        assert 2 * (conv.macs + node.macs) == counter.get_total_flops()
