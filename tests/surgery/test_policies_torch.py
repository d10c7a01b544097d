"""Every policy on every PyTorch layer kind: which layers it swaps, that the output shape
stays, that weights are copied bit for bit, that the blur is the binomial filter, and that
what it says about the output at the start holds numerically."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stridescope.ops.blurpool import Blur, binomial_kernel
from stridescope.ops.space_to_depth import SpaceToDepthConv
from stridescope.surgery import CHANGED, EXPECTATION, IDENTICAL, fix
from tests.surgery.claims import assert_claim

E, C, SAME, U = EXPECTATION, CHANGED, IDENTICAL, None  # U: left unchanged

LAYERS: dict[str, tuple[nn.Module, tuple[int, ...]]] = {
    "conv1x1_s2": (nn.Conv2d(8, 6, 1, stride=2), (1, 8, 9, 10)),
    "conv3x3_s2_pad1": (nn.Conv2d(8, 6, 3, stride=2, padding=1, bias=False), (1, 8, 9, 10)),
    "conv3x3_s2_valid": (nn.Conv2d(8, 6, 3, stride=2), (1, 8, 10, 9)),
    "depthwise3x3_s2_pad1": (nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), (1, 8, 9, 10)),
    "maxpool2": (nn.MaxPool2d(2), (1, 8, 10, 9)),
    "maxpool3_s2_pad1": (nn.MaxPool2d(3, 2, 1), (1, 8, 9, 10)),
    "conv1d_k1_s2": (nn.Conv1d(8, 6, 1, stride=2), (1, 8, 15)),
    "conv3d_k1_s2": (nn.Conv3d(4, 6, 1, stride=2), (1, 4, 5, 6, 7)),
    "conv1x1_s2x1": (nn.Conv2d(8, 6, 1, stride=(2, 1)), (1, 8, 9, 10)),
}

# policy -> the output-at-start class per layer (U: the policy leaves the layer as it is)
EXPECTED: dict[str, dict[str, str | None]] = {
    "blurpool": dict(zip(LAYERS, (E, C, E, C, E, C, E, E, E), strict=True)),
    "blurpool-first": dict(zip(LAYERS, (E, E, E, E, E, C, E, E, E), strict=True)),
    "resnet-d": dict(zip(LAYERS, (E, U, U, U, U, U, E, E, E), strict=True)),
    "s2d": dict(zip(LAYERS, (SAME, U, U, U, U, U, U, U, U), strict=True)),
    "aps": dict(zip(LAYERS, (C, C, C, C, C, C, U, U, U), strict=True)),
}
CASES = [(p, layer) for p, table in EXPECTED.items() for layer in table]


def _model(layer: str) -> tuple[nn.Sequential, tuple[int, ...]]:
    torch.manual_seed(0)
    module, shape = LAYERS[layer]
    fresh = type(module)(**_init_args(module))
    return nn.Sequential(fresh).eval(), shape


def _init_args(module: nn.Module) -> dict[str, object]:
    if isinstance(module, nn.MaxPool2d):
        return {
            "kernel_size": module.kernel_size,
            "stride": module.stride,
            "padding": module.padding,
        }
    conv = module
    assert isinstance(conv, nn.Conv1d | nn.Conv2d | nn.Conv3d)
    return {
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "groups": conv.groups,
        "bias": conv.bias is not None,
    }


@pytest.mark.parametrize(("policy", "layer"), CASES)
def test_policy_on_layer(policy: str, layer: str) -> None:
    model, shape = _model(layer)
    fixed = fix(model, policy, input_shape=shape)
    expected = EXPECTED[policy][layer]
    if expected is None:
        assert fixed.changes == () and len(fixed.unchanged) == 1
        assert fixed.unchanged[0].reason and fixed.unchanged[0].layer == "0"
        assert isinstance(fixed.model[0], type(model[0]))
        return
    (change,) = fixed.changes
    assert change.layer == "0" and change.output_at_start == expected
    x = torch.randn(2, *shape[1:])
    assert fixed.model(x).shape == model(x).shape
    assert_claim(model, fixed.model, expected, shape)
    _assert_weights_copied(model[0], fixed.model[0])
    _assert_blur_is_binomial(fixed.model[0], rank=len(shape) - 2)


def _assert_weights_copied(old: nn.Module, new: nn.Module) -> None:
    if not isinstance(old, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        assert sum(p.numel() for p in new.parameters()) == 0
        return
    if isinstance(new, SpaceToDepthConv):
        weight = new.conv.weight
        assert torch.equal(weight[:, 0::4], old.weight)
        assert not weight[:, 1::4].any() and not weight[:, 2::4].any() and not weight[:, 3::4].any()
        bias = new.conv.bias
    else:
        assert isinstance(new, nn.Sequential)
        conv = new.conv
        assert torch.equal(conv.weight, old.weight) and conv.weight is not old.weight
        bias = conv.bias
    assert (bias is None) == (old.bias is None)
    if bias is not None and old.bias is not None:
        assert torch.equal(bias, old.bias)


def _assert_blur_is_binomial(new: nn.Module, rank: int) -> None:
    for blur in (m for m in new.modules() if isinstance(m, Blur)):
        kernel = blur.kernel
        assert isinstance(kernel, torch.Tensor)
        expected = binomial_kernel(blur.size, rank)
        assert all(torch.equal(kernel[c, 0], expected) for c in range(kernel.shape[0]))


@pytest.mark.parametrize("size", [3, 4, 5])
def test_filter_size_sets_the_blur_and_keeps_the_shape(size: int) -> None:
    model, shape = _model("conv1x1_s2")
    fixed = fix(model, "blurpool", input_shape=shape, filter_size=size)
    blur = fixed.model[0].blur
    assert blur.size == (size, size) and blur.padding == (((size - 1) // 2, size // 2),) * 2
    x = torch.randn(2, *shape[1:])
    assert fixed.model(x).shape == model(x).shape
    assert f"blur {size}x{size} s2" in fixed.changes[0].after


def test_ceil_mode_pool_with_a_partial_window_stays_and_says_why() -> None:
    model = nn.Sequential(nn.MaxPool2d(2, 2, ceil_mode=True))
    odd = fix(model, "blurpool", input_shape=(1, 3, 9, 9))
    assert odd.changes == () and "partial window" in odd.unchanged[0].reason
    even = fix(model, "blurpool", input_shape=(1, 3, 8, 8))
    assert len(even.changes) == 1
    assert even.model(torch.randn(1, 3, 8, 8)).shape == (1, 3, 4, 4)


def test_a_map_too_small_for_reflect_padding_stays() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 2, stride=2))  # 2x2 -> 1x1 at stride 1
    fixed = fix(model, "blurpool", input_shape=(1, 3, 2, 2))
    assert fixed.changes == () and "too small for reflect padding" in fixed.unchanged[0].reason


@pytest.mark.parametrize("policy", ["blurpool", "blurpool-first"])
def test_an_axis_that_is_not_subsampled_is_not_blurred(policy: str) -> None:
    """A (2, 1) stride (CRNN-style pools): the blur filters the strided axis only."""
    model, shape = _model("conv1x1_s2x1")
    fixed = fix(model, policy, input_shape=shape)
    blur = fixed.model[0].blur
    assert blur.size == (3, 1) and blur.padding == ((1, 1), (0, 0))
    assert "blur 3x1 s2x1 reflect 1+1,0+0" in fixed.changes[0].after
    x = torch.zeros(1, blur.channels, *shape[2:])
    x[0, :, 4, 5] = 1.0  # an impulse stays on its column
    assert blur(x)[0, 0].abs().sum(dim=0).nonzero().flatten().tolist() == [5]
