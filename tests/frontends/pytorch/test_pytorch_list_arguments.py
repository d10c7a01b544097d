"""A forward that takes one list of tensors (a two-pathway video network: ``forward([slow,
fast])``): the list's shapes are given as a list (or joined by ``+`` on the command line), each
tensor gets an input node, and the forward receives a list."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from stridescope.api import summary
from stridescope.cli import app
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.ir import OpKind
from tests.frontends.pytorch.applied import built

runner = CliRunner()
SLOW, FAST = (1, 3, 2, 16, 16), (1, 3, 8, 16, 16)

TWO_PATHS = '''
import torch
from torch import nn


class TwoPaths(nn.Module):
    """A slow clip and a fast clip, each through its own conv, the fast one strided in time."""

    def __init__(self):
        super().__init__()
        self.slow = nn.Conv3d(3, 8, 1)
        self.fast = nn.Conv3d(3, 4, (4, 1, 1), stride=(4, 1, 1))

    def forward(self, clips):
        slow, fast = clips
        return torch.cat([self.slow(slow), self.fast(fast)], dim=1)


def build():
    return TwoPaths()
'''


def _two_paths() -> nn.Module:
    return built(TWO_PATHS)


class _ListAndScale(nn.Module):
    """A list of feature maps (coarse to fine) and a per-sample scale as a second argument."""

    def __init__(self) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, 4, 1) for c in (8, 16))

    def forward(self, feats: list[torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
        top = self.lateral[1](feats[1])
        up = nn.functional.interpolate(top, scale_factor=2)
        return (self.lateral[0](feats[0]) + up) * scale[:, None, None, None]


@pytest.mark.parametrize(
    "given", [[[SLOW, FAST]], "1x3x2x16x16+1x3x8x16x16", [["1x3x2x16x16", FAST]]]
)
def test_a_list_argument_is_one_list_of_tensors(given: object) -> None:
    model = _two_paths()
    clips = [torch.randn(SLOW), torch.randn(FAST)]
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        real = model(clips)
    graph = load_graph(model, given)  # type: ignore[arg-type]
    inputs = [n.output_shape for n in graph.nodes if n.kind is OpKind.INPUT]
    assert inputs == [SLOW, FAST]
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.macs - graph.nodes[-1].macs == flops.get_total_flops() // 2
    assert any("argument 1 a list of 2" in note for note in graph.notes)


def test_a_list_beside_a_tensor_and_the_list_order_kept() -> None:
    model = _ListAndScale().eval()
    feats, scale = [torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)], torch.randn(3)
    real = model(feats, scale)
    graph = load_graph(model, [[(1, 8, 8, 8), (1, 16, 4, 4)], (3,)])
    assert graph.nodes[-1].output_shape == tuple(real.shape) == (3, 4, 8, 8)
    lateral = {n.name: n.input_shape for n in graph.nodes if n.kind is OpKind.CONV}
    assert lateral == {"lateral.1": (1, 16, 4, 4), "lateral.0": (1, 8, 8, 8)}


def test_spread_shapes_for_a_list_forward_say_how_to_give_a_list() -> None:
    with pytest.raises(
        StridescopeError, match=r"takes 2 positional arguments.*join their shapes with '\+'"
    ):
        load_graph(_two_paths(), [SLOW, FAST])


def test_keras_and_spec_targets_refuse_a_list() -> None:
    keras = pytest.importorskip("keras")
    spec = Path(__file__).resolve().parents[3] / "examples" / "seed_cnn.toml"
    with pytest.raises(StridescopeError, match=r"a spec file takes one shape per input; "):
        load_graph(str(spec), "1x3x8x8+1x3x4x4")
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1)])
    with pytest.raises(StridescopeError, match=r"received the list 1x8x8x3\+1x4x4x3 \(a list"):
        load_graph(net, [[(1, 8, 8, 3), (1, 4, 4, 3)]])


def test_summary_from_the_command_line_with_plus(tmp_path: Path) -> None:
    (tmp_path / "paths.py").write_text(TWO_PATHS)
    target = f"{tmp_path / 'paths.py'}:build"
    result = runner.invoke(app, ["summary", target, "--input", "1x3x2x16x16+1x3x8x16x16"])
    assert result.exit_code == 0, result.output
    assert "argument 1 a list of 2" in " ".join(result.output.split())
    assert summary(_two_paths(), [[SLOW, FAST]]).totals.params == 8 * 3 + 8 + 4 * 3 * 4 + 4
    bad = runner.invoke(app, ["summary", target, "--input", "1x3x2x16x16+1x3xa"])
    assert bad.exit_code == 2 and "which is not a shape" in bad.output


ONE_IMAGE = """
import torch
from torch import nn


class Images(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, images):  # a list of (C, H, W) images, as a detector takes them
        return self.conv(torch.stack(list(images)))


def build():
    return Images()
"""


def test_a_list_of_one_ends_in_plus_on_the_command_line(tmp_path: Path) -> None:
    """``--input 3x32x32+``: one image in a list (a detector's forward); without the ``+``
    the forward is given a tensor, and iterates its rows. Until 2026-12-07 there was no way
    to give a list of one on the command line."""
    (tmp_path / "images.py").write_text(ONE_IMAGE)
    target = f"{tmp_path / 'images.py'}:build"
    result = runner.invoke(app, ["summary", target, "--input", "3x32x32+", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.splitlines()]
    conv = next(r for r in rows if r[0] == "conv")
    assert "1x4x15x15" in conv  # (a batch of one: torch.stack of the one image)
    bad = runner.invoke(app, ["summary", target, "--input", "3x32x32++"])
    assert bad.exit_code == 2 and "which is not a shape" in bad.output
