"""The collector is paused for the summary, lint and coverage calls and always resumed as it
was: after errors, when pauses nest or overlap in threads, and not at all when it was off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


class Watch(nn.Module):
    """Records whether the collector ran while its forward was traced."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[bool] = []

    def forward(self, x: object) -> object:
        self.seen.append(gc.isenabled())
        return self.conv(x)


def test_public_calls_pause_the_collector_and_resume_it() -> None:
    model = Watch()
    stridescope.summary(model, (1, 3, 8, 8))
    stridescope.lint(model, (1, 3, 8, 8))
    stridescope.coverage(model, (1, 3, 8, 8))
    assert model.seen and not any(model.seen)
    assert gc.isenabled()


def test_resumed_after_an_error() -> None:
    with pytest.raises(StridescopeError):
        stridescope.summary(Watch(), (1, 5, 8, 8))  # five channels for a 3-channel conv
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    stridescope.summary(Watch(), (1, 3, 8, 8))
    assert not gc.isenabled()


def test_nested_pauses_resume_once_at_the_end() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_resume_when_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states: list[bool] = []

    def first() -> None:
        with gc_paused():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with gc_paused():
            second_in.set()
            first_out.wait()
            states.append(gc.isenabled())  # the first pause ended: still paused for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert states == [False]
    assert gc.isenabled()


class Scaled(nn.Module):
    """A block computing on its own parameter alone (the parameter mode runs that on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.log_gain = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x) * self.log_gain.exp()


def test_a_summary_leaves_nothing_for_the_collector() -> None:
    """Everything a trace and a summary make dies by reference counting when the call
    returns: no reference cycle (a nested function calling itself, the parameter mode and
    the tracer referring to each other) leaves the graph for the collector to find."""
    model = nn.Sequential(*[Scaled() for _ in range(4)], nn.Sequential(nn.Linear(8, 2)))
    for _ in range(3):  # block copies learn over the first traces
        stridescope.summary(model, (1, 5, 8))
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        stridescope.summary(model, (1, 5, 8))
        stridescope.lint(model, (1, 5, 8))
        assert gc.collect() == 0, sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
