"""The train loop, shift-consistency, determinism of a run and NaN handling."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch
from torch import nn

from stridescope.analysis.consistency import background_value, translate
from stridescope.ops import OPS
from stridescope.study.config import RunSpec
from stridescope.study.consistency import shift_consistency
from stridescope.study.data import load_dataset
from stridescope.study.execute import execute_run
from stridescope.study.train import TrainOptions, batch_order, train_model

SPEC = RunSpec(
    dataset="digits",
    dataset_path=None,
    test_fraction=0.2,
    arch="seed-cnn",
    preset="v1",
    slot="both",
    op="conv1x1_s2",
    seed=0,
    epochs=1,
    batch_size=128,
    lr=1e-3,
    device="cpu",
    threads=1,
    consistency_pad=2,
)


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_dataset("digits", seed=0)


def test_batch_order_depends_on_the_seed_only() -> None:
    a = [[b.tolist() for b in e] for e in batch_order(50, 16, 2, seed=1)]
    b = [[b.tolist() for b in e] for e in batch_order(50, 16, 2, seed=1)]
    c = [[b.tolist() for b in e] for e in batch_order(50, 16, 2, seed=2)]
    assert a == b and a != c
    assert sorted(i for batch in a[0] for i in batch) == list(range(50))
    assert a[0] != a[1]  # a fresh permutation each epoch


def test_translate_moves_pixels_both_ways_and_fills_the_background() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = translate(x, torch.tensor([[1, -2]]), torch.tensor([-5.0]))  # down 1, left 2
    assert out[0, 0].tolist() == [
        [-5.0, -5.0, -5.0, -5.0],
        [2.0, 3.0, -5.0, -5.0],
        [6.0, 7.0, -5.0, -5.0],
        [10.0, 11.0, -5.0, -5.0],
    ]
    assert background_value(torch.full((3, 2, 5, 5), 0.5)).tolist() == [0.5, 0.5]


def test_consistency_is_one_for_a_shift_invariant_model_and_lower_for_a_position_model() -> None:
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 12, 12)
    x[:, :, 4:8, 4:8] = torch.rand(64, 1, 4, 4)  # content well inside the border
    invariant = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(1, 3))
    assert shift_consistency(invariant, x, pad=3, seed=0) == 1.0
    positional = nn.Sequential(nn.Flatten(), nn.Linear(144, 10))
    assert shift_consistency(positional, x, pad=3, seed=0) < 0.9
    # no shift: both copies are the image itself, so every prediction agrees
    assert shift_consistency(positional, x, pad=0, seed=0) == 1.0


def test_a_run_is_deterministic(digits) -> None:  # type: ignore[no-untyped-def]
    first = execute_run(SPEC, digits)
    second = execute_run(SPEC, digits)
    assert first.status == "ok", first.error
    metrics = ("test_accuracy", "consistency", "params", "macs")
    assert [getattr(first, m) for m in metrics] == [getattr(second, m) for m in metrics]
    assert first.key == SPEC.key and first.config == SPEC.config()
    assert 0.3 < first.test_accuracy <= 1.0  # one epoch on digits learns something
    other_seed = execute_run(replace(SPEC, seed=1), digits)
    assert other_seed.test_accuracy != first.test_accuracy


def test_nan_loss_fails_the_run_with_the_epoch_and_step(digits) -> None:  # type: ignore[no-untyped-def]
    class NaNOp(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.inner = OPS.get("conv1x1_s2").factory(cin, cout)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.inner(x)
            if x.shape[0] == 1:  # the params/MACs trace, not a training step
                return y
            self.calls += 1
            return y * float("nan") if self.calls == 3 else y

        def stridescope_ir(self, builder, parent, name):  # type: ignore[no-untyped-def]
            return self.inner.stridescope_ir(builder, parent, name)

    OPS.register("nan_test_op", doc="produces NaN on its 3rd call")(NaNOp)
    try:
        run = execute_run(replace(SPEC, op="nan_test_op"), digits)
    finally:
        OPS._entries.pop("nan_test_op")
    assert run.status == "failed"
    assert run.error == "NaN loss at epoch 1, step 3"
    assert run.test_accuracy is None and run.params is not None


def test_other_errors_inside_a_run_are_reported_with_their_type(digits) -> None:  # type: ignore[no-untyped-def]
    run = execute_run(replace(SPEC, device="meta"), digits)
    assert run.status == "failed"
    assert re.match(r"\w+(Error|Exception): ", run.error), run.error


def test_train_model_reduces_the_loss() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 1, 4, 4)
    y = (x.sum(dim=(1, 2, 3)) > 0).long()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    first = train_model(model, x, y, TrainOptions(epochs=1, batch_size=32, lr=1e-2, seed=0))
    later = train_model(model, x, y, TrainOptions(epochs=3, batch_size=32, lr=1e-2, seed=1))
    assert later.final_loss < first.final_loss
    assert first.steps == 8 and later.steps == 24
