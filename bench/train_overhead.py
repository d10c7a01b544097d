"""Does the study's training loop cost more than a plain hand-written PyTorch loop?

One process, one thread, the same model (seed-cnn with conv1x1_s2, same initial weights), the
same data (mnist5k train split) and the same batches in the same order. Each repeat trains one
epoch with each loop (alternating which goes first); the score is the ratio of the median
images/s. Exits 1 when the study's loop reaches less than 0.95 of the plain loop.

    .venv/bin/python bench/train_overhead.py [--repeats 5] [--epochs 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from torch import nn

from stridescope.study.archs import ArchInput, build_model
from stridescope.study.data import load_dataset
from stridescope.study.train import TrainOptions, batch_order, train_model

THRESHOLD = 0.95


def plain_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, options: TrainOptions) -> float:
    """The reference: the loop anyone would write by hand. Returns seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    model.train()
    start = time.perf_counter()
    for batches in batch_order(len(x), options.batch_size, options.epochs, options.seed):
        for index in batches:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def study_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, options: TrainOptions) -> float:
    """The study's loop (stridescope.study.train.train_model). Returns seconds."""
    return train_model(model, x, y, options).seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist5k", seed=0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    initial = build_model(
        ArchInput("conv1x1_s2", data.input_shape, data.num_classes, 0), "seed-cnn"
    )
    options = TrainOptions(epochs=args.epochs, batch_size=128, lr=1e-3, seed=0)
    images = len(x) * args.epochs
    loops = {"plain": plain_loop, "study": study_loop}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    warm = copy.deepcopy(initial)
    plain_loop(warm, x[:1024], y[:1024], options)  # warm up allocator and kernels
    for repeat in range(args.repeats):
        order = ("plain", "study") if repeat % 2 == 0 else ("study", "plain")
        for name in order:
            seconds = loops[name](copy.deepcopy(initial), x, y, options)
            rates[name].append(images / seconds)
    plain, study = (statistics.median(rates[n]) for n in ("plain", "study"))
    ratio = study / plain
    print(f"model: seed-cnn + conv1x1_s2; data: mnist5k train ({len(x)} images); 1 thread")
    for name in loops:
        shown = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"{name:>5} loop: median {statistics.median(rates[name]):.0f} images/s  ({shown})")
    verdict = "ok" if ratio >= THRESHOLD else "FAIL"
    print(f"study / plain = {ratio:.3f} (goal >= {THRESHOLD}): {verdict}")
    return 0 if ratio >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
