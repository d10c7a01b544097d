"""What ends the processes a dead driver leaves: a worker's parent-death watch (the kernel's
signal on Linux, and the polling fallback alone), and the reaper of a local Ray instance,
which ends the driver's Ray processes and nothing else. No torch: each test takes seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, session_processes, wait_for

# A driver that starts a child watching it, prints the child's pid, then waits to be killed.
DRIVER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(600)
"""
CHILD = """
import os, time
import stridescope.study.lifeline as lifeline
if {fallback_only}:
    lifeline.set_parent_death_signal = lambda signum=9: False
lifeline.die_with_parent(os.getppid(), poll_seconds={poll})
print("watching", flush=True)
time.sleep(600)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize(("fallback_only", "poll"), [(False, 600), (True, 0.2)])
def test_a_worker_dies_with_its_driver(fallback_only: bool, poll: float) -> None:
    child = CHILD.format(fallback_only=fallback_only, poll=poll)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, child],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert driver.stdout is not None
    pid = int(driver.stdout.readline())
    assert driver.stdout.readline() == "watching\n"  # the child (sharing the pipe) is armed
    assert _alive(pid)
    driver.kill()
    driver.wait()
    wait_for(lambda: not _alive(pid), 3, f"the child {pid} ends with its driver")
    assert session_processes(driver.pid) == []


# A driver that starts a reaper, a "Ray" process (a sleep whose path has /ray/ in it) and a
# process of its own, then waits to be killed.
RAY_DRIVER = """
import subprocess, sys, time
from stridescope.study.reaper import start_reaper
reaper = start_reaper()
ray = subprocess.Popen([sys.argv[1], "600"])
other = subprocess.Popen(["sleep", "600"])
print(reaper.process.pid, ray.pid, other.pid, flush=True)
time.sleep(600)
"""


def test_the_reaper_ends_the_ray_processes_of_a_killed_driver_and_nothing_else(
    tmp_path: Path,
) -> None:
    fake_ray = tmp_path / "ray" / "sleep"
    fake_ray.parent.mkdir()
    fake_ray.symlink_to("/bin/sleep")
    driver = subprocess.Popen(
        [sys.executable, "-c", RAY_DRIVER, str(fake_ray)],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert driver.stdout is not None
    reaper, ray, other = (int(pid) for pid in driver.stdout.readline().split())
    # The reaper notes what runs under the driver twice a second, once it has started (a
    # Python start-up): nothing outside it can see when it has, so allow it a few seconds.
    time.sleep(3)
    driver.kill()
    driver.wait()
    wait_for(lambda: not _alive(ray) and not _alive(reaper), 3, "the Ray process reaped")
    assert _alive(other)  # not a Ray process: left alone
    os.kill(other, signal.SIGKILL)
    wait_for(lambda: session_processes(driver.pid) == [], 3, "the session empty")
