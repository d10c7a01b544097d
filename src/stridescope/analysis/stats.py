"""Statistics of a training study: means with Student-t confidence intervals, and paired
differences against a baseline operator (paired by seed: same seed, same data split and init).

>>> e = mean_ci([0.90, 0.91, 0.92])
>>> round(e.mean, 4), round(e.low, 4), round(e.high, 4), e.n
(0.91, 0.8852, 0.9348, 3)
>>> mean_ci([0.9]).note
'n=1: a confidence interval needs at least 2 values'
>>> d = paired_difference({0: 0.92, 1: 0.93, 2: 0.925}, {0: 0.90, 1: 0.905, 2: 0.90})
>>> round(d.mean, 4), d.n, d.significant, d.verdict
(0.0233, 3, True, 'significant')

Failed runs are left out of every statistic and counted apart. Nothing here imports the study
package: runs come in as :class:`stridescope.records.RunResult`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from stridescope.records import RunResult, plural

__all__ = [
    "DEFAULT_BASELINE",
    "Difference",
    "Estimate",
    "Failure",
    "OpRow",
    "StudySummary",
    "mean_ci",
    "paired_difference",
    "proportion_ci",
    "summarize_study",
]

DEFAULT_BASELINE = "conv1x1_s2"


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval; ``low``/``high`` are None when n < 2 (see ``note``)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float = 0.95
    note: str = ""

    @property
    def half_width(self) -> float | None:
        """Half the CI's width (the ``±`` value), or None."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """Mean paired difference (a − b) over shared seeds with its CI.

    ``significant`` is True only when the CI exists and excludes 0; ``verdict`` says it in words
    ("significant", "not significant", or why no verdict is possible).
    """

    mean: float | None
    low: float | None
    high: float | None
    n: int
    significant: bool
    verdict: str
    confidence: float = 0.95

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _t_quantile(confidence: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, dof))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean and two-sided Student-t confidence interval of independent values."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    data = [float(v) for v in values]
    n = len(data)
    if n == 0:
        return Estimate(None, None, None, 0, confidence, "no values")
    mean = math.fsum(data) / n
    if n == 1:
        note = "n=1: a confidence interval needs at least 2 values"
        return Estimate(mean, None, None, 1, confidence, note)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in data) / (n - 1))
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, confidence)


def _z_quantile(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1 + confidence) / 2))


def proportion_ci(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """A share of ``n`` independent yes/no outcomes with its Wilson score interval, which
    stays inside [0, 1] and keeps a width at 0% and 100% (where a t interval on the 0/1
    values collapses to a point).

    >>> e = proportion_ci(90, 100)
    >>> round(e.mean, 2), round(e.low, 4), round(e.high, 4)
    (0.9, 0.8256, 0.9448)
    >>> e = proportion_ci(50, 50)
    >>> e.mean, round(e.low, 4), e.high
    (1.0, 0.9287, 1.0)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    if n == 0:
        return Estimate(None, None, None, 0, confidence, "no values")
    z = _z_quantile(confidence)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return Estimate(share, max(0.0, centre - half), min(1.0, centre + half), n, confidence)


def paired_difference(
    a_by_seed: Mapping[int, float], b_by_seed: Mapping[int, float], confidence: float = 0.95
) -> Difference:
    """Mean of ``a[seed] − b[seed]`` over the seeds present in both, with a paired-t CI."""
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    est = mean_ci([a_by_seed[s] - b_by_seed[s] for s in seeds], confidence)
    if est.low is None or est.high is None:
        shared = plural(len(seeds), "shared seed")
        verdict = f"not significant ({shared}; a CI needs at least 2)"
        return Difference(est.mean, None, None, est.n, False, verdict, confidence)
    significant = est.low > 0 or est.high < 0
    verdict = "significant" if significant else "not significant"
    return Difference(est.mean, est.low, est.high, est.n, significant, verdict, confidence)


@dataclass(frozen=True)
class Failure:
    """A failed run and its reason."""

    key: str
    op: str
    arch: str
    dataset: str
    seed: int
    error: str


@dataclass(frozen=True)
class OpRow:
    """One operator in one setting (dataset, arch, epochs): its estimates and the comparison."""

    op: str
    arch: str
    dataset: str
    epochs: int
    n: int
    failed: int
    accuracy: Estimate
    consistency: Estimate
    params: int | None
    macs: int | None
    train_seconds: float | None
    images_per_second: float | None
    accuracy_vs_baseline: Difference | None
    consistency_vs_baseline: Difference | None


