"""Models that take several inputs (a PyTorch forward with several tensors, a Keras model with
several ``keras.Input``): one shape each (``--input`` repeated), an input node per shape,
coverage and the receptive field measured on the first input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from stridescope.analysis.coverage import coverage_map
from stridescope.api import summary
from stridescope.cli import app
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind

runner = CliRunner()

STEREO = '''
import torch
from torch import nn


class Stereo(nn.Module):
    """Left and right images through a shared 1x1 stride-2 conv, then a fused 3x3 conv."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 1, stride=2)
        self.fuse = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, left, right):
        return self.fuse(torch.cat([self.down(left), self.down(right)], dim=1))


def build():
    return Stereo()
'''


class _Guided(nn.Module):
    """An image and a smaller guide map: the guide is upsampled and multiplies the image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(guide, scale_factor=2)
        return self.conv(image) * up


def test_each_input_gets_a_node_and_torch_shapes() -> None:
    net = _Guided()
    graph = trace_torch(net, [(2, 3, 8, 6), (2, 1, 4, 3)])
    inputs = [n for n in graph.nodes if n.kind is OpKind.INPUT]
    assert [n.output_shape for n in inputs] == [(2, 3, 8, 6), (2, 1, 4, 3)]
    expected = net(torch.rand(2, 3, 8, 6), torch.rand(2, 1, 4, 3)).shape
    assert graph.output.output_shape == tuple(expected)
    assert graph.params == sum(p.numel() for p in net.parameters())
    assert any("2 inputs" in note for note in graph.notes)
    assert graph.activation_bytes == sum(
        n.activation_bytes for n in graph.nodes if n.kind is not OpKind.INPUT
    )
    assert coverage_map(graph).input_spatial == (8, 6)  # the first input's map


def test_summary_and_coverage_from_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "stereo.py"
    target.write_text(STEREO, encoding="utf-8")
    args = ["summary", f"{target}:build", "--input", "1x3x16x16", "--input", "1x3x16x16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "note: 2 inputs: input coverage and the receptive field are measured on the first" in (
        result.output
    )
    assert "input coverage: 25% of the 16x16 input pixels" in result.output
    assert summary(f"{target}:build", ["1x3x16x16", "1x3x16x16"]).totals.params == 32 + 580
    one = runner.invoke(app, ["summary", f"{target}:build", "--input", "1x3x16x16"])
    assert one.exit_code == 2 and "missing 1 required positional argument" in one.output
    cov = runner.invoke(app, ["coverage", f"{target}:build", "-i", "1x3x8x8", "-i", "1x3x8x8"])
    assert cov.exit_code == 0 and "25.0% of the 8x8 input pixels" in cov.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("examples/seed_cnn.toml", "a spec file takes one --input; received 2"),
        ("examples/seed_cnn_keras.py:build", "has 1 input(s); received 2 input shape(s)"),
    ],
)
def test_one_input_targets_refuse_two_shapes(
    target: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    args = ["summary", target, "--input", "1x32x32x3", "--input", "1x32x32x3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_keras_model_with_two_inputs() -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from stridescope.frontends.keras import read_keras

    layers = keras.layers
    left, right = keras.Input((8, 8, 3), name="left"), keras.Input((8, 8, 3), name="right")
    joined = layers.Add()(
        [layers.Conv2D(4, 1, strides=2)(left), layers.Conv2D(4, 1, strides=2)(right)]
    )
    model = keras.Model([left, right], joined)
    graph = read_keras(model)
    assert [n.name for n in graph.nodes if n.kind is OpKind.INPUT] == ["input", "right"]
    assert graph.params == model.count_params() and any("2 inputs" in n for n in graph.notes)
    bigger = read_keras(model, [(1, 16, 16, 3), (1, 16, 16, 3)])
    assert bigger.output.output_shape == (1, 8, 8, 4)
    assert coverage_map(bigger).fraction == 0.25
