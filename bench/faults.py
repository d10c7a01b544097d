"""Faults never leave a mess: issue 15's "Done when" checks, each repeated, N of M printed.

Each check runs real ``python -m stridescope study`` processes (digits, seed-cnn, 1 epoch, two
runs of operators from tests/faults/fault_ops.py that sleep per batch so a run lasts a few
seconds) in a session of their own, and injects its fault at a random moment:

* ``worker``: SIGKILL one worker process while it trains (chosen at random, at a random point
  of its run). Passes when the study exits 0 with no traceback, both runs stored once and ok
  (the killed one retried), the store intact, and no process of the study left.
* ``driver``: SIGKILL or SIGTERM (random) to the driver at a random point. Passes when nothing
  of the study is alive 5 s later, SIGTERM gave exit code 143 (or 0 if it had finished), and a
  rerun exits 0 with both runs stored once, trained once in all (killed runs aside), store
  intact.
* ``two``: two studies started together on one OUT, both with ``--wait``. Passes when
  both exit 0, the second trained nothing (``already finished: skipped``) and every run was
  trained exactly once.

    .venv/bin/python bench/faults.py [--repeats 10] [--executor local|ray] [--checks worker,driver,two]
        [--signal random|SIGKILL|SIGTERM]

Exits 1 when any repeat failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))

from conftest import Bench, session_processes

OPS = ("slow_a", "slow_b")


class CheckFailed(Exception):
    """A repeat that did not pass; the message says why."""


def _expect(condition: bool, why: str) -> None:
    if not condition:
        raise CheckFailed(why)


def _poll(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise CheckFailed(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def _all_stored_ok(bench: Bench) -> None:
    statuses = sorted(status for status, _ in bench.stored().values())  # integrity checked
    _expect(statuses == ["slow_a ok", "slow_b ok"], f"stored: {statuses}")


def check_worker(bench: Bench, extra: tuple[str, ...]) -> str:
    study = bench.start(OPS, *extra, slow=0.2)
    _poll(lambda: bool(bench.builds()), 180, "a run started")
    op, victim = random.choice(bench.builds())
    time.sleep(random.uniform(0, 2.0))  # a run trains for >= 2.4 s
    os.kill(victim, signal.SIGKILL)
    code, output = study.finish(timeout=300)
    _expect(code == 0, f"exit code {code}: {output[-500:]}")
    _expect("Traceback" not in output, "a traceback")
    _all_stored_ok(bench)
    _expect(study.gone_within(5) == [], "processes left")
    return f"killed {op}'s worker; {op} trained {[n for n, _ in bench.builds()].count(op)}x"


SIGNALS = [signal.SIGKILL, signal.SIGTERM]  # the driver check picks one at random


def check_driver(bench: Bench, extra: tuple[str, ...]) -> str:
    signum = random.choice(SIGNALS)
    study = bench.start(OPS, *extra, slow=0.2)
    _poll(lambda: bool(bench.builds()) or study.process.poll() is not None, 180, "a run")
    time.sleep(random.uniform(0, 3.0))
    os.kill(study.pid, signum)
    study.process.wait(timeout=60)
    time.sleep(5)
    left = session_processes(study.pid)
    _expect(left == [], f"{signum.name}: alive 5 s later: {left}")
    code = study.process.returncode
    wanted = (-signal.SIGKILL,) if signum == signal.SIGKILL else (143, 0)
    _expect(code in wanted, f"{signum.name}: exit code {code}")
    code, output = bench.start(OPS, *extra).finish(timeout=300)
    _expect(code == 0, f"rerun: exit code {code}: {output[-500:]}")
    _all_stored_ok(bench)
    return f"{signum.name}, rerun ok"


def check_two(bench: Bench, extra: tuple[str, ...]) -> str:
    first = bench.start(OPS, *extra, "--wait", slow=0.2)
    second = bench.start(OPS, *extra, "--wait", slow=0.2)
    codes = [first.finish(timeout=300), second.finish(timeout=300)]
    _expect([code for code, _ in codes] == [0, 0], f"exit codes {[c for c, _ in codes]}")
    skipped = [("2 of 2 runs already finished: skipped" in output) for _, output in codes]
    _expect(sorted(skipped) == [False, True], f"which one skipped: {skipped}")
    builds = sorted(name for name, _ in bench.builds())
    _expect(builds == ["slow_a", "slow_b"], f"trained: {builds}")
    _all_stored_ok(bench)
    return "one trained both runs, the other waited"


CHECKS = {"worker": check_worker, "driver": check_driver, "two": check_two}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--checks", default="worker,driver,two")
    parser.add_argument("--signal", choices=("random", "SIGKILL", "SIGTERM"), default="random")
    args = parser.parse_args()
    if args.signal != "random":
        SIGNALS[:] = [signal.Signals[args.signal]]
    extra = ("--executor", "ray") if args.executor == "ray" else ()
    failures = 0
    for name in args.checks.split(","):
        passed = 0
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as folder:
                bench = Bench(Path(folder) / "out", Path(folder) / "marks")
                bench.marks.mkdir()
                start = time.perf_counter()
                try:
                    note = CHECKS[name](bench, extra)
                    passed += 1
                    verdict = f"pass ({note})"
                except CheckFailed as error:
                    verdict = f"FAIL: {error}"
                except Exception:  # a bug in the bench itself: show it, count a failure
                    verdict = f"FAIL: {traceback.format_exc(limit=3)}"
                seconds = time.perf_counter() - start
                print(
                    f"{args.executor} {name} {repeat + 1}: {verdict} [{seconds:.0f} s]", flush=True
                )
        failures += args.repeats - passed
        print(f"== {args.executor} {name}: {passed} of {args.repeats} passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
