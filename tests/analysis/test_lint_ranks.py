"""lint's rules on signals and volumes: the same findings as on images, in samples and
voxels (DS101 on a 1-tap stride-2 Conv1d, DS202, DS301, DS401, DS501)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stridescope import api


class Shortcuts1d(nn.Module):
    """A 3-tap stride-2 pad-1 main path against a ResNet-D average-pool shortcut: the grids
    are half a sample apart (DS301)."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Conv1d(4, 4, 3, stride=2, padding=1)
        self.pool = nn.AvgPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.pool(x)


@pytest.mark.parametrize(
    ("model", "shape", "read"),
    [
        (nn.Conv1d(2, 4, 1, stride=2), (1, 2, 64), 0.5),
        (nn.Conv3d(2, 4, 1, stride=2), (1, 2, 8, 16, 16), 0.125),
        (nn.Conv3d(2, 4, 1, stride=(1, 2, 2)), (1, 2, 8, 16, 16), 0.25),
    ],
)
def test_a_1_tap_strided_conv_skips_input_in_every_rank(
    model: nn.Module, shape: tuple[int, ...], read: float
) -> None:
    report = api.lint(model, shape)
    codes = {f.code: f for f in report.findings}
    assert codes["DS101"].evidence["read_fraction"] == pytest.approx(read)
    assert codes["DS101"].policy == "resnet-d"
    unread = codes["DS202"]
    assert unread.evidence["unread_positions"] == round((1 - read) * torch.Size(shape[2:]).numel())
    word = "samples" if len(shape) == 3 else "voxels"
    assert f"input {word}" in unread.message and "pixel" not in unread.message
    assert "DS401" in codes  # a stride with no low-pass before it


def test_misaligned_1d_merges_and_short_fields_speak_in_samples() -> None:
    report = api.lint(Shortcuts1d(), (1, 4, 32))
    (merge,) = [f for f in report.findings if f.code == "DS301"]
    assert "0.5 samples apart" in merge.message
    short = api.lint(nn.Conv1d(1, 4, 10, stride=5), (1, 1, 400))
    (field,) = [f for f in short.findings if f.code == "DS501"]
    assert field.message.endswith("sees at most 10 of the 400 input samples")


def test_a_keras_signal_model_is_linted_like_its_torch_twin() -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((64, 2)), keras.layers.Conv1D(4, 1, strides=2)])
    codes = {f.code for f in api.lint(model).findings}
    torch_codes = {f.code for f in api.lint(nn.Conv1d(2, 4, 1, stride=2), (1, 2, 64)).findings}
    assert codes == torch_codes >= {"DS101", "DS202", "DS401"}
