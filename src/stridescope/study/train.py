"""The study's training loop and evaluation: eager PyTorch, tensors pre-loaded on the device.

No DataLoader: each epoch draws a permutation from a numpy generator seeded by the run seed and
slices index tensors, so two runs with the same seed see the same batches in the same order.
The only per-step extra over a hand-written loop is copying the loss into a preallocated tensor,
checked for NaN/inf once per epoch (see ``bench/train_overhead.py``).

>>> import torch
>>> torch.manual_seed(0) and None
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
>>> x, y = torch.randn(32, 1, 2, 2), torch.randint(0, 2, (32,))
>>> stats = train_model(model, x, y, TrainOptions(epochs=2, batch_size=8, lr=1e-2, seed=0))
>>> stats.steps
8
>>> 0.0 <= evaluate(model, x, y).accuracy <= 1.0
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "EvalStats",
    "NonFiniteLossError",
    "TrainOptions",
    "TrainStats",
    "batch_order",
    "evaluate",
    "train_model",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step (1-based)."""

    def __init__(self, epoch: int, step: int, value: float) -> None:
        self.epoch, self.step = epoch, step
        kind = "NaN" if value != value else "infinite"
        super().__init__(f"{kind} loss at epoch {epoch}, step {step}")


@dataclass(frozen=True)
class TrainOptions:
    """How to train: Adam with learning rate ``lr``, cross-entropy, ``batch_size`` per step."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class TrainStats:
    """What training took: wall seconds (training only), steps, and the last epoch's mean loss."""

    seconds: float
    steps: int
    final_loss: float


@dataclass(frozen=True)
class EvalStats:
    """Test accuracy and inference throughput (eval mode, no grad, batches of 256)."""

    accuracy: float
    images_per_second: float


def batch_order(
    n: int, batch_size: int, epochs: int, seed: int, device: torch.device | str = "cpu"
) -> Iterator[list[torch.Tensor]]:
    """Per epoch, the index tensors of its batches (a fresh permutation each epoch).

    >>> [[b.tolist() for b in e] for e in batch_order(4, 3, 2, seed=0)]
    [[[0, 1, 2], [3]], [[2, 0, 1], [3]]]
    """
    rng = np.random.default_rng([seed, 0xDA7A])
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n)).to(device)
        yield list(torch.split(order, batch_size))


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    options: TrainOptions,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """Train ``model`` on ``x`` (N, C, H, W), ``y`` (N,) in place; raise on a non-finite loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    loss_fn = nn.functional.cross_entropy
    model.train()
    steps, mean_loss = 0, float("nan")
    start = time.perf_counter()
    epochs = batch_order(len(x), options.batch_size, options.epochs, options.seed, x.device)
    for epoch, batches in enumerate(epochs, start=1):
        losses = torch.empty(len(batches), device=x.device)
        for step, index in enumerate(batches):
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            losses[step] = loss.detach()
        steps += len(batches)
        _check_finite(losses, epoch)
        mean_loss = float(losses.mean())
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
    return TrainStats(time.perf_counter() - start, steps, mean_loss)


def _check_finite(losses: torch.Tensor, epoch: int) -> None:
    finite = torch.isfinite(losses)
    if not bool(finite.all()):
        step = int((~finite).nonzero()[0, 0])
        raise NonFiniteLossError(epoch, step + 1, float(losses[step]))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> EvalStats:
    """Accuracy on (x, y) and images per second of the forward passes that computed it."""
    was_training = model.training
    model.eval()
    try:
        start = time.perf_counter()
        predictions = torch.cat(
            [model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)]
        )
        seconds = time.perf_counter() - start
    finally:
        model.train(was_training)
    accuracy = int((predictions == y).sum()) / len(y)  # exact: 0.936, not float32 0.93599999
    return EvalStats(accuracy, len(x) / max(seconds, 1e-9))
