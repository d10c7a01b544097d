"""A speech encoder over log-mel frames of variable length (as DeepSpeech2 and listen-attend-
spell encoders run them): a stride-2 conv front end, then a bidirectional LSTM over the
frames packed by their lengths (``pack_padded_sequence``), padded back
(``pad_packed_sequence``), and a linear layer to 29 characters. Inputs: 40 mel bands of 100
frames (10 ms each, so 100 Hz), ``(N, 40, T)``, and the frame count of each utterance, ``(N,)``
int64.

The lengths are the forward's second input, so a trace has no values for them: every
utterance is taken at the padded length, the most the layers after it can do, and the summary
says so in a note.

stridescope summary examples/speech_packed.py:build --input 1x40x100 --input 1:int64 --sample-rate 100
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Encoder(nn.Module):
    def __init__(self, mels: int = 40, hidden: int = 32, characters: int = 29) -> None:
        super().__init__()
        self.conv = nn.Conv1d(mels, 2 * hidden, 3, stride=2, padding=1)
        self.lstm = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, characters)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        frames = self.conv(x).transpose(1, 2)  # (N, T/2, 2 * hidden)
        lengths = (lengths + 1) // 2  # the frames left after the stride
        packed = pack_padded_sequence(frames, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=frames.shape[1])
        return self.fc(out)


def build() -> nn.Module:
    return Encoder().eval()
