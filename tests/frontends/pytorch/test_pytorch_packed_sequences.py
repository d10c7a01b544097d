"""Packed sequences: ``pack_padded_sequence``, a recurrent layer on the packed rows,
``pad_packed_sequence`` (and ``pack_sequence``). Until 2026-12-05 every one was refused: an
RNN layer given a ``PackedSequence`` in one line, and lengths the forward computed as reading
tensor values."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from tests.autograd_reference import autograd_counts

_STEP = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}  # gates: MACs per row are gates * hidden * (in + hidden)


class _Packed(nn.Module):
    """``(T, B, 8)`` into a 16-wide recurrent layer through ``pack_padded_sequence`` with the
    lengths given, and back (``hx``: initial states handed to the layer)."""

    def __init__(self, layer: type[nn.Module], lengths: list[int], hx: bool = False) -> None:
        super().__init__()
        self.rnn, self.lengths, self.hx = layer(8, 16), lengths, hx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, self.lengths, enforce_sorted=False)
        if not self.hx:
            return pad_packed_sequence(self.rnn(packed)[0])[0]
        h = torch.zeros(1, x.shape[1], 16)
        out = self.rnn(packed, (h, h) if isinstance(self.rnn, nn.LSTM) else h)[0]
        return pad_packed_sequence(out)[0]


@pytest.mark.parametrize("hx", [False, True])
@pytest.mark.parametrize("layer", [nn.LSTM, nn.GRU, nn.RNN])
def test_lengths_with_values_pack_the_rows_torch_packs(layer: type[nn.Module], hx: bool) -> None:
    """Lengths 7, 3 and 5 of 7 steps: 15 rows, each one step of one sequence (MACs per row,
    not per padded step); torch's shapes at every step, whether the module runs the packed
    rows itself or hands them and the states to ``torch.lstm`` (``hx`` given)."""
    model = _Packed(layer, [7, 3, 5], hx).eval()
    graph = load_graph(model, (7, 3, 8))
    nodes = {n.op: n for n in graph.nodes[1:]}
    pack, pad = nodes["_pack_padded_sequence"], nodes["_pad_packed_sequence"]
    rnn = next(n for n in graph.nodes if n.name in ("rnn", f"rnn.{n.op}") and n.macs)
    assert pack.output_shape == (15, 8) and rnn.output_shape == (15, 16)
    assert rnn.macs == 15 * _STEP[layer] * 16 * (8 + 16) and rnn.params == sum(
        p.numel() for p in model.parameters()
    )
    assert [n.output_shape for n in graph.nodes if n.name.endswith("h_n")] == [(1, 3, 16)]
    with torch.no_grad():
        assert pad.output_shape == tuple(model(torch.randn(7, 3, 8)).shape) == (7, 3, 16)
    assert graph.uncounted == ()


class _Tagger(nn.Module):
    """Token ids, an embedding, lengths from the ids that are not padding (0), a packed GRU,
    a linear layer on the packed rows (``PackedSequence(fc(out.data), ...)``), padded back to
    the input's length."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.gru, self.fc = nn.Embedding(50, 8), nn.GRU(8, 16), nn.Linear(16, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != 0).sum(1)
        packed = pack_padded_sequence(self.emb(ids).transpose(0, 1), lengths, enforce_sorted=False)
        out = self.gru(packed)[0]
        out = out._replace(data=self.fc(out.data))
        return pad_packed_sequence(out, total_length=ids.shape[1])[0]


def test_lengths_the_forward_computes_are_taken_whole_and_said_so() -> None:
    """Lengths summed from a mask have no values in a trace: every sequence is taken at the
    padded length (4 sequences of 12 steps: 48 rows), torch's shapes for ids without padding,
    and a note that says so."""
    model = _Tagger().eval()
    summary = stridescope.summary(model, "4x12:int64")
    rows = {row.path: row for row in summary.layers}
    assert rows["gru"].output_shape == (48, 16) and rows["gru"].macs == 48 * 3 * 16 * 24
    assert rows["fc"].output_shape == (48, 5)
    with torch.no_grad():
        real = model(torch.randint(1, 50, (4, 12)))
    assert summary.layers[-1].output_shape == tuple(real.shape) == (12, 4, 5)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert any("padded length (12 steps)" in note for note in summary.notes)
    assert summary.totals.uncounted == ()


def test_an_input_of_lengths_is_taken_whole() -> None:
    """Lengths given as the forward's second input (``"2:int64"``): 2 sequences of 6 steps."""

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True, bidirectional=True, num_layers=2)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True)
            return pad_packed_sequence(self.lstm(packed)[0], batch_first=True)[0]

    summary = stridescope.summary(Encoder(), ["2x6x8", "2:int64"])
    lstm = next(row for row in summary.layers if row.path == "lstm")
    per_row = 2 * 4 * 16 * ((8 + 16) + (32 + 16))  # both directions, both layers
    assert lstm.output_shape == (12, 32) and lstm.macs == 12 * per_row
    assert summary.layers[-1].output_shape == (2, 6, 32)


