"""What a killed driver cannot do itself: stop the local Ray instance it started.

``ray.init()`` without an address starts a local instance from the driver: GCS server and
raylet die with the driver (Ray ties their fate to it), but measured on Ray 2.60 the raylet's
``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent`` outlive a driver killed with SIGKILL (still
there a minute later, orphaned to PID 1). So a study that starts a local instance starts a
reaper first (:func:`start_reaper`): a small standard-library process that notes, twice a
second, the Ray processes descending from the driver, and holds the read end of a pipe whose
write end only the driver has. When the pipe ends without the word ``done`` -- the driver died
without shutting Ray down -- it kills every process it noted that is still the same process
(same start time), and their children, then exits. After a normal ``ray.shutdown()`` the driver
says ``done`` (:meth:`Reaper.done`) and the reaper exits without touching anything.

The reaper runs :func:`main` in a new Python process (``python -c``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Reaper", "descendants", "start_reaper"]

_POLL_SECONDS = 0.5


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid``, or None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else (int(fields[1]), fields[19])


def descendants(roots: set[int]) -> dict[int, str]:
    """Every live process under ``roots`` (not the roots), with its start time."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    found: dict[int, str] = {}
    frontier = set(roots)
    while frontier:
        children = {pid for pid, (ppid, _) in table.items() if ppid in frontier}
        children -= found.keys() | roots
        found.update({pid: table[pid][1] for pid in children})
        frontier = children
    return found


def _is_ray(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return command.startswith(b"ray::") or b"/ray/" in command


def _reap(noted: dict[int, str]) -> None:
    for pid, started in {**noted, **descendants(set(noted))}.items():
        stat = _stat(pid)
        if stat is not None and stat[1] == started:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def main(driver: int) -> None:
    """Note the driver's Ray processes until the pipe on stdin ends; reap them unless told
    ``done``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    noted: dict[int, str] = {}
    said = b""
    while True:
        readable, _, _ = select.select([sys.stdin.buffer], [], [], _POLL_SECONDS)
        if readable:
            chunk = os.read(sys.stdin.fileno(), 64)
            said += chunk
            if not chunk:
                break
        if os.getppid() != driver:
            break
        found = descendants({driver})
        noted.update({pid: started for pid, started in found.items() if _is_ray(pid)})
    if b"done" not in said:
        _reap(noted)


class Reaper:
    """The driver's end of a reaper process."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def done(self) -> None:
        """Ray was shut down: let the reaper go without reaping."""
        stdin = self.process.stdin
        if stdin is not None:
            try:
                stdin.write(b"done")
                stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_reaper() -> Reaper | None:
    """Start a reaper for this driver's local Ray instance (None where /proc is missing)."""
    if not Path("/proc/self/stat").exists():
        return None
    code = f"from stridescope.study.reaper import main; main({os.getpid()})"
    command = [sys.executable, "-c", code]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, close_fds=True)
    return Reaper(process)
