"""Operators for the fault tests and bench/faults.py, given to a study as ``FILE.py:FACTORY``.

Each is a 1x1 stride-2 conv. In a worker (a pool process or a Ray task, not the driver -- which
builds each operator once to check it fits the slot, and leads its own session), every build appends ``FACTORY PID`` to
``$FAULT_MARKS/builds``: one line per run started, so a test sees which worker holds which run
and how often each run was trained in a worker (a study with one
run left trains it in the driver itself, where nothing is noted). ``slow_*`` sleep ``$FAULT_SLOW`` seconds per training
batch (a run lasts long enough to be killed mid-way whatever the load); ``dies`` kills its own
worker with SIGKILL, as the out-of-memory killer would, every time.
"""

from __future__ import annotations

import os
import signal
import time

import torch
from torch import nn


class _Slow(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            time.sleep(float(os.environ.get("FAULT_SLOW", "0")))
        return super().forward(x)


def _in_worker(name: str) -> bool:
    """Note this build when it happens in a worker; False in the driver."""
    if os.getpid() == os.getsid(0):  # the driver: the tests start it in a session of its own
        return False
    marks = os.environ.get("FAULT_MARKS")
    if marks:
        with open(os.path.join(marks, "builds"), "a", encoding="utf-8") as file:
            file.write(f"{name} {os.getpid()}\n")
    return True


def slow_a(cin: int, cout: int) -> nn.Module:
    _in_worker("slow_a")
    return _Slow(cin, cout, 1, stride=2)


def slow_b(cin: int, cout: int) -> nn.Module:
    _in_worker("slow_b")
    return _Slow(cin, cout, 1, stride=2)


def dies(cin: int, cout: int) -> nn.Module:
    if _in_worker("dies"):
        os.kill(os.getpid(), signal.SIGKILL)
    return nn.Conv2d(cin, cout, 1, stride=2)
