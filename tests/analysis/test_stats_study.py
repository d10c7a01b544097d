"""Confidence intervals, paired differences and the study summary (synthetic runs)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from stridescope.analysis.stats import mean_ci, paired_difference, summarize_study
from stridescope.records import RunResult


def run(
    op: str, seed: int, acc: float | None, cons: float | None = 0.8, **extra: object
) -> RunResult:
    status = "ok" if acc is not None else "failed"
    fields: dict[str, object] = {
        "key": f"{op}-{seed}-{extra.get('arch', 'cnn')}",
        "op": op,
        "arch": "cnn",
        "dataset": "mnist5k",
        "seed": seed,
        "epochs": 3,
        "status": status,
        "error": "" if acc is not None else "ValueError: diverged",
        "test_accuracy": acc,
        "consistency": cons if acc is not None else None,
        "params": 100 if acc is not None else None,
        "macs": 2000 if acc is not None else None,
        "train_seconds": 2.0 if acc is not None else None,
        "images_per_second": 500.0 if acc is not None else None,
        "config": {"op": op, "seed": seed},
    }
    fields.update(extra)
    return RunResult(**fields)  # type: ignore[arg-type]


def test_mean_ci_matches_hand_computed_t_interval() -> None:
    est = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.302652729911275
    half = 4.302652729911275 / math.sqrt(3)
    assert est.mean == 2.0 and est.n == 3
    assert est.low == pytest.approx(2 - half, rel=1e-9)
    assert est.high == pytest.approx(2 + half, rel=1e-9)
    wider = mean_ci([1.0, 2.0, 3.0], confidence=0.99)
    assert wider.low is not None and wider.low < est.low  # type: ignore[operator]


def test_mean_ci_small_samples_say_why() -> None:
    one = mean_ci([0.7])
    assert (one.mean, one.low, one.high, one.n) == (0.7, None, None, 1)
    assert "needs at least 2" in one.note
    none = mean_ci([])
    assert none.mean is None and none.n == 0 and none.note == "no values"
    same = mean_ci([0.5, 0.5, 0.5])
    assert same.low == same.high == 0.5
    with pytest.raises(ValueError, match="confidence must lie"):
        mean_ci([1.0, 2.0], confidence=1.0)


def test_paired_difference_pairs_by_seed_and_agrees_with_scipy() -> None:
    a = {0: 0.92, 1: 0.93, 2: 0.925, 3: 0.94, 9: 0.10}  # seed 9 has no partner: ignored
    b = {0: 0.90, 1: 0.905, 2: 0.90, 3: 0.91, 7: 0.99}
    diff = paired_difference(a, b)
    seeds = [0, 1, 2, 3]
    ref = sps.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).confidence_interval(0.95)
    assert diff.n == 4
    assert diff.mean == pytest.approx(0.025)
    assert (diff.low, diff.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert diff.significant and diff.verdict == "significant"


def test_paired_difference_not_significant_when_ci_crosses_zero() -> None:
    diff = paired_difference({0: 0.91, 1: 0.89, 2: 0.92}, {0: 0.90, 1: 0.90, 2: 0.90})
    assert diff.low is not None and diff.high is not None and diff.low < 0 < diff.high
    assert not diff.significant and diff.verdict == "not significant"
    lone = paired_difference({0: 0.9, 1: 0.8}, {1: 0.7})
    assert lone.n == 1 and lone.low is None and not lone.significant
    assert lone.verdict == "not significant (1 shared seed; a CI needs at least 2)"
    empty = paired_difference({0: 0.9}, {1: 0.7})
    assert empty.mean is None and empty.n == 0 and not empty.significant


@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=30),
    st.floats(0.5, 0.99),
)
def test_ci_contains_mean_and_grows_with_confidence(values: list[float], conf: float) -> None:
    est = mean_ci(values, conf)
    wider = mean_ci(values, min(conf + 0.009, 0.999))
    assert est.low is not None and est.high is not None and est.mean is not None
    assert est.low <= est.mean + 1e-9 and est.mean <= est.high + 1e-9
    assert wider.low is not None and wider.low <= est.low + 1e-9


def test_summarize_study_groups_compares_and_counts_failures() -> None:
    runs = [
        run("maxpool", 0, 0.92, 0.85),
        run("maxpool", 1, 0.93, 0.86),
        run("maxpool", 2, None),  # failed: excluded from the stats, counted
        run("conv1x1_s2", 0, 0.90, 0.70),
        run("conv1x1_s2", 1, 0.91, 0.72),
        run("conv1x1_s2", 2, 0.90, 0.71),
        run("blur", 0, None),
        run("conv1x1_s2", 0, 0.5, arch="wide"),  # another setting: its own group
    ]
    summary = summarize_study(runs)
    assert (summary.n_runs, summary.n_ok, summary.n_failed) == (8, 6, 2)
    assert [(r.op, r.arch) for r in summary.rows] == [
        ("conv1x1_s2", "cnn"),
        ("maxpool", "cnn"),
        ("blur", "cnn"),
        ("conv1x1_s2", "wide"),
    ]
    base, maxpool, blur, wide = summary.rows
    assert base.accuracy_vs_baseline is None and base.n == 3 and base.failed == 0
    assert maxpool.n == 2 and maxpool.failed == 1
    assert maxpool.accuracy.mean == pytest.approx(0.925)
    diff = maxpool.accuracy_vs_baseline
    assert diff is not None and diff.n == 2 and diff.mean == pytest.approx(0.02)
    cons = maxpool.consistency_vs_baseline
    assert cons is not None and cons.mean == pytest.approx(0.145)
    assert blur.n == 0 and blur.accuracy.mean is None and blur.failed == 1
    assert wide.accuracy.mean == 0.5 and wide.accuracy_vs_baseline is None
    assert {f.op for f in summary.failures} == {"maxpool", "blur"}
    assert summary.failures[0].error == "ValueError: diverged"
    text = json.dumps(summary.to_dict())  # JSON-ready all the way down
    assert '"not significant' in text or '"significant"' in text


def test_summary_without_baseline_runs_has_no_comparison() -> None:
    summary = summarize_study([run("maxpool", 0, 0.9), run("maxpool", 1, 0.91)], "conv1x1_s2")
    assert summary.rows[0].accuracy_vs_baseline is None
    assert summarize_study([]).rows == ()
