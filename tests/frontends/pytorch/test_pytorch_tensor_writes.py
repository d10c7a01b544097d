"""A trace leaves the values of the model's tensors as they were, whatever its forward writes
into them in place: a step counter (timm's ``BatchNormAct2d`` adds 1 to
``num_batches_tracked`` in training mode), a running average, a slot, a weight clipped
through ``.data``, a result written ``out=``. Those are real tensors, so the writes really
happened while the model was traced (a summary of a model in training mode changed it)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch.tensor_writes import in_place_targets

SHAPE = (2, 3, 12, 12)


class Counted(nn.Module):
    """A norm that counts its calls and keeps a running average, as training code does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.BatchNorm2d(8)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("ema", torch.ones(8))
        self.register_buffer("slots", torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.training:
            self.steps.add_(1)
            self.calls += 1
            with torch.no_grad():
                self.ema.mul_(0.5).add_(x.detach().mean((0, 2, 3)))
            self.slots[0] = 3.0
        return self.norm(x)


class Clipped(nn.Module):
    """Clips its layer's weight in its forward (through ``.data``) and writes ``out=``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.register_buffer("total", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.conv.weight.data.clamp_(-0.01, 0.01)
        torch.add(self.total, 1.0, out=self.total)
        return self.conv(x)


class Updates(nn.Module):
    """Writes in a method its forward calls; another method (never called by the forward)
    writes into a weight too."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.register_buffer("seen", torch.zeros(()))

    def _update(self) -> None:
        self.seen.add_(1)

    def init_weights(self) -> None:
        self.conv.weight.data.mul_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._update()
        return self.conv(x)


class FailsAfterWriting(Counted):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.steps.add_(1)
        raise ValueError("fails after its write")


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]


@pytest.mark.parametrize("cls", [Counted, Clipped, Updates])
def test_a_summary_leaves_tensors_written_in_place_as_they_were(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = cls().train()
    model.conv.weight.data.mul_(100)  # beyond Clipped's bound
    before = _state(model)
    summary = stridescope.summary(model, input_shape=SHAPE)
    assert _unchanged(model, before) == []
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    assert summary.totals.uncounted == ()
    model(torch.randn(SHAPE))  # a real forward still writes, as it should
    assert _unchanged(model, before) != []


def test_the_graph_is_the_same_on_a_second_trace() -> None:
    model = Counted().train()
    first, second = load_graph(model, SHAPE), load_graph(model, SHAPE)
    assert [(n.op, n.output_shape, n.macs) for n in first.nodes] == [
        (n.op, n.output_shape, n.macs) for n in second.nodes
    ]


def test_a_forward_that_fails_after_writing_leaves_the_tensor_as_it_was() -> None:
    model = FailsAfterWriting()
    with pytest.raises(StridescopeError, match="fails after its write"):
        load_graph(model, SHAPE)
    assert int(model.steps) == 0


def test_the_targets_are_what_the_forward_and_its_methods_write() -> None:
    assert in_place_targets(Counted) == (("calls",), ("ema",), ("slots",), ("steps",))
    assert in_place_targets(Clipped) == (("conv", "weight", "data"), ("total",))
    assert in_place_targets(Updates) == (("seen",),)  # not init_weights' write
    assert in_place_targets(nn.Conv2d) == ()


class Counts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _count(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
    """A pre-hook that counts calls into its module's buffer."""
    module.seen.add_(1)  # type: ignore[operator]


def test_a_pre_hook_writing_its_modules_buffers_leaves_them_as_they_were() -> None:
    """Old-style spectral norm's pre-hook runs a power iteration that writes its ``u`` and
    ``v`` buffers in place (``out=``) in training mode; a counting hook adds to a buffer."""
    gan = nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(3, 8, 3)), nn.LeakyReLU(0.2)).train()
    counted = Counts()
    counted.register_forward_pre_hook(_count)
    for model in (gan, counted):
        before = _state(model)
        graph = load_graph(model, SHAPE)
        assert _unchanged(model, before) == []
        assert graph.params == sum(p.numel() for p in model.parameters())
        model(torch.randn(SHAPE))  # a real forward still writes, as it should
        assert _unchanged(model, before) != []
