"""The report files: one self-contained HTML page, Markdown with sibling PNGs, never torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image

from stridescope.analysis.stats import summarize_study
from stridescope.records import RunResult
from stridescope.report import ReportPaths, write_report

OPS = {
    "conv1x1_s2": (0.90, 0.70, 20_000),
    "conv3x3_s2": (0.915, 0.78, 60_000),
    "<b>x</b>": (0.91, 0.9, 24_000),
}


def synthetic_runs() -> list[RunResult]:
    """Made-up numbers for rendering tests; not measurements."""
    runs = []
    for i, (op, (acc, cons, macs)) in enumerate(OPS.items()):
        for seed in range(3):
            failed = op == "<b>x</b>" and seed == 2
            jitter = ((seed * 7 + i * 3) % 5 - 2) / 400
            runs.append(
                RunResult(
                    key=f"k{i}{seed}",
                    op=op,
                    arch="seed_cnn",
                    dataset="mnist5k",
                    seed=seed,
                    epochs=3,
                    status="failed" if failed else "ok",
                    error="RuntimeError: synthetic failure" if failed else "",
                    test_accuracy=None if failed else acc + jitter,
                    consistency=None if failed else cons - jitter,
                    params=None if failed else 50_000,
                    macs=None if failed else macs,
                    train_seconds=None if failed else 4.0 + seed,
                    images_per_second=None if failed else 2500.0,
                    config={"op": op, "seed": seed, "epochs": 3, "lr": 0.001},
                    finished_at="2026-01-01T00:00:00+00:00",
                )
            )
    return runs


def grids() -> dict[str, list[list[bool]]]:
    return {
        "conv1x1_s2": [[r % 2 == 0 and c % 2 == 0 for c in range(8)] for r in range(8)],
        "conv3x3_s2": [[True] * 8 for _ in range(8)],
    }


def write(tmp_path: Path) -> ReportPaths:
    runs = synthetic_runs()
    return write_report(tmp_path / "out", summarize_study(runs), runs, grids(), title="T & <t>")


def test_html_is_one_self_contained_file(tmp_path: Path) -> None:
    paths = write(tmp_path)
    page = paths.html.read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)""", page)
    assert len(refs) == 2 + 2  # two plots, two read grids
    assert all(ref.startswith("data:image/png;base64,") for ref in refs)
    assert not re.search(r"<link|@import|url\(|https?://", page)
    for needle in (
        "conv3x3_s2",
        "not significant",
        "RuntimeError: synthetic failure",
        "&quot;lr&quot;: 0.001",
    ):
        assert needle in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # names are escaped
    assert "<title>T &amp; &lt;t&gt;</title>" in page


def test_markdown_references_existing_pngs(tmp_path: Path) -> None:
    paths = write(tmp_path)
    text = paths.markdown.read_text(encoding="utf-8")
    names = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(names) == 4 and {Path(n).name for n in names} == {p.name for p in paths.images}
    for name in names:
        image = matplotlib.image.imread(paths.markdown.parent / name)
        assert image.ndim == 3 and image.shape[0] > 50 and image.std() > 0.01
    assert "| conv1x1_s2 | mnist5k / seed_cnn / 3 ep | 3 |" in text
    assert "| &lt;b&gt;x&lt;/b&gt; |" in text and "<b>" not in text  # no raw HTML
    assert "RuntimeError: synthetic failure" in text
    assert "## Failed runs (1)" in text


def test_report_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_report_files import write\n"
        "write(pathlib.Path(sys.argv[1]))\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('stridescope.study'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "report.html").is_file()


def test_empty_study_still_renders(tmp_path: Path) -> None:
    paths = write_report(tmp_path, summarize_study([]), [])
    page = paths.html.read_text(encoding="utf-8")
    assert "0 runs: 0 ok, 0 failed" in page and "No operator could be compared" in page


def test_grid_file_names_are_safe(tmp_path: Path) -> None:
    runs = synthetic_runs()
    names = {"a/b c": [[True, False]], "..": [[False]], "x": [[True]]}
    paths = write_report(tmp_path, summarize_study(runs), runs, names)
    grid_files = [p for p in paths.images if p.name.startswith("report-read-")]
    assert len(grid_files) == 3 and all(p.parent == tmp_path and p.is_file() for p in grid_files)
