"""transposed_output_size against torch's conv_transpose1d/2d (tiny CPU tensors; meta skips the output_padding check) and Keras'
Conv2DTranspose.compute_output_shape; errors name every input."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import GeometryError, keras_transposed_padding, transposed_output_size

torch.set_num_threads(1)

configs = st.tuples(
    st.integers(1, 12),  # n
    st.integers(1, 6),  # kernel
    st.integers(1, 4),  # stride
    st.integers(1, 3),  # dilation
    st.integers(0, 4),  # padding
    st.integers(0, 3),  # output_padding
)


def _torch_size(n: int, k: int, s: int, d: int, p: int, op: int, rank: int) -> int | None:
    x = torch.empty(
        1,
        1,
        *(n,) * rank,
    )
    w = torch.empty(
        1,
        1,
        *(k,) * rank,
    )
    conv = F.conv_transpose1d if rank == 1 else F.conv_transpose2d
    try:
        out = conv(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    except RuntimeError:
        return None
    sizes = set(out.shape[2:])
    assert len(sizes) == 1
    return int(sizes.pop())


def _ours(n: int, k: int, s: int, d: int, p: int, op: int) -> int | None:
    try:
        return transposed_output_size(n, k, s, d, p, op)
    except GeometryError:
        return None


@settings(max_examples=1000, deadline=None)
@given(configs)
def test_matches_torch_conv_transpose1d(config: tuple[int, int, int, int, int, int]) -> None:
    assert _ours(*config) == _torch_size(*config, rank=1)


@settings(max_examples=300, deadline=None)
@given(configs)
def test_matches_torch_conv_transpose2d(config: tuple[int, int, int, int, int, int]) -> None:
    assert _ours(*config) == _torch_size(*config, rank=2)


def test_asymmetric_padding_is_a_crop_of_the_unpadded_output() -> None:
    full = transposed_output_size(6, 4, 2)
    assert full is not None
    assert transposed_output_size(6, 4, 2, padding=(1, 2)) == full - 3


def test_errors_name_every_input() -> None:
    with pytest.raises(GeometryError) as caught:
        transposed_output_size(4, 3, stride=2, dilation=1, padding=1, output_padding=2)
    text = str(caught.value)
    for part in ("input=4", "kernel=3", "stride=2", "dilation=1", "padding=1", "output_padding=2"):
        assert part in text
    with pytest.raises(GeometryError, match="padding must not be negative"):
        transposed_output_size(4, 3, padding=(-1, 0))
    with pytest.raises(GeometryError, match="kernel must be a positive integer"):
        transposed_output_size(4, 0)
    assert transposed_output_size(None, 3, 2) is None


@pytest.fixture(scope="module")
def keras_layers() -> object:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras.layers


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_matches_keras_conv2d_transpose(keras_layers: object, padding: str) -> None:
    checked = 0
    for k in range(1, 6):
        for s, d in ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3)):
            for op in (None, 0, 1, 2):
                try:
                    layer = keras_layers.Conv2DTranspose(  # type: ignore[attr-defined]
                        1, k, strides=s, dilation_rate=d, padding=padding, output_padding=op
                    )
                except ValueError:
                    layer = None
                for n in (1, 3, 8):
                    ref = None if layer is None else layer.compute_output_shape((1, n, n, 1))[1]
                    try:
                        pads, extra = keras_transposed_padding(k, s, d, padding, op)
                        ours = transposed_output_size(n, k, s, d, pads, extra)
                    except GeometryError:
                        ours = None
                    if ref is not None and ref < 1:
                        ref = None  # Keras allows an empty output; geometry refuses it
                    assert ours == ref, (k, s, d, padding, op, n)
                    checked += ref is not None
    assert checked > 150
