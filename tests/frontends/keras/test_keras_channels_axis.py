"""A Keras spectrogram front end: ``(N, T, F)`` (time steps, features as channels) made
``(N, T, F, 1)`` by ``Reshape`` for ``Conv2D`` layers. The features' axis is one a window
slides along, but no input position; the fields are on ``T``, as the PyTorch front end's are
on its input's own axis (``tests/analysis/test_summary_rf_channels_axis.py``, checked there
against autograd): until 2026-12-07 they were unknown (``?``) from the first ``Conv2D`` on."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

import stridescope


class _Spectrogram(nn.Module):
    """The same layers in PyTorch, on ``(N, F, T)``: its fields are on ``T``, the last axis."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, 2)
        self.b = nn.Conv2d(4, 4, 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x.unsqueeze(1)))


def test_fields_after_a_reshape_of_the_features_into_an_axis(keras: ModuleType) -> None:
    layers = keras.layers
    x = keras.Input((50, 40))
    h = layers.Reshape((50, 40, 1))(x)
    h = layers.Conv2D(4, 3, strides=2)(h)
    model = keras.Model(x, layers.Conv2D(4, 3, strides=2)(h))
    ours = stridescope.summary(model)
    theirs = stridescope.summary(_Spectrogram(), input_shape=(1, 40, 50))
    fields = [(r.rf_size, r.rf_jump, r.rf_note) for r in ours.layers if r.kind == "conv"]
    assert fields == [((3,), (2,), ""), ((7,), (4,), "")]
    assert fields == [(r.rf_size, r.rf_jump, r.rf_note) for r in theirs.layers if r.kind == "conv"]
    # 47 of the 50 time steps reach the output (each conv drops the last: 49, then 47)
    assert ours.input_coverage == theirs.input_coverage == 47 / 50
