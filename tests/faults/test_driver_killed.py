"""The driver killed at a random point, with SIGKILL and then with SIGTERM: nothing of the
study is alive 5 s later, SIGTERM ends it like Ctrl-C (one line, exit code 143), the lock it
held does not block the next study, and a rerun trains only the rest: every planned run stored
once, the store intact."""

from __future__ import annotations

import os
import random
import re
import signal
import time

import pytest
from conftest import Bench, wait_for

pytestmark = pytest.mark.slow

OPS = ("slow_a", "slow_b")


def _kill_at_random(bench: Bench, signum: signal.Signals) -> tuple[int, str]:
    before = len(bench.builds())
    study = bench.start(OPS, seeds=1)
    wait_for(lambda: len(bench.builds()) > before or study.process.poll() is not None, 90, "a run")
    time.sleep(random.uniform(0, 1.5))
    os.kill(study.pid, signum)
    left = study.gone_within(5)
    assert left == [], f"{signum.name}: still alive 5 s later: {left}"
    return study.finish(timeout=1)


def test_a_killed_driver_leaves_nothing_and_a_rerun_trains_only_the_rest(bench: Bench) -> None:
    code, output = _kill_at_random(bench, signal.SIGKILL)
    assert code == -signal.SIGKILL

    code, output = _kill_at_random(bench, signal.SIGTERM)  # the lock above did not block this
    assert code in (143, 0), output  # 0: it finished first
    assert "Traceback" not in output
    if code == 143:
        assert output.strip().endswith(
            "terminated (SIGTERM): the finished runs are kept; run the same command again "
            "to train the rest"
        )
    stored_before = len(bench.stored()) if (bench.out / "results.sqlite").exists() else 0

    code, output = bench.start(OPS, seeds=1).finish()
    assert code == 0, output
    stored = bench.stored()
    assert sorted(status for status, _ in stored.values()) == ["slow_a ok", "slow_b ok"]
    # only the rest trained (a single run left trains in the driver, where fault_ops notes
    # no build: so the study's own count is what tells)
    counts = re.search(r"(\d+) runs? trained, (\d+) skipped, 0 failed", output)
    assert counts is not None, output
    assert (int(counts[1]), int(counts[2])) == (2 - stored_before, stored_before)
