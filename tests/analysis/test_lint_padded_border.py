"""DS201 after an explicit pad: a window that never reads a row the pad added drops nothing
(timm's BlurPool pads by reflection, then blurs unpadded at stride 2; BiT pads with
``ConstantPad2d`` before an unpadded max pool): linted as the same window with the padding
inside it. A window that misses real rows after the pad is still flagged, in rows of the
tensor before the pad."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn


class _PadThenWindow(nn.Module):
    def __init__(self, how: str, stride: int = 2) -> None:
        super().__init__()
        self.how, self.stride = how, stride
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        blur = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("blur", (blur.outer(blur) / 16).expand(4, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, s = self.conv(x), self.stride
        if self.how == "inside":
            return F.conv2d(x, self.blur, stride=s, padding=1, groups=4)
        if self.how == "maxpool":
            return F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, s)
        mode = "reflect" if self.how == "reflect" else "constant"
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), self.blur, stride=s, groups=4)


def _lint(model: nn.Module) -> dict[str, list[str]]:
    from stridescope import api

    found: dict[str, list[str]] = {}
    for f in api.lint(model, (1, 3, 32, 32)).findings:
        found.setdefault(f.code, []).append(f.message)
    return found


@pytest.mark.parametrize("how", ["reflect", "zeros", "maxpool"])
def test_a_window_that_skips_only_padded_rows_drops_no_border(how: str) -> None:
    padded = _lint(_PadThenWindow(how))
    assert "DS201" not in padded
    if how != "maxpool":
        assert padded.keys() == _lint(_PadThenWindow("inside")).keys()


def test_real_rows_a_window_misses_after_a_pad_are_flagged_in_unpadded_rows() -> None:
    found = _lint(_PadThenWindow("zeros", stride=4))
    (message,) = found["DS201"]
    assert message == "never reads the last 2 rows and the last 2 columns of its 32x32 input"
    model = _PadThenWindow("zeros", stride=4).eval()
    seen: list[torch.Tensor] = []  # the window's input: the conv's output, before the pad
    model.conv.register_forward_hook(lambda m, i, out: out.retain_grad() or seen.append(out))
    model(torch.rand(1, 3, 32, 32)).sum().backward()
    grad = seen[0].grad
    assert grad is not None
    read = grad[0].abs().sum(0) != 0
    assert not read[30:].any() and not read[:, 30:].any() and read[29].any()
