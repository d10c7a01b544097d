"""How close ``stridescope.summary`` is to running the model at all: per zoo model, its time
against the model's own eager forward (``torch.no_grad``, 1 thread) at the smallest square
input the model takes (8, 16, 32... pixels up to its own size), where the kernels cost least
and what is left is the forward's Python and torch's dispatch of each op; and against
torchinfo (a forward at the model's own size, with a hook per module).

A summary runs the model's forward once, its ops read by the tracer instead of computed, so
the eager forward at a tiny input is a floor that tracing can approach but hardly pass; the
``10x needs`` column is the summary time that 10x torchinfo asks for, beside that floor.

    .venv/bin/python bench/forward_floor.py [--models lcnet_050,levit_128s] [--repeats 9]

Needs the same packages as ``bench/zoo.py``. Reports only; no goal of its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import cpu_median, zoo_entries
from zoo_models import ZooModel

import stridescope

SIDES = (8, 16, 32, 64, 128)


def smallest_forward(
    model: torch.nn.Module, shape: tuple[int, ...], repeats: int
) -> tuple[int, float]:
    """The smallest side the model takes and its eager forward's time there (seconds)."""
    for side in (*SIDES, shape[-1]):
        if side > shape[-1]:
            break
        x = torch.zeros(*shape[:-2], side, side)
        try:
            with torch.no_grad():
                model(x)
        except Exception:  # too small for this model: a fixed grid, a window larger than it
            continue
        with torch.no_grad():
            return side, cpu_median(lambda x=x: model(x), repeats)
    raise RuntimeError("the model takes none of the sides tried")


def row(entry: ZooModel, repeats: int) -> str:
    import torchinfo

    torch.manual_seed(0)
    model = entry.build().eval()
    shape = entry.input_shape
    ours = cpu_median(lambda: stridescope.summary(model, input_shape=shape), repeats)
    info = cpu_median(lambda: torchinfo.summary(model, input_size=shape, verbose=0), repeats)
    side, floor = smallest_forward(model, shape, repeats)
    return (
        f"{entry.name:24s} {1e3 * ours:8.2f} {1e3 * info:9.1f} {info / ours:6.1f}x "
        f"{1e3 * info / 10:9.2f} {side:5d} {1e3 * floor:8.2f} {ours / floor:6.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated zoo names (default all)")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("thread CPU ms, medians; floor: the eager forward at the smallest side it takes")
    print(
        f"{'model':24s} {'summary':>8s} {'torchinfo':>9s} {'ratio':>7s} {'10x needs':>9s} "
        f"{'side':>5s} {'floor':>8s} {'summary/floor':>6s}"
    )
    for entry in zoo_entries(args.models):
        print(row(entry, args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
