"""`stridescope summary`: golden outputs, the three frontends agree, one-line errors (exit 2).

Rewrite the golden files with ``STRIDESCOPE_UPDATE_GOLDEN=1 pytest tests/cli``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app
from stridescope.cli._common import console

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
SEED = "examples/seed_cnn.toml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the repository root with a 120-column console."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(console, "_width", 120)
    monkeypatch.setattr(console, "_force_terminal", False)
    yield


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("STRIDESCOPE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with STRIDESCOPE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [
        ("table", "summary_seed_table.txt"),
        ("markdown", "summary_seed.md"),
        ("csv", "summary_seed.csv"),
    ],
)
def test_seed_golden(fmt: str, golden: str) -> None:
    result = runner.invoke(app, ["summary", SEED, "--format", fmt])
    assert result.exit_code == 0, result.output
    _check_golden(golden, result.output)


def test_seed_depth_one_golden() -> None:
    result = runner.invoke(app, ["summary", SEED, "--depth", "1", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    _check_golden("summary_seed_depth1.md", result.output)


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, ["summary", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def _nhwc(shape: list[int]) -> list[int]:
    return [shape[0], *shape[2:], shape[1]] if len(shape) == 4 else shape


def test_spec_torch_and_keras_give_the_same_numbers() -> None:
    spec = _json([SEED])
    torch_ = _json(["examples/seed_cnn_torch.py:build", "--input", "1x3x32x32"])
    keras_ = _json(["examples/seed_cnn_keras.py:build"])
    assert spec["totals"] == torch_["totals"] == keras_["totals"]
    assert spec["input_coverage"] == torch_["input_coverage"] == keras_["input_coverage"] == 1.0

    def numbers(data: dict[str, object], to_nhwc: bool) -> list[tuple[object, ...]]:
        rows = data["layers"]
        assert isinstance(rows, list)
        return [
            (
                _nhwc(r["output_shape"]) if to_nhwc else r["output_shape"],
                r["params"],
                r["macs"],
                r["activation_bytes"],
                r["receptive_field"],
                r["read_fraction"],
                r["flags"],
            )
            for r in rows
        ]

    assert numbers(spec, False) == numbers(torch_, True) == numbers(keras_, False)
    totals = spec["totals"]
    assert isinstance(totals, dict) and totals["params"] == 54_922


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ss_not_a_module_anywhere:build"], "cannot import module"),
        (["examples/seed_cnn_torch.py:nothing", "--input", "1x3x32x32"], "no attribute"),
        (["examples/seed_cnn_torch.py:build", "--input", "1x3x32"], "4-D input"),
        ([SEED, "--input", "1x32x32"], "4-D input"),
        ([SEED, "--input", "banana"], "is not a shape"),
        ([SEED, "--format", "yaml"], "allowed: table, json, csv, markdown"),
        ([SEED, "--depth", "0"], "--depth"),
        (["tests/golden/unknown_layer.toml"], "unknown layer"),
        (["examples/seed_cnn_torch.py:build", "--input", "1x4x32x32"], "with C=3"),
        (["examples/seed_cnn.py:build", "--input", "1x3x32x32"], "no such file"),
        (["no_target_form"], "allowed: FILE.py:FACTORY"),
        ([SEED, "--input", "1x2x2x3"], "layers[0] Conv2D(32, (3, 3), activation='relu') on"),
        ([SEED, "--input", "0x32x32x3"], "is not a shape"),
        (
            ["examples/seed_cnn_torch.py:build", "--input", "6"],
            "needs at least 2 sizes, batch first (a batch of one 6-long vector is 1x6); "
            "received (6,)",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    _assert_one_line_error(["summary", *args], message)


def _assert_one_line_error(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]


def test_factory_that_raises(tmp_path: Path) -> None:
    path = tmp_path / "raising.py"
    path.write_text("def build():\n    raise ValueError('bad config')\n")
    result = runner.invoke(app, ["summary", f"{path}:build", "--input", "1x3x8x8"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: factory '{path}:build' raised ValueError: bad config"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def build():\n    return 42\n", "gave an int; expected a torch.nn.Module"),
        ("def build(:\n", "SyntaxError"),
        ("def other():\n    return 1\n", "has no attribute 'build'; it has: other"),
    ],
)
def test_bad_python_targets(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "target.py"
    path.write_text(source)
    _assert_one_line_error(["summary", f"{path}:build", "--input", "1x3x8x8"], message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('input = "1x8x8x3"\nlayers = ["Conv2D(4, 3)"]\nbogus = 1\n', "unknown key 'bogus'"),
        ('input = 5\nlayers = ["Conv2D(4, 3)"]\n', "is not a shape"),
        ('input = "1x8x8x3"\nlayers = "Conv2D(4, 3)"\n', "non-empty list"),
        ('input = "1x8x8x3\nlayers = [', "not valid TOML"),
        ('input = "1x4x4x3"\nlayers = ["Conv2D(4, 7)"]\n', "layers[0] Conv2D(4, 7) on input"),
    ],
)
def test_bad_spec_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "net.toml"
    path.write_text(text)
    _assert_one_line_error(["summary", str(path)], message)


def test_a_keras_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_text("not a zip")
    result = runner.invoke(app, ["summary", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: cannot load '{path}': not a .keras file (a zip " + (
        "archive saved by model.save('name.keras'))"
    )


@pytest.mark.parametrize("command", ["layer", "summary", "coverage"])
def test_help_shows_examples_that_run(command: str) -> None:
    """Every example in the epilog is a real command line that exits 0 (PNGs not written)."""
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "Examples" in result.output
    epilog: str = importlib.import_module(f"stridescope.cli.{command}").EPILOG
    examples = [line[3:].split("`")[0] for line in epilog.splitlines() if line.startswith("* `")]
    assert len(examples) >= 2
    for example in examples:
        args = [a for a in shlex.split(example)[1:] if a != "--png" and not a.endswith(".png")]
        run = runner.invoke(app, args)
        assert run.exit_code == 0, (example, run.output)


def test_narrow_terminal_lists_flags_below_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns the flags column would get no room: the flags move under the table."""
    monkeypatch.setattr(console, "_width", 80)
    result = runner.invoke(app, ["summary", SEED])
    assert result.exit_code == 0
    assert "flag: conv2d_2: DS101, DS401" in result.output
    assert "flags" not in result.output.splitlines()[1]  # no empty flags column


