"""The 1-D read counts and mask against autograd: with all-ones weights and a summed output,
the gradient at each input index is the number of windows that read it (padding excluded)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings

from stridescope.geometry import (
    GeometryError,
    output_size,
    read_counts,
    read_fraction,
    read_mask,
    resolve_padding,
)
from tests.geometry.geometry_strategies import Axis, conv_axes, keras_axes, torch_pool_axes

torch.set_num_threads(1)


def _conv_grad(a: Axis) -> list[int]:
    before, after = resolve_padding(a.n, a.kernel, a.stride, a.dilation, a.padding)
    x = torch.ones(1, 1, a.n, requires_grad=True)
    y = F.conv1d(
        F.pad(x, (before, after)), torch.ones(1, 1, a.kernel), stride=a.stride, dilation=a.dilation
    )
    y.sum().backward()
    assert x.grad is not None
    return [round(float(g)) for g in x.grad.reshape(-1)]


@settings(max_examples=1000)
@given(conv_axes())
def test_read_counts_match_conv_autograd(a: Axis) -> None:
    try:
        counts = read_counts(a.n, a.kernel, a.stride, a.dilation, a.padding)
    except GeometryError:
        with pytest.raises(RuntimeError):
            _conv_grad(a)
        return
    assert counts == _conv_grad(a)
    mask = read_mask(a.n, a.kernel, a.stride, a.dilation, a.padding)
    assert mask == [c > 0 for c in counts]
    assert read_fraction(a.n, a.kernel, a.stride, a.dilation, a.padding) == sum(mask) / a.n


@settings(max_examples=600)
@given(torch_pool_axes(dilate=False))
def test_read_mask_matches_ceil_mode_pool_autograd(a: Axis) -> None:
    """avg_pool1d with ceil_mode: the partial last window reads what is left of the input."""
    try:
        mask = read_mask(a.n, a.kernel, a.stride, 1, a.padding, ceil_mode=True)
    except GeometryError:
        return
    x = torch.ones(1, 1, a.n, requires_grad=True)
    F.avg_pool1d(x, a.kernel, a.stride, a.padding, ceil_mode=True).sum().backward()
    assert x.grad is not None
    assert mask == [bool(g != 0) for g in x.grad.reshape(-1)]


@settings(max_examples=400)
@given(keras_axes())
def test_same_padding_split_matches_keras_autograd(a: Axis) -> None:
    """Keras 'same' puts the odd padding pixel at the end: the read counts of a Keras Conv1D
    (all-ones kernel) equal ours only with that split."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    assume(a.stride == 1 or a.dilation == 1)
    try:
        counts = read_counts(a.n, a.kernel, a.stride, a.dilation, a.padding)
        output_size(a.n, a.kernel, a.stride, a.dilation, a.padding)
    except GeometryError:
        return
    layer = keras.layers.Conv1D(
        1, a.kernel, strides=a.stride, dilation_rate=a.dilation, padding=a.padding, use_bias=False
    )
    layer.build((1, a.n, 1))
    layer.set_weights([torch.ones(a.kernel, 1, 1).numpy()])
    x = torch.ones(1, a.n, 1, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None
    assert counts == [round(float(g)) for g in x.grad.reshape(-1)]
