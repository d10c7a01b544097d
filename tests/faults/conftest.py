"""Helpers of the fault tests: start ``python -m stridescope study`` in a session of its own,
see what its workers build, list the processes of its session, read its store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS_FILE = Path(__file__).with_name("fault_ops.py")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 50 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``: the study's driver and everything it
    started, orphans included (a session id survives reparenting)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


@dataclass
class Study:
    """One ``stridescope study`` process (its own session: pid == session id)."""

    process: subprocess.Popen[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        """Wait for it to end; its exit code and its output (stdout and stderr)."""
        code = self.process.wait(timeout=timeout)
        return code, self.log.read_text(encoding="utf-8")

    def gone_within(self, seconds: float) -> list[int]:
        """Reap the driver, then wait up to ``seconds`` for its session to empty; what is left."""
        self.process.wait(timeout=seconds)
        deadline = time.monotonic() + seconds
        while (left := session_processes(self.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left


@dataclass
class Bench:
    """Where the studies of one test write: ``out`` (the study's OUT) and ``marks``."""

    out: Path
    marks: Path

    def start(self, ops: tuple[str, ...], *extra: str, seeds: int = 1, slow: float = 0.1) -> Study:
        args = ["--dataset", "digits", "--ops", ",".join(f"{OPS_FILE}:{op}" for op in ops)]
        args += ["--seeds", str(seeds), "--epochs", "1", "--workers", "2"]
        args += ["--out", str(self.out), *extra]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "KERAS_BACKEND": "torch",
            "FAULT_MARKS": str(self.marks),
            "FAULT_SLOW": str(slow),
            "COLUMNS": "150",
        }
        log = self.marks / f"study-{len(list(self.marks.glob('study-*.log')))}.log"
        with log.open("w", encoding="utf-8") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "stridescope", "study", *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        return Study(process, log)

    def builds(self) -> list[tuple[str, int]]:
        """(operator, worker pid) of every run started in a worker so far."""
        path = self.marks / "builds"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [(name, int(pid)) for name, pid in (line.split() for line in lines if line)]

    def stored(self) -> dict[str, tuple[str, str]]:
        """key -> (status, error) of every stored run, after ``PRAGMA integrity_check``."""
        with sqlite3.connect(self.out / "results.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = db.execute("SELECT key, op, status, error FROM runs").fetchall()
        keys = [key for key, *_ in rows]
        assert len(keys) == len(set(keys))
        return {
            key: (f"{op.rsplit(':', 1)[-1]} {status}", error) for key, op, status, error in rows
        }


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    marks = tmp_path / "marks"
    marks.mkdir()
    yield Bench(tmp_path / "out", marks)
