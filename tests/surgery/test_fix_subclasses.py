"""``fix`` on layers whose class subclasses ``nn.Conv2d`` / ``nn.MaxPool2d`` with a forward of
its own (the patterns of timm's ``Conv2dSame``, ``StdConv2d`` and ``MaxPool2dSame``, written
here): the IR names their op ``<path>.conv2d``; each is swapped as a restrided copy of the
module, its forward kept (the padding it computes, the weight it standardises), with a crop
where that forward pads more than the plan. Each claim about the output at the start is
checked on the models' outputs, and each Δ against the fixed model's summary."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.surgery import fix
from tests.surgery.claims import assert_claim


def _same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'same': the padding the stride needs, the odd one after."""
    pads = []
    for size in reversed(x.shape[-2:]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class SameConv(nn.Conv2d):
    """Pads by its stride in forward, then a convolution without padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _same_pad(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class StdConv(nn.Conv2d):
    """Standardises its weight in forward, then convolves with its own padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class SamePool(nn.MaxPool2d):
    """Pads by its stride with -inf in forward, then a max pool without padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        assert isinstance(k, int) and isinstance(s, int)
        return F.max_pool2d(_same_pad(x, k, s, value=-math.inf), k, s)


class Net(nn.Module):
    """The layer on the input (whose statistics are the same everywhere, as the claims
    assume), then a 1x1 head."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.down = layer
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.down(x))


LAYERS = {
    "same_conv3x3": lambda: SameConv(8, 8, 3, stride=2),
    "same_depthwise5x5": lambda: SameConv(8, 8, 5, stride=2, groups=8),
    "std_conv3x3_pad1": lambda: StdConv(8, 8, 3, stride=2, padding=1),
    "std_conv1x1": lambda: StdConv(8, 8, 1, stride=2),
    "same_pool3x3": lambda: SamePool(3, 2),
}
# policy -> layers it leaves as they are (for the reason of a plain layer, or s2d's)
LEFT = {
    "blurpool": set(),
    "blurpool-first": set(),
    "aps": set(),
    "resnet-d": {"same_conv3x3", "same_depthwise5x5", "std_conv3x3_pad1", "same_pool3x3"},
    "s2d": set(LAYERS),
}


@pytest.mark.parametrize("size", [16, 15])
@pytest.mark.parametrize("policy", list(LEFT))
@pytest.mark.parametrize("layer", list(LAYERS))
def test_a_layer_with_its_own_forward_is_swapped_as_a_restrided_copy(
    layer: str, policy: str, size: int
) -> None:
    torch.manual_seed(0)
    model = Net(LAYERS[layer]()).eval()
    shape = (1, 8, size, size)
    fixed = fix(model, policy, input_shape=shape)
    if layer in LEFT[policy]:
        assert fixed.changes == () and len(fixed.unchanged) == 1
        assert "not a module path" not in fixed.unchanged[0].reason
        return
    (change,) = fixed.changes
    assert change.layer.startswith("down.") and not fixed.unchanged
    x = torch.randn(2, *shape[1:])
    with torch.no_grad():
        assert fixed.model(x).shape == model(x).shape
    if (layer, policy) != ("same_pool3x3", "aps"):  # (its map at stride 1 has an odd size:
        assert_claim(model, fixed.model, change.output_at_start, shape)  # APS keeps phase 0)
    copied = dict(fixed.model.down.named_parameters())
    for name, p in model.down.named_parameters():  # the module's own weights, as they were
        assert torch.equal(copied[f"conv.{name}"], p)
    before = stridescope.summary(model, shape).totals
    after = stridescope.summary(fixed.model, shape).totals
    assert fixed.delta_macs == after.macs - before.macs
    assert fixed.delta_params == after.params - before.params


def test_a_same_padded_conv_at_stride_1_is_cropped_to_the_plan() -> None:
    """A 'same' conv at stride 1 pads both sides; the plan keeps the stride-2 layer's padding
    (none before, one after on an even size), so the copy's first output is cropped."""
    torch.manual_seed(0)
    model = Net(SameConv(8, 8, 3, stride=2)).eval()
    fixed = fix(model, "blurpool", input_shape=(1, 8, 16, 16))
    parts = [name for name, _ in fixed.model.down.named_children()]
    assert parts == ["conv", "crop", "blur"]
    assert fixed.model.down.crop.padding == (-1, 0, -1, 0)
    assert fixed.model.down.conv.stride == (1, 1)
