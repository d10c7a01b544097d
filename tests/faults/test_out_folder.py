"""An output folder that cannot be written is refused before any training: one line with the
path and the reason, exit code 2."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

runner = CliRunner()
ARGS = ["study", "--dataset", "digits", "--ops", "conv1x1_s2", "--seeds", "1", "--epochs", "1"]


def _refused(out: Path | str) -> str:
    result = runner.invoke(app, [*ARGS, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "study:" not in result.output  # nothing started
    return result.stderr.strip()


def test_a_read_only_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere chmod allows nothing; /sys refuses it too
        folder = Path("/sys")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    assert _refused(folder) == (
        f"error: cannot write in the output folder (out) '{folder}': Permission denied"
    )


def test_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert _refused(tmp_path) == (
        f"error: cannot write in the output folder (out) '{tmp_path}': No space left on device"
    )
    assert list(tmp_path.iterdir()) == []  # the probe is gone


def test_a_parent_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    out = tmp_path / "file" / "out"
    assert _refused(out) == (f"error: cannot make the output folder (out) '{out}': Not a directory")
