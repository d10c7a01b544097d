"""Two studies on one OUT: the second stops at once naming the first (exit code 2), or with
--wait waits for it and trains only what it left; every run is trained once."""

from __future__ import annotations

import re

import pytest
from conftest import Bench, wait_for

from stridescope.study.lock import LOCK_FILE, holder

pytestmark = pytest.mark.slow


def test_a_second_study_stops_or_waits_and_no_run_is_trained_twice(bench: Bench) -> None:
    first = bench.start(("slow_a",), seeds=2, slow=0.4)  # runs of ~5 s
    lock = bench.out / LOCK_FILE
    wait_for(lambda: lock.exists() and holder(bench.out).pid == first.pid, 60, "the lock")
    at_once = bench.start(("slow_a",), seeds=2)
    waiting = bench.start(("slow_a",), "--wait", seeds=2)

    code, output = at_once.finish()
    assert code == 2, output
    line = output.strip()
    assert re.fullmatch(
        rf"error: another study is running on the output folder '{re.escape(str(bench.out))}' "
        rf"\(PID {first.pid}, started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); wait for it with "
        r"--wait, or give another --out",
        line,
    ), line
    assert first.process.poll() is None  # it stopped before the first study was done

    code, output = first.finish()
    assert code == 0, output
    code, output = waiting.finish()
    assert code == 0, output
    assert f"another study is running on OUT (PID {first.pid}, started " in output
    assert "2 of 2 runs already finished: skipped" in output
    assert len(bench.builds()) == 2  # each run trained once, by the first study
    assert len(bench.stored()) == 2
