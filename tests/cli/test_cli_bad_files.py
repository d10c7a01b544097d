"""Files and values a user may give by mistake, each a one-line error with exit code 2 that
leaves the file as it was (found by a probe of ~510 commands, 2026-12-07): an empty file
given to ``results`` was made a results store; a spec file that is not UTF-8, a factory
that calls ``sys.exit`` gave a traceback or a silent exit; a model file given to ``study`` as
its config started the default study; ``--severity =warning`` was taken; ``COLUMNS=0``
printed nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _one_line(args: list[str], said: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], result.output


def test_results_of_an_empty_file_leaves_it_empty(tmp_path: Path) -> None:
    empty = tmp_path / "results.sqlite"
    empty.touch()
    _one_line(["results", str(empty)], "is not a stridescope results store")
    assert empty.stat().st_size == 0


def test_a_spec_file_that_is_not_utf8(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_bytes(b"\xff\xfe\x00bad")
    for command in ("summary", "lint", "coverage"):
        _one_line([command, str(spec)], "is not UTF-8 text")


def test_a_factory_that_calls_sys_exit(tmp_path: Path) -> None:
    source = tmp_path / "leaves.py"
    source.write_text("import sys\n\ndef build():\n    sys.exit(3)\n")
    _one_line(["summary", f"{source}:build", "--input", "1x3x8x8"], "called sys.exit(3)")


@pytest.mark.parametrize("name", ["model.py", "model.keras"])
def test_a_model_file_given_as_a_study_config(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    _one_line(["study", str(tmp_path / name), "--out", str(tmp_path / "out")], "--model")
    assert not (tmp_path / "out").exists()


def test_a_severity_without_a_code() -> None:
    _one_line(["lint", "examples/seed_cnn.toml", "--severity", "=warning"], "CODE=LEVEL")


def test_a_terminal_of_no_width_still_gets_the_output() -> None:
    env = {**os.environ, "COLUMNS": "0"}
    run = subprocess.run(
        [sys.executable, "-m", "stridescope", "summary", "examples/seed_cnn.toml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and "total params: 54,922" in run.stdout


def test_images_resized_past_the_machine_s_memory_are_one_line() -> None:
    import torch

    from stridescope.analysis.classifier import fit_images
    from stridescope.errors import StridescopeError

    with pytest.raises(StridescopeError, match=r"take [\d,.]+ GiB, which this machine cannot"):
        fit_images(torch.zeros(4, 1, 8, 8), channels=None, image_size=10**6)


def test_a_list_given_to_a_forward_that_takes_a_tensor_says_so() -> None:
    args = ["summary", "examples/seed_cnn_torch.py:build", "--input", "1x3x32x32+"]
    _one_line(args, "it was given a list of tensors (a shape ending in or joined by '+')")
