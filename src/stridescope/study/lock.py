"""One study per output folder at a time, and a folder checked before any training.

:func:`study_lock` holds an exclusive ``flock`` on ``OUT/study.lock`` for the life of a study;
the file says who holds it (PID and start time). A second study on the same folder stops at
once with a one-line :class:`StudyBusyError` naming the first, or, with ``wait=True``, waits
for it and then trains only what the first left (the runs it finished are in the store). The
kernel drops a lock when its process ends, however it ends, so a lock left by a killed study
never blocks the next one. The lock is per process and re-entrant: ``run_study`` takes it
again under a caller (the CLI) that already holds it.

:func:`check_writable` writes and removes a probe file, so a read-only folder or a full disk
is refused before the first run, with the path and the reason.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as out:
...     check_writable(Path(out))
...     with study_lock(Path(out)):
...         holder(Path(out)).pid == os.getpid()
True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stridescope.errors import StridescopeError

__all__ = [
    "LOCK_FILE",
    "Holder",
    "StudyBusyError",
    "check_writable",
    "holder",
    "study_lock",
]

LOCK_FILE = "study.lock"
_held: dict[Path, int] = {}  # folders whose lock this process holds -> how many holders


class StudyBusyError(StridescopeError):
    """Another study is running on the same output folder."""


@dataclass(frozen=True)
class Holder:
    """Who holds a folder's lock, as its lock file says (``pid`` 0 when it says nothing)."""

    pid: int
    started: str

    def __str__(self) -> str:
        if not self.pid:
            return "a study whose PID is not known yet"
        return f"PID {self.pid}, started {self.started}"


def holder(out: Path) -> Holder:
    """What ``OUT/study.lock`` says about the study holding it."""
    try:
        text = (out / LOCK_FILE).read_text(encoding="utf-8")
    except OSError:
        return Holder(0, "")
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    pid = fields.get("pid", "0")
    return Holder(int(pid) if pid.isdigit() else 0, fields.get("started", "?"))


def _holder_soon(out: Path, seconds: float = 1.0) -> Holder:
    """The holder, allowing a study that has just taken the lock a moment to write its name."""
    deadline = time.monotonic() + seconds
    found = holder(out)
    while not found.pid and time.monotonic() < deadline:
        time.sleep(0.05)
        found = holder(out)
    return found


def check_writable(out: Path) -> None:
    """Write, flush to disk and remove a probe file in ``out``; a one-line error naming the
    folder and the reason (read-only, no space left, ...) when that fails."""
    probe = out / f".stridescope-probe-{os.getpid()}"
    try:
        with probe.open("wb") as file:
            file.write(b"stridescope checks this folder can be written\n")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as error:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise StridescopeError(
            f"cannot write in the output folder (out) {str(out)!r}: {error.strerror or error}"
        ) from None


def _busy(out: Path, found: Holder) -> str:
    return (
        f"another study is running on the output folder {str(out)!r} ({found}); wait for it "
        "with --wait, or give another --out"
    )


@contextlib.contextmanager
def study_lock(
    out: Path, *, wait: bool = False, on_wait: Callable[[Holder], None] | None = None
) -> Iterator[None]:
    """Hold ``OUT/study.lock`` for the block. Busy: raise :class:`StudyBusyError`, or with
    ``wait`` call ``on_wait`` with the :class:`Holder`, then block until the lock is free."""
    key = out.resolve()
    if key in _held:  # this process holds it already
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            found = _holder_soon(out)
            if not wait:
                raise StudyBusyError(_busy(out, found)) from None
            if on_wait is not None:
                on_wait(found)
            fcntl.flock(fd, fcntl.LOCK_EX)  # a signal (Ctrl-C, SIGTERM) still ends the wait
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\nstarted {started}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
