"""Latency of an operator: forward and forward+backward, median and IQR, on a device.

Timed with :class:`torch.utils.benchmark.Timer` (which synchronises CUDA) in 15 equal blocks;
the median and interquartile range are over the blocks, per call. The forward+backward
step computes the gradients of the input and of every parameter
with :func:`torch.autograd.grad` (no accumulation into ``.grad``), as a layer in the middle
of a network does.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils import benchmark

from stridescope.errors import StridescopeError

__all__ = ["DEVICES", "Latency", "Timing", "check_device", "measure_latency", "time_fn"]

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of one timed statement, in milliseconds."""

    median_ms: float
    iqr_ms: float
    runs: int  #: timed blocks

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Latency:
    """Forward and forward+backward timings of one operator on one device."""

    device: str
    forward: Timing
    forward_backward: Timing

    def to_dict(self) -> dict[str, object]:
        return asdict(self)  # nested: {"device", "forward": {...}, "forward_backward": {...}}


def check_device(device: str) -> torch.device:
    """The torch device for ``device`` ('cpu' or 'cuda'), or a one-line error.

    >>> check_device("cpu")
    device(type='cpu')
    """
    if device not in DEVICES:
        raise StridescopeError(f"device must be one of {', '.join(DEVICES)}; received {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise StridescopeError("device 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


def time_fn(fn: Callable[[], object], min_run_time: float, blocks: int = 15) -> Timing:
    """Median and IQR of one call of ``fn()``: ``blocks`` timed blocks of equal size that
    together last about ``min_run_time`` seconds (after a warm-up and a size estimate).

    >>> time_fn(lambda: None, 0.001).runs
    15
    """
    fn()  # warm-up (allocator, lazy init)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    estimate = max(timer.timeit(number=3).median, 1e-7)
    number = max(1, round(min_run_time / blocks / estimate))
    times = sorted(timer.timeit(number=number).median for _ in range(blocks))
    quartiles = statistics.quantiles(times, n=4)
    return Timing(statistics.median(times) * 1e3, (quartiles[2] - quartiles[0]) * 1e3, blocks)


def forward_backward(op: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """A closure running forward, then backward to the input and every parameter."""
    inputs = [x, *(p for p in op.parameters() if p.requires_grad)]
    grad = torch.ones_like(op(x))

    def step() -> object:
        return torch.autograd.grad(op(x), inputs, grad)

    return step


def measure_latency(op: nn.Module, x: torch.Tensor, min_run_time: float = 0.05) -> Latency:
    """Time a copy of ``op`` moved to ``x.device`` (``op`` itself stays where it is)."""
    op = copy.deepcopy(op).to(x.device)
    with torch.no_grad():
        fwd = time_fn(lambda: op(x), min_run_time)
    xg = x.detach().requires_grad_(True)
    both = time_fn(forward_backward(op, xg), min_run_time)
    return Latency(str(x.device.type), fwd, both)
