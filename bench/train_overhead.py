"""Does the study's training loop cost more than a plain hand-written PyTorch loop?

One process, one thread, the same model (seed-cnn with conv1x1_s2, same initial weights), the
same data (mnist5k train split) and the same batches in the same order. The two loops are
timed in interleaved rounds: each round trains ``--epochs`` with each loop twice, in the order
plain, study, study, plain (or study, plain, plain, study, alternating by round), every time from
the same initial weights. The mirrored order cancels what drifts within a round: on this machine
the loop that runs second in a pair is often ~10% faster, whichever it is.

Statistic: the median over rounds of the per-round ratio ``study images/s / plain images/s``
(each from that round's two epochs of the loop).
Pairing within a round cancels the slow phases of a shared machine (another process taking the
core slows both loops of the round alike), and the median ignores the rounds where it hit only
one of them; the ratio of the two overall medians does not (it failed at 0.70 under load while
the paired ratios had a median of 0.99). Exits 1 when the median paired ratio is below 0.95.

    .venv/bin/python bench/train_overhead.py [--rounds 7] [--epochs 1]
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
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    return time.perf_counter() - start


def study_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, options: TrainOptions) -> float:
    """The study's loop (stridescope.study.train.train_model). Returns seconds."""
    return train_model(model, x, y, options).seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
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
    warm = copy.deepcopy(initial)
    plain_loop(warm, x[:1024], y[:1024], options)  # warm up allocator and kernels
    print(f"model: seed-cnn + conv1x1_s2; data: mnist5k train ({len(x)} images); 1 thread")
    print(
        f"{args.rounds} interleaved rounds; each: {args.epochs} epoch(s) x 2 per loop, ABBA order"
    )
    print(f"{'round':>5} {'order':>22} {'plain img/s':>12} {'study img/s':>12} {'study/plain':>12}")
    ratios: list[float] = []
    for round_ in range(args.rounds):
        pair = ("plain", "study") if round_ % 2 == 0 else ("study", "plain")
        order = (*pair, *reversed(pair))
        seconds = {name: 0.0 for name in loops}
        for name in order:
            seconds[name] += loops[name](copy.deepcopy(initial), x, y, options)
        rate = {name: 2 * images / seconds[name] for name in loops}
        ratios.append(rate["study"] / rate["plain"])
        print(
            f"{round_ + 1:>5} {' '.join(order):>22} {rate['plain']:>12.0f} "
            f"{rate['study']:>12.0f} {ratios[-1]:>12.3f}"
        )
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= THRESHOLD else "FAIL"
    shown = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"per-round study/plain: {shown}")
    print(f"median study/plain = {ratio:.3f} (goal >= {THRESHOLD}): {verdict}")
    return 0 if ratio >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
