"""report.html rendered by headless Chromium: not blank, plots drawn, no console errors.

Skipped only when no ``chromium`` is installed (``make test`` installs it via .ci/browser.sh).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from test_report_files import write

from stridescope.report.html import READY_ATTRIBUTE

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it via apt)"
)
CONSOLE = re.compile(r":CONSOLE[:(]\d+")  # Chromium logs every console message like this


def chromium(tmp_path: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *mode,
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def console_messages(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if CONSOLE.search(line)]


def test_report_renders_without_errors(tmp_path: Path) -> None:
    html = write(tmp_path).html
    shot = tmp_path / "shot.png"
    # one launch: the screenshot and the DOM after the scripts ran
    result = chromium(
        tmp_path, html, "--window-size=1200,1800", "--dump-dom", f"--screenshot={shot}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result) == []
    assert f'{READY_ATTRIBUTE}="1"' in result.stdout  # the inline script ran to its end
    image = matplotlib.image.imread(shot)[:, :, :3]  # (H, W, 3) floats in 0..1
    assert image.shape[:2] == (1800, 1200)
    assert image.std() > 0.05  # not a blank page
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50

    # the embedded PNG plots were decoded and drawn: matplotlib's blue (#1f77b4, both plots)
    # and the baseline's red (#d62728, only in the consistency plot) are on screen
    def pixels(rgb: int) -> int:
        target = np.array([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255]) / 255
        return int((np.abs(image - target).max(axis=2) < 0.03).sum())

    assert pixels(0x1F77B4) > 500 and pixels(0xD62728) > 50


def test_a_broken_page_is_caught(tmp_path: Path) -> None:
    page = write(tmp_path).html.read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("<script>", "<script>notDefinedAnywhere();", 1))
    result = chromium(tmp_path, broken, "--dump-dom")
    assert any("Uncaught ReferenceError" in line for line in console_messages(result))
    assert f'{READY_ATTRIBUTE}="1"' not in result.stdout
