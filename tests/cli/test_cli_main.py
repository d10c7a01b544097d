"""The entry point: usage errors from the argument parser are one line too, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

USAGE_ERRORS = [
    (["layer", "Conv2D(16, 1)"], "Missing option '--input'"),
    (["summary", "examples/seed_cnn.toml", "--depth", "abc"], "Invalid value for '--depth'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["layer", "Conv2D(16, 1)", "--input", "1x8x8x3", "--bogus"], "No such option: --bogus"),
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from stridescope.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], expected: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_help_exits_0_and_lists_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in ("layer", "summary", "lint", "coverage", "compare", "study", "results"):
        assert command in result.stdout
