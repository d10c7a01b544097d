"""A function compiled with ``torch.compile`` that the forward calls (a ``@torch.compile``
helper; torchvision compiles its Python ``roi_align``) runs as plain Python while traced
(dynamo's ``force_eager`` stance), so its torch calls are read as the rest of the forward's.
Before (2026-12-07), dynamo compiled it on the tracer's stand-in tensors: seconds a call,
and an internal error where it compared a size with a tensor."""

from __future__ import annotations

import torch
import torch._dynamo
from torch import nn
from torch._dynamo.utils import counters

import stridescope

_VALIDATING = torch.distributions.Distribution._validate_args


@torch.compile(dynamic=True, backend="eager")  # (dynamo alone: no code generated)
def _clamped_index(y: torch.Tensor, height: int) -> torch.Tensor:
    y = y.floor()
    return torch.where(y >= height - 1, height - 1, y + 1) * torch.sigmoid(y)


# (torch.compile turns torch.distributions' checks off, process-wide: the other tests' state)
torch.distributions.Distribution.set_default_validate_args(_VALIDATING)


class Sampler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return _clamped_index(y, y.shape[-2])


def test_a_compiled_function_is_traced_as_python() -> None:
    frames = counters["frames"]["total"]
    summary = stridescope.summary(Sampler(), (1, 3, 16, 16))
    assert counters["frames"]["total"] == frames  # (dynamo looked at no frame)
    assert [r.kind for r in summary.layers][:1] == ["conv"]
    assert summary.layers[-1].output_shape == (1, 8, 8, 8)
    assert summary.totals.uncounted == ()
    assert {"floor", "where", "sigmoid", "mul"} <= {
        r.path.rstrip("_0123456789") for r in summary.layers
    }


def test_after_a_trace_the_function_compiles_as_before() -> None:
    stridescope.summary(Sampler(), (1, 3, 16, 16))
    torch._dynamo.reset()
    frames = counters["frames"]["total"]
    try:
        out = Sampler()(torch.randn(1, 3, 16, 16))
    finally:
        torch.distributions.Distribution.set_default_validate_args(_VALIDATING)
    assert out.shape == (1, 8, 8, 8) and counters["frames"]["total"] > frames
