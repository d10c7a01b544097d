"""Raw Keras operations no row of the reader knows (``keras.ops.image``'s blur, edges, colour
conversions and geometric transforms) are counted as the torch backend computes them: the
node's MACs are what the PyTorch tracer counts for the backend's torch code on the same
tensors (computed here by tracing that code directly), never uncounted; Keras's shape."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from stridescope.frontends.keras import read_keras
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind

_POINTS = np.array([[[0, 0], [7, 0], [7, 7], [0, 7]]], "float32")
_MOVED = np.array([[[1, 0], [7, 1], [6, 7], [0, 6]]], "float32")
_SHIFT = np.array([[1, 0, 1, 0, 1, 0, 0, 0]], "float32")
_TWICE, _NONE = np.array([2.0, 2.0], "float32"), np.array([0.0, 0.0], "float32")

# (the op on an (8, 8, 3) image, the backend function on the same (1, 8, 8, 3) tensor)
OPS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "gaussian_blur": (
        lambda ops, x: ops.image.gaussian_blur(x, (3, 3), (1.0, 1.0)),
        lambda image, x: image.gaussian_blur(x, (3, 3), (1.0, 1.0), "channels_last"),
    ),
    "sobel_edges": (
        lambda ops, x: ops.image.sobel_edges(x),
        lambda image, x: image.sobel_edges(x, "channels_last"),
    ),
    "rgb_to_hsv": (
        lambda ops, x: ops.image.rgb_to_hsv(x),
        lambda image, x: image.rgb_to_hsv(x, "channels_last"),
    ),
    "hsv_to_rgb": (
        lambda ops, x: ops.image.hsv_to_rgb(x),
        lambda image, x: image.hsv_to_rgb(x, "channels_last"),
    ),
    "affine_transform": (
        lambda ops, x: ops.image.affine_transform(x, _SHIFT),
        lambda image, x: image.affine_transform(
            x, torch.tensor(_SHIFT), data_format="channels_last"
        ),
    ),
    "perspective_transform": (
        lambda ops, x: ops.image.perspective_transform(x, _POINTS, _MOVED),
        lambda image, x: image.perspective_transform(
            x, torch.tensor(_POINTS), torch.tensor(_MOVED), data_format="channels_last"
        ),
    ),
    "scale_and_translate": (
        lambda ops, x: ops.image.scale_and_translate(
            x, (1, 16, 16, 3), _TWICE, _NONE, (1, 2), "bilinear"
        ),
        lambda image, x: image.scale_and_translate(
            x, (1, 16, 16, 3), torch.tensor(_TWICE), torch.tensor(_NONE), (1, 2), "bilinear"
        ),
    ),
    # written with Keras ops that call the backend's convolution (permute(dims=) among them)
    "ssim": (
        lambda ops, x: ops.image.ssim(x, x, filter_size=3),
        lambda image, x: _ssim(x, x, filter_size=3),
    ),
}


def _ssim(a: Any, b: Any, filter_size: int) -> Any:
    from keras.src.ops.image import _ssim as ssim

    return ssim(a, b, filter_size=filter_size)


class _Backend(nn.Module):
    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        from keras.src.backend.torch import image

        return self.fn(image, x)


@pytest.mark.parametrize("name", list(OPS))
def test_an_image_op_costs_what_its_backend_code_does(keras: ModuleType, name: str) -> None:
    op, backend = OPS[name]
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, op(keras.ops, x))
    graph = read_keras(model, (1, 8, 8, 3))
    node = graph.nodes[-1]
    expected = trace_torch(_Backend(backend), (1, 8, 8, 3)).macs
    assert not graph.uncounted, name
    assert node.kind is OpKind.MOVE and set(node.parents) == {0}, name  # reads it whole
    assert node.output_shape == (1, *model.output_shape[1:]), name
    assert node.macs == expected > 0, name


def test_layers_read_neither_by_a_row_nor_by_their_operations_cost_their_backend_code(
    keras: ModuleType,
) -> None:
    """A custom layer that loops (``ops.scan``, ``ops.fori_loop``: control flow the reader
    does not expand) and ``MelSpectrogram`` (no row) were one uncounted node each; each is
    now counted as the torch backend computes its ``call``, with Keras's shape."""
    layers, ops = keras.layers, keras.ops

    class RunningSum(layers.Layer):  # a cumulative sum over rows, by ops.scan
        def call(self, x: Any) -> Any:
            def step(carry: Any, row: Any) -> Any:
                return carry + row, carry

            return ops.scan(step, ops.zeros_like(x[:, 0]), ops.moveaxis(x, 1, 0))[0]

    class Relax(layers.Layer):  # three relaxation steps, by ops.fori_loop
        def call(self, x: Any) -> Any:
            return ops.fori_loop(0, 3, lambda i, v: v * 0.5 + x, x)

    image = keras.Input((16, 16, 3))
    for layer, macs in ((RunningSum(), 16 * 16 * 3), (Relax(), 3 * 2 * 16 * 16 * 3)):
        graph = read_keras(keras.Model(image, layer(image)), (1, 16, 16, 3))
        assert not graph.uncounted and graph.macs == macs, type(layer).__name__
    sound = keras.Input((16000,))
    mel = layers.MelSpectrogram(num_mel_bins=32, sampling_rate=16000, sequence_stride=160)
    model = keras.Model(sound, mel(sound))
    graph = read_keras(model, (1, 16000))
    node = graph.nodes[-1]
    assert not graph.uncounted and node.output_shape == (1, *model.output_shape[1:])
    spectrogram = trace_torch(_Call(mel), (1, 16000))
    assert node.macs == spectrogram.macs > 0


class _Call(nn.Module):
    def __init__(self, layer: Any) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> Any:
        return self.layer.call(x)
