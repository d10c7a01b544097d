"""What a study produced: the summary of its runs, the read grids of its operators and the
report files, gathered in a :class:`StudyOutcome` (:func:`write_outcome`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stridescope.analysis.stats import StudySummary, summarize_study
from stridescope.records import RunResult
from stridescope.report import write_report
from stridescope.study.archs import make_op
from stridescope.study.config import StudyConfig, variants
from stridescope.study.store import RESULTS_FILE

__all__ = ["REPORT_FILES", "StudyOutcome", "baseline_of", "read_grids", "write_outcome"]

REPORT_FILES = ("report.html", "report.md")


@dataclass(frozen=True)
class StudyOutcome:
    """What a study produced: where, how many runs ran or were skipped, and the summary."""

    out_dir: Path
    store_path: Path
    report_html: Path
    report_markdown: Path
    summary: StudySummary
    runs: tuple[RunResult, ...]
    ran: int
    skipped: int
    failed: int
    seconds: float
    baseline: str = field(default="conv1x1_s2")


def baseline_of(ops: Sequence[str]) -> str:
    """The operator (or policy) the others are compared with: ``conv1x1_s2`` or ``original``
    where the study has it, else the first.

    >>> baseline_of(("maxpool_conv1x1", "conv1x1_s2")), baseline_of(("maxpool_conv1x1",))
    ('conv1x1_s2', 'maxpool_conv1x1')
    >>> baseline_of(("blurpool", "original"))
    'original'
    """
    return next((b for b in ("conv1x1_s2", "original") if b in ops), ops[0])


def read_grids(
    ops: tuple[str, ...], channels: int = 1, size: int = 8, map_size: int = 16
) -> dict[str, list[list[bool]]]:
    """For each operator, which pixels of the top-left ``size`` x ``size`` corner of a
    ``map_size`` x ``map_size`` input it reads (from the IR, no forward pass).

    >>> read_grids(("conv1x1_s2",), size=4)["conv1x1_s2"][:2]
    [[True, False, True, False], [False, False, False, False]]
    """
    from stridescope.analysis.compare import op_graph
    from stridescope.analysis.coverage import coverage_map, read_grid
    from stridescope.frontends import trace_torch

    grids: dict[str, list[list[bool]]] = {}
    for op in ops:
        module = make_op(op, channels, channels)
        graph = op_graph(module, (1, channels, map_size, map_size), op, trace_torch)
        grids[op] = read_grid(coverage_map(graph), size=size)
    return grids


def write_outcome(
    cfg: StudyConfig,
    out: Path,
    runs: tuple[RunResult, ...],
    *,
    ran: int,
    skipped: int,
    started: float,
) -> StudyOutcome:
    """Summarise ``runs`` (the study's, in plan order), write the report into ``out`` and say
    what the study produced; ``started`` is the study's :func:`time.perf_counter` at its start.
    """
    compared = variants(cfg)
    baseline = baseline_of(compared)
    summary = summarize_study(list(runs), baseline=baseline)
    grids = None if cfg.model else read_grids(cfg.ops, channels=1)  # policies are no operators
    title = f"stridescope study: {cfg.model or cfg.arch} on {cfg.dataset}"
    paths = write_report(out, summary, list(runs), read_grids=grids, title=title)
    return StudyOutcome(
        out_dir=out,
        store_path=out / RESULTS_FILE,
        report_html=Path(paths.html),
        report_markdown=Path(paths.markdown),
        summary=summary,
        runs=runs,
        ran=ran,
        skipped=skipped,
        failed=sum(1 for run in runs if not run.ok),
        seconds=time.perf_counter() - started,
        baseline=baseline,
    )