@pytest.mark.parametrize("width", [100, 102, 106, 110, 111, 112, 120])
def test_inline_flags_column_is_never_narrower_than_its_cells(width: int) -> None:
    """Either the flags are listed under the table, or their column really has room for its
    widest cell, up to 20 characters (at 102 columns it used to get 11: the separators between
    columns were not counted)."""
    from rich.console import Console

    from stridescope.api import summary
    from stridescope.cli.summary import rich_table

    out = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    out.print(rich_table(summary(SEED), width))
    lines = out.export_text().splitlines()
    if "flags" in lines[1]:
        assert width - lines[1].index("flags") >= len("DS101, DS401"), lines[1]
        assert any(line.rstrip().endswith("DS101, DS401") for line in lines)
    else:
        assert "flag: conv2d_2: DS101, DS401" in [line.strip() for line in lines]


def test_resnet20_option_a_shortcuts_read_a_quarter_and_counts_match_torch() -> None:
    """The shipped ResNet-20 example: params equal torch's count, conv MACs equal
    ``FlopCounterMode`` / 2, and each "option A" shortcut (``x[:, :, ::2, ::2]``) is flagged
    as reading 25 % of its input, with a finite receptive field after it."""
    from torch.utils.flop_counter import FlopCounterMode

    data = _json(["examples/resnet20_option_a.py:resnet20", "--input", "1x3x32x32"])
    spec = importlib.util.spec_from_file_location(
        "resnet20_example", EXAMPLES / "resnet20_option_a.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    net = example.resnet20()
    assert data["totals"]["params"] == sum(p.numel() for p in net.parameters()) == 269_722
    layers = {row["path"]: row for row in data["layers"]}
    slices = [row for row in layers.values() if row["kind"] == "slice"]
    assert [row["path"] for row in slices] == ["blocks.3.getitem", "blocks.6.getitem"]
    assert all(row["read_fraction"] == 0.25 for row in slices)
    assert all("DS101" in row["flags"] for row in slices)  # lint's skipped input
    assert layers["blocks.8.relu_1"]["receptive_field"] is not None  # finite, not 'whole'
    import torch

    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32))
    conv_linear = sum(r["macs"] for r in layers.values() if r["kind"] in ("conv", "linear"))
    assert counter.get_total_flops() == 2 * conv_linear


def test_brackets_from_the_model_are_printed_as_text() -> None:
    """Layer names, notes and the title come from the model: ``x[mask]`` in a note is text,
    not rich markup (until 2026-12-07 ``[mask]`` was taken for a style and dropped)."""
    result = runner.invoke(app, ["summary", "examples/score_head.py:build", "--input", "1x3x64x64"])
    assert result.exit_code == 0, result.output
    assert "(x[mask])" in result.output and "topk[1]" in result.output
