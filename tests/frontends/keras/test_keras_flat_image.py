"""A Keras model that makes its image from a flat input (``Input((784,))``, then
``Reshape((28, 28, 1))``, as MNIST examples fed from a CSV file do; a ``Rescaling`` first)
is read on that image, as the PyTorch front end reads ``x.view(-1, 1, 28, 28)``
(``tests/frontends/pytorch/test_pytorch_flat_image.py``, checked there against autograd):
until 2026-12-07 the coverage was an upper bound (92% where 84% is read) and with colour
planes the fields were unknown."""

from __future__ import annotations

from types import ModuleType

import pytest
from torch import nn

import stridescope


class _Image(nn.Module):
    """The same layers in PyTorch, given the image."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, 4, 5, stride=2)
        self.b = nn.Conv2d(4, 4, 3)

    def forward(self, x: object) -> object:
        return self.b(self.a(x))


@pytest.mark.parametrize(("channels", "scaled"), [(1, False), (1, True), (3, False)])
def test_a_flat_input_reshaped_into_an_image_is_read_as_that_image(
    keras: ModuleType, channels: int, scaled: bool
) -> None:
    layers = keras.layers
    x = keras.Input((144 * channels,))
    h = layers.Rescaling(1 / 255)(x) if scaled else x
    h = layers.Reshape((12, 12, channels), name="image")(h)
    h = layers.Conv2D(4, 5, strides=2)(h)
    model = keras.Model(x, layers.Conv2D(4, 3)(h))
    ours = stridescope.summary(model)
    theirs = stridescope.summary(_Image(channels), input_shape=(1, channels, 12, 12))
    assert ours.input_shape == (1, 12, 12, channels)
    assert ours.input_coverage == theirs.input_coverage == 11 * 11 / 144
    fields = [(r.rf_size, r.rf_jump) for r in ours.layers if r.kind == "conv"]
    assert fields == [(r.rf_size, r.rf_jump) for r in theirs.layers if r.kind == "conv"]
    assert fields == [((5, 5), (2, 2)), ((9, 9), (2, 2))]
    note = f"its forward views the (1, {144 * channels}) input as (1, 12, 12, {channels}) (image)"
    assert any(n.startswith(note) for n in ours.notes)
    assert (ours.totals.params, ours.totals.macs) == (model.count_params(), theirs.totals.macs)
