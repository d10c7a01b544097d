"""Summary speed on ResNet-50, measured as ratios in one process (1 thread, medians of repeats).

Goals (issue 3, item 7): at 1x3x224x224 at least 10x faster than ``torchinfo.summary``; our own
time at 1x3x2048x2048 at most 1.5x our time at 224x224. Exits 1 if a goal is missed.

    .venv/bin/python bench/summary_speed.py [--repeats 15]

``timed_summary`` is the one call that is timed: the whole ``stridescope.summary``. The three
calls are timed in rounds, thread CPU time (``zoo.rounds_medians``): our 224² summary three
times, then our 2048² one and torchinfo's once each, so a slow phase of a busy machine falls on
all of them alike (timed one after the other, such a phase once put a 1.69x on the 2048²/224²
ratio, where the same code measured 0.95x and 1.43x minutes later). The ResNet-50
is hand-written in ``tests/frontends/pytorch/resnet_models.py`` (torchvision layout); torchinfo
is only needed here (``pip install torchinfo``, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "frontends" / "pytorch"))
from resnet_models import resnet50

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import rounds_medians

from stridescope.api import summary

SPEEDUP_GOAL = 10.0
SCALING_GOAL = 1.5


def timed_summary(model: torch.nn.Module, shape: tuple[int, ...]) -> Any:
    """The call under test: the whole ``stridescope.summary`` (trace, rows, receptive
    fields and input coverage), as a user calls it."""
    return summary(model, input_shape=shape)


def torchinfo_summary(model: torch.nn.Module, shape: tuple[int, ...]) -> Any:
    import torchinfo

    return torchinfo.summary(model, input_size=shape, verbose=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    if importlib.util.find_spec("torchinfo") is None:
        print("torchinfo is not installed: run `make bench` (or pip install -e '.[bench]')")
        return 2
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = resnet50().eval()
    small, large = (1, 3, 224, 224), (1, 3, 2048, 2048)

    times = rounds_medians(
        lambda: timed_summary(model, small),
        {
            "large": lambda: timed_summary(model, large),
            "torchinfo": lambda: torchinfo_summary(model, small),
        },
        repeats,
    )
    ours, ours_large, theirs = (times[k] for k in ("stridescope", "large", "torchinfo"))
    if ours is None or ours_large is None or theirs is None:
        print(f"a call failed: {', '.join(k for k, v in times.items() if v is None)}")
        return 1
    speedup, scaling = theirs / ours, ours_large / ours

    print(f"ResNet-50, 1 thread, thread CPU medians of {max(3, repeats // 2)} rounds")
    print(f"  stridescope at 224x224     {ours * 1e3:8.2f} ms")
    print(f"  torchinfo   at 224x224     {theirs * 1e3:8.2f} ms")
    print(f"  stridescope at 2048x2048   {ours_large * 1e3:8.2f} ms")
    print(f"  speed-up vs torchinfo      {speedup:8.1f}x   (goal >= {SPEEDUP_GOAL:g}x)")
    print(f"  2048² time / 224² time     {scaling:8.2f}x   (goal <= {SCALING_GOAL:g}x)")
    missed = [
        text
        for text, ok in (
            ("speed-up vs torchinfo", speedup >= SPEEDUP_GOAL),
            ("2048/224 time ratio", scaling <= SCALING_GOAL),
        )
        if not ok
    ]
    if missed:
        print(f"goal missed: {', '.join(missed)}")
        return 1
    print("all goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