@dataclass(frozen=True)
class StudySummary:
    """Per-operator rows (baseline first in each setting), the failures, and the counts."""

    baseline: str
    confidence: float
    rows: tuple[OpRow, ...]
    failures: tuple[Failure, ...]
    n_runs: int
    n_ok: int
    n_failed: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: nested dicts and lists of plain values."""
        return asdict(self)

    @property
    def varied(self) -> str:
        """What the study swaps, as tables name it: ``"policy"`` when the runs train a user's
        model (a ``FILE.py:FACTORY`` or ``module:ATTR`` target) under fix policies,
        ``"operator"`` for a built-in architecture's slot."""
        archs = [row.arch for row in self.rows] + [failure.arch for failure in self.failures]
        return "policy" if archs and all(":" in arch for arch in archs) else "operator"


Setting = tuple[str, str, int]  # (dataset, arch, epochs)


def _by_seed(runs: Sequence[RunResult], metric: str) -> dict[int, float]:
    """Metric per seed; several runs with one seed (different configs) are averaged."""
    sums: dict[int, list[float]] = {}
    for run in runs:
        value = getattr(run, metric)
        if value is not None:
            sums.setdefault(run.seed, []).append(float(value))
    return {seed: math.fsum(v) / len(v) for seed, v in sums.items()}


def _mean(values: Sequence[float | int | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def _first(values: Sequence[int | None]) -> int | None:
    return next((v for v in values if v is not None), None)


def _row(
    op: str,
    setting: Setting,
    ok: Sequence[RunResult],
    failed: int,
    base: Sequence[RunResult] | None,
    confidence: float,
) -> OpRow:
    acc = _by_seed(ok, "test_accuracy")
    cons = _by_seed(ok, "consistency")
    vs_acc = vs_cons = None
    if base is not None:
        vs_acc = paired_difference(acc, _by_seed(base, "test_accuracy"), confidence)
        vs_cons = paired_difference(cons, _by_seed(base, "consistency"), confidence)
    return OpRow(
        op=op,
        arch=setting[1],
        dataset=setting[0],
        epochs=setting[2],
        n=len(ok),
        failed=failed,
        accuracy=mean_ci([r.test_accuracy for r in ok if r.test_accuracy is not None], confidence),
        consistency=mean_ci([r.consistency for r in ok if r.consistency is not None], confidence),
        params=_first([r.params for r in ok]),
        macs=_first([r.macs for r in ok]),
        train_seconds=_mean([r.train_seconds for r in ok]),
        images_per_second=_mean([r.images_per_second for r in ok]),
        accuracy_vs_baseline=vs_acc,
        consistency_vs_baseline=vs_cons,
    )


def summarize_study(
    runs: Sequence[RunResult], baseline: str = DEFAULT_BASELINE, confidence: float = 0.95
) -> StudySummary:
    """Group runs by (dataset, arch, epochs, op); estimate each metric; compare with baseline.

    Rows come baseline first, then the other operators in the order they first appear. An
    operator whose runs all failed still gets a row (n=0) so the failure is visible.
    """
    groups: dict[Setting, dict[str, list[RunResult]]] = {}
    for run in runs:
        setting = (run.dataset, run.arch, run.epochs)
        groups.setdefault(setting, {}).setdefault(run.op, []).append(run)
    rows: list[OpRow] = []
    for setting, by_op in groups.items():
        ok_by_op = {op: [r for r in rs if r.ok] for op, rs in by_op.items()}
        base = ok_by_op.get(baseline) or None
        order = sorted(by_op, key=lambda op: op != baseline)  # stable: baseline first
        for op in order:
            compare_to = base if op != baseline else None
            failed = sum(1 for r in by_op[op] if not r.ok)
            rows.append(_row(op, setting, ok_by_op[op], failed, compare_to, confidence))
    failures = tuple(
        Failure(r.key, r.op, r.arch, r.dataset, r.seed, r.error) for r in runs if not r.ok
    )
    n_ok = sum(1 for r in runs if r.ok)
    return StudySummary(
        baseline, confidence, tuple(rows), failures, len(runs), n_ok, len(runs) - n_ok
    )
