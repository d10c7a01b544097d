"""Ways model code runs a layer other than ``nn.Module.__call__`` → ``forward``: a class that
defines ``__call__`` instead of ``forward`` (inside an ``nn.Sequential`` too), and a custom
``torch.autograd.Function`` whose forward saves or marks tensors for its backward."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.autograd.function import FunctionCtx
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends import load_graph


class CallOnly(nn.Module):
    """Space-to-depth then a conv, written as ``__call__`` with no ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 8, 3, padding=1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = x.shape
        x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
        return self.conv(x.reshape(b, c * 4, h // 2, w // 2))


class Direct(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = CallOnly()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _reference(model: nn.Module, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        out = model(torch.randn(shape))
    return tuple(out.shape), flops.get_total_flops() // 2


@pytest.mark.parametrize(
    "build", [lambda: nn.Sequential(CallOnly(), nn.ReLU()), Direct, CallOnly], ids=str
)
def test_a_layer_with_its_own_call_runs_it_wherever_it_sits(build: Any) -> None:
    model = build().eval()
    shape, macs = _reference(model, (1, 3, 16, 16))
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.nodes[-1].output_shape == shape == (1, 8, 8, 8)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert sum(n.macs for n in graph.nodes if n.op in ("Conv2d", "conv2d")) == macs
    assert not graph.uncounted


class Scaled(torch.autograd.Function):
    """Saves its input and weight for backward, as a memory-saving activation does."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.mark_non_differentiable(w)
        return x * w

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, w = ctx.saved_tensors
        return grad * w, (grad * x).sum()


class InPlaceRelu(torch.autograd.Function):
    """The new style (``setup_context``), writing its input in place and marking it dirty."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.relu_()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.mark_dirty(inputs[0])
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class Reversible(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gain = nn.Parameter(torch.tensor(2.0))
        self.head = nn.Conv2d(8, 4, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = Scaled.apply(self.conv(x), self.gain)
        return self.head(InPlaceRelu.apply(y.clone()))


def test_a_custom_function_that_saves_and_marks_traced_tensors_is_traced() -> None:
    model = Reversible().eval()
    shape, macs = _reference(model, (1, 3, 16, 16))
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.nodes[-1].output_shape == shape == (1, 4, 8, 8)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert sum(n.macs for n in graph.nodes if n.op == "Conv2d") == macs
    assert not graph.uncounted
    method = FunctionCtx.__dict__["save_for_backward"]
    assert method.__module__ == "torch.autograd.function"  # torch's own again after the trace
    loss = model(torch.randn(1, 3, 16, 16, requires_grad=True)).sum()
    loss.backward()  # the Functions still work for real afterwards
    assert model.gain.grad is not None
