"""Recurrent layers in the PyTorch tracer: torch's output and state shapes, every parameter,
and MACs equal to ``FlopCounterMode`` / 2 where it sees the products (``nn.RNN``, ``nn.GRU``;
for the fused ``nn.LSTM`` it counts 0) and to the gate formula everywhere."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_counts


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


class _OverTime(nn.Module):
    """A strided conv over a signal, a recurrent layer along its time axis (permuted to the
    front, as speech and OCR models do), then a 1x1 stride-2 conv over time again."""

    def __init__(self, rnn: nn.Module, width: int) -> None:
        super().__init__()
        self.conv, self.rnn = nn.Conv1d(1, 4, 3, stride=2), rnn
        self.head = nn.Conv1d(width, 2, 1, stride=2)
        for p in self.parameters():  # positive weights: nothing cancels in the gradient
            nn.init.constant_(p, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(self.conv(x).permute(2, 0, 1))[0]
        return self.head(out.permute(1, 2, 0))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU, nn.RNN])
def test_a_sequence_along_a_spatial_axis_mixes_its_positions(
    layer: type[nn.Module], bidirectional: bool
) -> None:
    """Each step reads every earlier one (every one, both ways): the input coverage and the
    receptive field see it, where they kept each position to itself (the 1x1 stride-2 head
    then read 3 samples of 4: 75% coverage, a 7-sample field)."""
    model = _OverTime(layer(4, 4, bidirectional=bidirectional), 8 if bidirectional else 4)
    summary = stridescope.summary(model.eval(), input_shape=(1, 1, 64))
    counts = autograd_counts(model, 64)
    assert summary.input_coverage == float((counts > 0).mean()) == 63 / 64
    head = summary.layers[-1]
    assert head.path == "head" and head.rf_size is not None
    x = torch.rand(1, 1, 64, requires_grad=True)
    y = model(x)
    (grad,) = torch.autograd.grad(y[0, :, y.shape[-1] // 2].sum(), x)
    read = torch.nonzero(grad[0, 0]).flatten()
    assert int(read.max() - read.min()) + 1 <= head.rf_size[0]
    assert int(read.min()) == 0  # the centre output reads from the very first sample


class _Decoder(nn.Module):
    """A cell run step by step (a decoder's loop), its states started from zeros the forward
    makes, or from the encoder's last state."""

    def __init__(self, cell: nn.Module, from_input: bool) -> None:
        super().__init__()
        self.cell, self.from_input = cell, from_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h: Any = x[0] if self.from_input else None
        if isinstance(self.cell, nn.LSTMCell) and h is not None:
            h = (h, h)
        outs = []
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
            outs.append(h[0] if isinstance(h, tuple) else h)
        return torch.stack(outs)


@pytest.mark.parametrize("from_input", [False, True])
@pytest.mark.parametrize("cell", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_a_cell_run_step_by_step_is_counted(cell: type[nn.Module], from_input: bool) -> None:
    """``nn.LSTMCell``, ``GRUCell``, ``RNNCell``: each step one product node, the products
    ``FlopCounterMode`` counts (torch runs them as matrix products), the weights counted
    once. Until 2026-12-05 each step was an uncounted node."""
    model = _Decoder(cell(8, 8), from_input).eval()
    graph = load_graph(model, (5, 2, 8))
    steps = [n for n in graph.nodes if n.macs and n.kind.value == "matmul"]
    gates = {nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}[cell]
    assert len(steps) == 5 and {n.macs for n in steps} == {2 * gates * 8 * 16}
    assert graph.uncounted == () and graph.params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        real = model(torch.randn(5, 2, 8))
    assert 2 * graph.macs == counter.get_total_flops()
    assert graph.nodes[-1].output_shape == tuple(real.shape)
