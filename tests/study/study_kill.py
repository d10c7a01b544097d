"""Kill a running ``stridescope study`` process as the OOM killer or a scheduler would, once
its store holds a finished run (shared by the resume tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


def stored_runs(db: Path) -> int:
    """How many runs the store holds (0 while it is not there or is locked)."""
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def kill_after_first_run(args: list[str], db: Path, timeout: float = 120) -> None:
    """Start ``args``, wait until ``db`` holds a run, then SIGKILL the process; fails when the
    study ends first (nothing would be tested)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if db.is_file() and stored_runs(db) >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the study ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
