"""Inputs of another dtype than the model's floats: token ids (``1x4:int64``) into an
embedding, a boolean mask (``1x8:bool``) that masks the tokens; refused with a one-line error
for an unknown dtype, and for Keras and spec targets (which have their own)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from tests.frontends.pytorch.applied import built

runner = CliRunner()

DECODER = '''
import torch
from torch import nn


class Decoder(nn.Module):
    """Audio features through a strided conv, queried by embedded token ids."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv1d(16, 32, 3, stride=2)
        self.emb = nn.Embedding(100, 32)

    def forward(self, feats, ids):
        return self.emb(ids) @ self.enc(feats)


def build():
    return Decoder()
'''


def _decoder() -> nn.Module:
    return built(DECODER)


class MaskedTokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.fc(x).masked_fill(~keep[..., None], 0.0)


def test_token_ids_go_into_an_embedding() -> None:
    model = _decoder()
    real = model(torch.randn(1, 16, 20), torch.randint(0, 100, (1, 4)))
    graph = load_graph(model, ["1x16x20", "1x4:int64"])
    assert graph.nodes[-1].output_shape == tuple(real.shape) == (1, 4, 9)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert not graph.uncounted


def test_a_boolean_mask_input_masks() -> None:
    model = MaskedTokens().eval()
    graph = load_graph(model, ["1x8x16", "1x8:bool"])
    assert graph.nodes[-1].output_shape == (1, 8, 16)
    assert not graph.uncounted


def test_float_inputs_cannot_index_an_embedding() -> None:
    with pytest.raises(StridescopeError, match="scalar types: Long, Int"):
        load_graph(_decoder(), ["1x16x20", "1x4"])


def test_the_command_line_takes_a_dtype_and_names_the_allowed_ones(tmp_path: Path) -> None:
    (tmp_path / "dec.py").write_text(DECODER)
    target = f"{tmp_path / 'dec.py'}:build"
    ok = runner.invoke(app, ["summary", target, "-i", "1x16x20", "-i", "1x4:int64"])
    assert ok.exit_code == 0, ok.output
    assert "emb.embedding" in ok.output
    bad = runner.invoke(app, ["summary", target, "-i", "1x16x20", "-i", "1x4:int65"])
    assert bad.exit_code == 2
    assert "names dtype 'int65'; allowed: bool, uint8" in " ".join(bad.output.split())


def test_keras_and_spec_targets_refuse_a_dtype(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1)])
    with pytest.raises(StridescopeError, match=r"received 1x8x8x3:float16 \(a dtype is for"):
        load_graph(net, "1x8x8x3:float16")
    spec = tmp_path / "net.toml"
    spec.write_text('input = "1x8x8x3:int64"\nlayers = ["Conv2D(4, 1)"]\n')
    with pytest.raises(StridescopeError, match="key 'input' '1x8x8x3:int64' names a dtype"):
        load_graph(str(spec))
