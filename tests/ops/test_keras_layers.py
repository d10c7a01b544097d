"""The Keras twins of the standalone blur and APS: the same numbers as the PyTorch modules,
in both data formats and 1-3 spatial axes; the IR they describe; save and load."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import torch

from stridescope.errors import StridescopeError
from stridescope.frontends import read_keras
from stridescope.ops.blurpool import Blur
from stridescope.ops.keras_layers import AdaptivePolyphase, BlurPool
from stridescope.ops.polyphase import polyphase_select

CASES = [
    (3, (2, 2), ((1, 1), (1, 1)), (7, 8)),
    (4, (2, 2), ((1, 2), (0, 3)), (8, 9)),
    (5, (3, 1), ((2, 2), (1, 3)), (10, 6)),
    (3, (2,), ((1, 1),), (11,)),
    (4, (2, 2, 2), ((1, 2), (1, 2), (0, 1)), (5, 6, 7)),
    ((3, 1), (2, 1), ((1, 1), (0, 0)), (7, 6)),
]


def _to_last(x: torch.Tensor) -> np.ndarray:
    return x.movedim(1, -1).numpy()


@pytest.mark.parametrize(("size", "strides", "padding", "spatial"), CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_blurpool_equals_the_torch_blur(
    size: int | tuple[int, ...],
    strides: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    spatial: tuple[int, ...],
    data_format: str,
) -> None:
    x = torch.randn(2, 3, *spatial)
    expected = Blur(3, size=size, stride=strides, rank=len(spatial), padding=padding)(x)
    layer = BlurPool(size=size, strides=strides, padding=padding, data_format=data_format)
    given = _to_last(x) if data_format == "channels_last" else x.numpy()
    out = keras.ops.convert_to_numpy(layer(given))
    if data_format == "channels_last":
        out = np.moveaxis(out, -1, 1)
    assert np.allclose(out, expected.numpy(), atol=1e-6)
    assert tuple(layer.compute_output_shape(given.shape)) == tuple(
        np.moveaxis(out, 1, -1).shape if data_format == "channels_last" else out.shape
    )
    assert layer.count_params() == 0


@pytest.mark.parametrize("spatial", [(6, 8), (7, 5), (1, 4)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_adaptive_polyphase_equals_polyphase_select(
    spatial: tuple[int, int], data_format: str
) -> None:
    x = torch.randn(5, 3, *spatial)
    expected = polyphase_select(x).numpy()
    layer = AdaptivePolyphase(data_format=data_format)
    given = _to_last(x) if data_format == "channels_last" else x.numpy()
    out = keras.ops.convert_to_numpy(layer(given))
    if data_format == "channels_last":
        out = np.moveaxis(out, -1, 1)
    assert np.array_equal(out, expected)


def test_blurpool_refuses_bad_configs_and_small_maps() -> None:
    with pytest.raises(StridescopeError, match="takes 3, 4 or 5 taps per axis"):
        BlurPool(size=7)
    with pytest.raises(StridescopeError, match="one \\(before, after\\) each"):
        BlurPool(strides=(2, 2), padding=((1, 1),))
    with pytest.raises(StridescopeError, match="needs an axis longer than 1"):
        BlurPool(padding=((1, 1), (1, 1)))(np.zeros((1, 1, 4, 2), "float32"))


def _model() -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = BlurPool(size=4, strides=(2, 2), padding=((1, 2), (1, 2)), name="blur")(x)
    x = AdaptivePolyphase(name="aps")(x)
    return keras.Model(inputs, x)


def test_the_reader_counts_them_exactly() -> None:
    graph = read_keras(_model())
    blur, aps = (n for n in graph.nodes if n.name in ("blur", "aps"))
    assert blur.kind == "conv" and blur.params == 0 and blur.groups == 4
    assert blur.window is not None and blur.window.pad_mode == "reflect"
    assert blur.output_shape == (1, 6, 6, 4) and blur.macs == 6 * 6 * 4 * 16
    assert aps.kind == "polyphase" and aps.output_shape == (1, 3, 3, 4)
    assert graph.uncounted == ()


def test_a_model_with_them_saves_and_loads_in_safe_mode(tmp_path: Path) -> None:
    model = _model()
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert np.allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )
    assert [type(layer) for layer in loaded.layers[2:]] == [BlurPool, AdaptivePolyphase]
