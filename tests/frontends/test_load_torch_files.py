"""Saved PyTorch models as targets: a TorchScript archive (``torch.jit.save``: ``FILE.pt``,
``.pth``, ``.ts``, ``.torchscript``) and a ``torch.export.save`` archive (``FILE.pt2``, which
knows the input shape it was exported with); a ``torch.save`` pickle (loading one runs its
code) and files that are neither are refused in one line, exit code 2 on the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from stridescope import summary
from stridescope.cli import app
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph

SHAPE = (1, 3, 32, 32)
runner = CliRunner()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Upsample(scale_factor=2.0, mode="bilinear"),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ts", ".torchscript"])
def test_a_torchscript_archive_counts_as_its_model(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    torch.jit.save(torch.jit.trace(_model(), torch.rand(SHAPE)), str(path))
    graph, expected = load_graph(str(path), SHAPE), load_graph(_model(), SHAPE)
    assert (graph.params, graph.macs, graph.output.output_shape) == (
        expected.params,
        expected.macs,
        expected.output.output_shape,
    )
    assert not graph.uncounted and graph.source == str(path)


def test_an_exported_program_knows_its_input_shape(tmp_path: Path) -> None:
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(_model(), (torch.rand(SHAPE),)), str(path))
    own = summary(str(path))  # no input shape given: the one it was exported with
    assert own.input_shape == SHAPE and not own.totals.uncounted
    expected = summary(_model(), input_shape=SHAPE)
    assert (own.totals.params, own.totals.macs) == (expected.totals.params, expected.totals.macs)
    assert summary(str(path), input_shape=SHAPE).totals == own.totals


def test_an_exported_program_object_is_read_as_its_file_is(tmp_path: Path) -> None:
    """``torch.export.export``'s result itself, not only saved as ``.pt2``: its input shape
    known, its guards said in one line."""
    program = torch.export.export(_model(), (torch.rand(SHAPE),))
    path = tmp_path / "model.pt2"
    torch.export.save(program, str(path))
    own = summary(program)
    assert own.input_shape == SHAPE and own.totals == summary(str(path)).totals
    assert own.totals.params == summary(_model(), input_shape=SHAPE).totals.params
    with pytest.raises(StridescopeError, match=r"^'ExportedProgram' was exported for inputs "):
        load_graph(program, (1, 3, 40, 40))


def test_files_that_are_not_archives_are_refused_in_one_line(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.pt"
    torch.save(_model(), pickled)
    with pytest.raises(StridescopeError, match=r"torch.save file .* not a TorchScript archive"):
        load_graph(str(pickled), SHAPE)
    text = tmp_path / "notes.pt"
    text.write_text("weights")
    with pytest.raises(StridescopeError, match=r"not a TorchScript .* or torch.export"):
        load_graph(str(text), SHAPE)
    with pytest.raises(StridescopeError, match="no such file"):
        load_graph(str(tmp_path / "missing.pt2"))


def test_the_cli_reads_saved_models_and_refuses_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(_model()), str(path))
    ok = runner.invoke(app, ["summary", str(path), "--input", "1x3x32x32", "--format", "json"])
    assert ok.exit_code == 0 and '"uncounted": []' in ok.stdout
    no_shape = runner.invoke(app, ["summary", str(path)])
    assert no_shape.exit_code == 2 and "needs an input shape" in no_shape.output
    pickled = tmp_path / "pickled.pth"
    torch.save(_model().state_dict(), pickled)
    refused = runner.invoke(app, ["lint", str(pickled), "--input", "1x3x32x32"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "torch.save file" in refused.output


def test_a_dynamic_export_takes_its_example_and_refuses_sizes_out_of_bounds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dynamic.pt2"
    side = torch.export.Dim("side", min=16, max=512)
    program = torch.export.export(
        _model(), (torch.rand(SHAPE),), dynamic_shapes={"input": {2: side, 3: side}}
    )
    torch.export.save(program, str(path))
    assert summary(str(path)).input_shape == SHAPE  # the example's sizes, not symbols
    larger = summary(str(path), input_shape=(1, 3, 64, 64))
    assert larger.input_shape == (1, 3, 64, 64) and not larger.totals.uncounted
    for _ in range(2):  # reading the example sizes leaves the program's guards as they were
        with pytest.raises(StridescopeError, match=r"exported for inputs where .*>= 16"):
            load_graph(str(path), (1, 3, 8, 8))


class _IdsAndScale(nn.Module):
    """Token ids, and a scale given by keyword only."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.head = nn.Embedding(20, 8), nn.Linear(8, 4)

    def forward(self, ids: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids) * scale)


def test_an_exported_program_knows_its_keyword_inputs_and_their_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "ids.pt2"
    example = (torch.randint(0, 20, (1, 6)),), {"scale": torch.rand(1, 6, 1)}
    torch.export.save(torch.export.export(_IdsAndScale(), *example), str(path))
    own = load_graph(str(path))
    given = load_graph(str(path), ["1x6:int64", "scale=1x6x1"])
    for graph in (own, given):
        assert [n.output_shape for n in graph.nodes if n.kind.value == "input"] == [
            (1, 6),
            (1, 6, 1),
        ]
        assert graph.params == 20 * 8 + 8 * 4 + 4
        assert any("scale by keyword" in note for note in graph.notes)
    assert own.macs == given.macs > 0
