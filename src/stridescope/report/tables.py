"""The study's tables as rows of strings, shared by the HTML and Markdown reports and the CLI.

>>> from stridescope.analysis.stats import mean_ci
>>> fmt_estimate(mean_ci([0.90, 0.91, 0.92]))
'0.910 ± 0.025'
>>> fmt_estimate(mean_ci([0.9]))
'0.900 (n=1, no CI)'
>>> fmt_count(4_089_184_256)
'4.09 G'
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from stridescope.analysis.stats import Difference, Estimate, StudySummary
from stridescope.records import RUN_FIELDS, RunResult, op_label, plural

__all__ = [
    "COMPARISON_COLUMNS",
    "RUN_COLUMNS",
    "SUMMARY_COLUMNS",
    "common_config",
    "comparison_rows",
    "fmt_count",
    "fmt_difference",
    "fmt_estimate",
    "named_columns",
    "no_comparison_reason",
    "run_counts",
    "run_rows",
    "summary_rows",
]

SUMMARY_COLUMNS = (
    "operator",
    "setting",
    "runs",
    "test accuracy (95% CI)",
    "consistency (95% CI)",
    "params",
    "MACs",
    "train s",
    "images/s",
)

COMPARISON_COLUMNS = (
    "operator",
    "setting",
    "paired seeds",
    "Δ accuracy [95% CI]",
    "Δ consistency [95% CI]",
)

RUN_COLUMNS = (*(c for c in RUN_FIELDS if c not in ("error", "config")), "error")
"""One column per run field except the config, the error (long) last."""


_DIGITS = {"test_accuracy": 4, "consistency": 4, "train_seconds": 2, "images_per_second": 0}


def fmt_estimate(est: Estimate, digits: int = 3) -> str:
    """``mean ± half-width``, or the mean with the reason there is no CI."""
    if est.mean is None:
        return "—"
    if est.half_width is None:
        return f"{est.mean:.{digits}f} (n={est.n}, no CI)"
    return f"{est.mean:.{digits}f} ± {est.half_width:.{digits}f}"


def fmt_difference(diff: Difference | None, digits: int = 3) -> str:
    """``+0.012 [+0.004, +0.020] significant`` or ``… not significant``; ``baseline`` for None."""
    if diff is None:
        return "baseline"
    if diff.mean is None:
        return "— (no shared seeds)"
    if diff.low is None or diff.high is None:
        return f"{diff.mean:+.{digits}f} {diff.verdict}"
    return (
        f"{diff.mean:+.{digits}f} [{diff.low:+.{digits}f}, {diff.high:+.{digits}f}] {diff.verdict}"
    )


def fmt_count(value: float | None) -> str:
    """Large counts with an SI prefix (k, M, G)."""
    if value is None:
        return "—"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.3g}"


def _fmt_float(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def named_columns(names: tuple[str, ...], summary: StudySummary) -> tuple[str, ...]:
    """:data:`SUMMARY_COLUMNS` or :data:`COMPARISON_COLUMNS` with the first one named for what
    the study varies (``operator`` or ``policy``, :attr:`StudySummary.varied`)."""
    return (summary.varied, *names[1:])


def summary_rows(summary: StudySummary) -> list[tuple[str, ...]]:
    """One row per operator and setting, in :data:`SUMMARY_COLUMNS` order."""
    rows: list[tuple[str, ...]] = []
    for row in summary.rows:
        failed = f" (+{row.failed} failed)" if row.failed else ""
        rows.append(
            (
                op_label(row.op),
                f"{row.dataset} / {row.arch} / {row.epochs} ep",
                f"{row.n}{failed}",
                fmt_estimate(row.accuracy),
                fmt_estimate(row.consistency),
                fmt_count(row.params),
                fmt_count(row.macs),
                _fmt_float(row.train_seconds),
                fmt_count(row.images_per_second),
            )
        )
    return rows


def comparison_rows(summary: StudySummary) -> list[tuple[str, ...]]:
    """Each non-baseline row against the baseline: paired differences (op − baseline)."""
    rows: list[tuple[str, ...]] = []
    for row in summary.rows:
        if row.accuracy_vs_baseline is None or row.consistency_vs_baseline is None:
            continue
        rows.append(
            (
                op_label(row.op),
                f"{row.dataset} / {row.arch} / {row.epochs} ep",
                str(row.accuracy_vs_baseline.n),
                fmt_difference(row.accuracy_vs_baseline),
                fmt_difference(row.consistency_vs_baseline),
            )
        )
    return rows


def run_counts(summary: StudySummary) -> str:
    """``3 runs: 2 ok, 1 failed`` (``1 run: …`` for one)."""
    return f"{plural(summary.n_runs, 'run')}: {summary.n_ok} ok, {summary.n_failed} failed"


def no_comparison_reason(summary: StudySummary) -> str:
    """Why :func:`comparison_rows` is empty: the baseline has no finished run, or it is the
    only operator with one (e.g. a study of the baseline alone)."""
    if any(row.op == summary.baseline and row.n > 0 for row in summary.rows):
        return (
            f"No operator could be compared: no operator other than {summary.baseline} "
            "has finished runs."
        )
    return f"No operator could be compared: no finished {summary.baseline} runs."


def run_rows(runs: Sequence[RunResult]) -> list[tuple[str, ...]]:
    """One row per run, in :data:`RUN_COLUMNS` order, as display strings ("" for None)."""
    out = []
    for run in runs:
        values = run.to_dict()
        cells = []
        for column in RUN_COLUMNS:
            value = values[column]
            if value is None:
                cells.append("")
            elif column in _DIGITS and isinstance(value, float):
                cells.append(f"{value:.{_DIGITS[column]}f}")
            else:
                cells.append(str(value))
        out.append(tuple(cells))
    return out


def common_config(runs: Sequence[RunResult]) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The config values shared by every run, and for the other keys the values seen (as JSON):
    numbers in numeric order, anything else (operators) in the order the runs first show it.

    >>> from stridescope.records import RunResult
    >>> def run(op: str, seed: int) -> RunResult:
    ...     return RunResult(key=f"{op}{seed}", op=op, arch="a", dataset="d", seed=seed, epochs=1,
    ...         status="ok", error="", test_accuracy=None, consistency=None, params=None,
    ...         macs=None, train_seconds=None, images_per_second=None,
    ...         config={"op": op, "seed": seed, "epochs": 1})
    >>> common_config([run("maxpool_conv1x1", 10), run("conv1x1_s2", 2), run("maxpool_conv1x1", 2)])
    ({'epochs': 1}, {'op': ['"maxpool_conv1x1"', '"conv1x1_s2"'], 'seed': ['2', '10']})
    """
    if not runs:
        return {}, {}
    keys = sorted({k for run in runs for k in run.config})
    shared: dict[str, object] = {}
    varying: dict[str, list[str]] = {}
    for key in keys:
        values = [run.config.get(key) for run in runs]
        if all(_is_number(v) for v in values):  # seeds, epochs, lr: numeric order
            values = sorted(values, key=float)  # type: ignore[arg-type]
        seen = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in values))
        if len(seen) == 1 and all(key in run.config for run in runs):
            shared[key] = runs[0].config[key]
        else:
            varying[key] = seen
    return shared, varying


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