def test_pack_sequence_of_slices() -> None:
    """``pack_sequence`` of two slices of the input (lengths from their shapes), its states
    batched as torch's, padded to the input's length."""

    class Slices(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(8, 16)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out, h = self.gru(pack_sequence([x[:5, 0], x[:3, 1]]))
            return pad_packed_sequence(out, total_length=x.shape[0])[0], h

    graph = load_graph(Slices(), (7, 2, 8))
    gru = next(n for n in graph.nodes if n.name == "gru")
    h_n = next(n for n in graph.nodes if n.name == "gru.h_n")
    assert gru.output_shape == (8, 16) and gru.macs == 8 * 3 * 16 * 24
    assert h_n.output_shape == (1, 2, 16)
    assert graph.nodes[-1].output_shape == (7, 2, 16)


@pytest.mark.parametrize(
    ("lengths", "total", "message"),
    [
        ([3, 7], None, "must be sorted in decreasing order"),
        ([7, 3], 2, "Expected total_length to be at least"),
        ([7, 0], None, "greater than 0"),
    ],
)
def test_torch_s_errors_stand(lengths: list[int], total: int | None, message: str) -> None:
    """Lengths torch refuses are refused with its words, in one line."""

    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(8, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.rnn(pack_padded_sequence(x, lengths))[0]
            return pad_packed_sequence(out, total_length=total)[0]

    with pytest.raises(StridescopeError, match=message) as error:
        load_graph(Bad(), (7, 2, 8))
    assert "\n" not in str(error.value)


class _OverTime(nn.Module):
    """A strided conv over a signal of one sequence, packed at its full length (``T, 1,
    C``), a recurrent layer, padded back, a 1x1 stride-2 conv over time."""

    def __init__(self, bidirectional: bool) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, stride=2)
        self.rnn = nn.GRU(4, 4, bidirectional=bidirectional)
        self.head = nn.Conv1d(8 if bidirectional else 4, 2, 1, stride=2)
        for p in self.parameters():  # positive weights: nothing cancels in the gradient
            nn.init.constant_(p, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.conv(x).permute(2, 0, 1)
        out = self.rnn(pack_padded_sequence(steps, [steps.shape[0]]))[0]
        return self.head(pad_packed_sequence(out)[0].permute(1, 2, 0))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_one_packed_sequence_keeps_its_time_axis(bidirectional: bool) -> None:
    """A batch of one packed at its full length is its steps in order: the time axis goes on
    through the packing, so the input coverage is the gradient's and the field the layer's."""
    model = _OverTime(bidirectional).eval()
    summary = stridescope.summary(model, input_shape=(1, 1, 64))
    counts = autograd_counts(model, 64)
    assert summary.input_coverage == float((counts > 0).mean()) == 63 / 64
    head = summary.layers[-1]
    x = torch.rand(1, 1, 64, requires_grad=True)
    y = model(x)
    (grad,) = torch.autograd.grad(y[0, :, y.shape[-1] // 2].sum(), x)
    read = torch.nonzero(grad[0, 0]).flatten()
    assert head.path == "head" and head.rf_size is not None
    assert int(read.max() - read.min()) + 1 <= head.rf_size[0]


_SPEECH = ["examples/speech_packed.py:build", "--input", "1x40x100", "--input", "1:int64"]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_the_speech_example_of_docs_sequences(fmt: str) -> None:
    """``examples/speech_packed.py`` as docs/sequences.md shows it: the packed LSTM's products
    on 50 frames, its field over them in milliseconds. With ``--sample-rate``, the row of the
    lengths input (a field over no axes) stopped the table, the JSON and the CSV with an
    ``IndexError`` until 2026-12-05."""
    from typer.testing import CliRunner

    from stridescope.cli import app

    args = ["summary", *_SPEECH, "--sample-rate", "100", "-f", fmt]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        data = json.loads(result.output)
        lstm = next(row for row in data["layers"] if row["path"] == "lstm")
        assert lstm["macs"] == 1_228_800
        assert lstm["receptive_field"] == {
            "size": [199],
            "jump": [2],
            "size_ms": 1990.0,
            "jump_ms": 20.0,
        }
        assert any("padded length (50 steps)" in note for note in data["notes"])
    elif fmt == "table":
        assert "receptive field 199 samples = 1,990 ms" in result.output
        assert "1,228,800" in result.output
