"""Will a study's runs fit in memory? An estimate checked before the first run.

Training one model with Adam holds, per run: the parameters, their gradients and Adam's two
moment buffers (4 x the parameters' bytes); the activations autograd keeps for the backward
pass and their gradients (2 x the float32 bytes of every layer's output, from the IR, times
the batch size); and the train and test images on the device. Runs in parallel each hold
their own. :func:`check_memory` refuses a study whose estimate exceeds what the device has
free, naming both numbers, instead of an out-of-memory crash mid-study.

>>> need = TrainingMemory(params=1_000_000, activation_bytes=800_000, batch_size=128,
...                       data_bytes=16_000_000, workers=2)
>>> need.total, need.text()
(473600000, '473.6 MB (2 runs x (params, grads and Adam state 16.0 MB + activations 204.8 MB at batch 128 + images 16.0 MB))')
>>> check_memory(need, available=200_000_000, where="RAM")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: the study needs about 473.6 MB (2 runs x ...) but the RAM has 200.0 MB free; ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stridescope.errors import StridescopeError

__all__ = ["TrainingMemory", "available_memory", "check_memory", "megabytes"]

_OPTIMIZER_COPIES = 4  # parameters, gradients, Adam's first and second moments
_ACTIVATION_COPIES = 2  # outputs kept for backward, and their gradients


def megabytes(n: int) -> str:
    """Bytes as decimal megabytes (or gigabytes from 10 GB), one decimal.

    >>> megabytes(1_500_000), megabytes(12_345_000_000)
    ('1.5 MB', '12.3 GB')
    """
    return f"{n / 1e9:.1f} GB" if n >= 10**10 else f"{n / 1e6:.1f} MB"


@dataclass(frozen=True)
class TrainingMemory:
    """The bytes a study's runs hold at once: ``params`` (count), ``activation_bytes`` (all
    layer outputs of one image, float32), ``batch_size``, ``data_bytes`` (train and test
    images of one run) and ``workers`` (runs at once)."""

    params: int
    activation_bytes: int
    batch_size: int
    data_bytes: int
    workers: int

    @property
    def state_bytes(self) -> int:
        """Parameters, gradients and Adam's state of one run (float32)."""
        return _OPTIMIZER_COPIES * 4 * self.params

    @property
    def batch_activation_bytes(self) -> int:
        """Activations and their gradients of one training step."""
        return _ACTIVATION_COPIES * self.activation_bytes * self.batch_size

    @property
    def total(self) -> int:
        """All runs at once."""
        per_run = self.state_bytes + self.batch_activation_bytes + self.data_bytes
        return self.workers * per_run

    def text(self) -> str:
        """The estimate and its parts, in words."""
        runs = f"{self.workers} runs x " if self.workers > 1 else ""
        return (
            f"{megabytes(self.total)} ({runs}(params, grads and Adam state "
            f"{megabytes(self.state_bytes)} + activations "
            f"{megabytes(self.batch_activation_bytes)} at batch {self.batch_size} + images "
            f"{megabytes(self.data_bytes)}))"
        )


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory(device: str = "cpu") -> int | None:
    """Bytes free for a study's runs on ``device``: for the CPU, the memory the OS says is
    available (``MemAvailable``, else free pages); for CUDA, the device's free memory.
    ``None`` where it cannot be told."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError, ValueError):
            return None
    if device != "cpu":
        return None
    free = _meminfo_available()
    if free is not None:
        return free
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf
        return None


def check_memory(need: TrainingMemory, available: int | None, where: str) -> None:
    """Refuse a study whose runs need more than ``available`` bytes (``None``: not checked)."""
    if available is None or need.total <= available:
        return
    raise StridescopeError(
        f"the study needs about {need.text()} but the {where} has {megabytes(available)} free; "
        "use a smaller batch size, image size or fewer workers"
    )
