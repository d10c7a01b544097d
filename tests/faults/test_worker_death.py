"""A worker killed mid-run (as the out-of-memory killer does) costs one retry of its run in a
fresh worker; a run whose worker dies every time ends ``failed`` with how it died; the study
finishes with its table and exit code 1, no traceback, nothing of it left running."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from conftest import Bench, wait_for

pytestmark = pytest.mark.slow


def test_a_killed_worker_is_retried_and_one_that_keeps_dying_is_a_failed_run(
    bench: Bench,
) -> None:
    study = bench.start(("slow_a", "slow_b", "dies"), slow=0.1)  # a slow run lasts >= 1.2 s
    wait_for(lambda: any(op.startswith("slow") for op, _ in bench.builds()), 90, "a slow run")
    op, victim = next((op, pid) for op, pid in bench.builds() if op.startswith("slow"))
    time.sleep(random.uniform(0, 0.8))  # somewhere in its training
    os.kill(victim, signal.SIGKILL)
    code, output = study.finish()

    assert code == 1, output  # a run failed
    assert "Traceback" not in output
    assert "3 runs trained, 0 skipped, 1 failed" in output
    stored = bench.stored()
    assert sorted(status for status, _ in stored.values()) == [
        "dies failed",
        "slow_a ok",
        "slow_b ok",
    ]
    assert [error for status, error in stored.values() if status == "dies failed"] == [
        "worker died: signal 9 (SIGKILL) - out of memory?"
    ]
    builds = [name for name, _ in bench.builds()]
    assert builds.count(op) == 2  # the killed run, then its retry in a fresh worker
    assert builds.count("dies") == 2  # once, then once more: no third try
    assert study.gone_within(5) == []
