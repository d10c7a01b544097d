"""Layers read from their attributes (``Conv2d``, ``Linear``, ``ConvTranspose2d``,
``BatchNorm2d``) are read as torch runs them: on the tensors they hold, and through the methods
their class overrides.

- A weight replaced by one of another shape, the attributes left as they were (channels pruned
  by hand: ``conv.weight = nn.Parameter(conv.weight[keep])``): torch runs the layer on the
  tensor it holds. The summary gave the attributes' output shape and twice the MACs, without a
  word, and refused a batch norm torch runs.
- A subclass that overrides a method the base class's forward calls (a conv's own
  ``_conv_forward`` that pads first, a batch norm's own ``_check_input_dim`` that takes other
  ranks): the layer was read as the base class, so the padding was missed and the batch norm
  refused.
Each is checked against torch: output shape, parameters and ``FlopCounterMode`` / 2."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind


def _pruned_linear() -> nn.Module:
    layer = nn.Linear(16, 16)
    layer.weight = nn.Parameter(torch.randn(8, 16))
    layer.bias = nn.Parameter(torch.randn(8))
    return nn.Sequential(layer, nn.ReLU(), nn.Linear(8, 4))


def _pruned_conv() -> nn.Module:
    conv = nn.Conv2d(3, 16, 3)
    conv.weight = nn.Parameter(conv.weight[:8].detach())
    conv.bias = nn.Parameter(conv.bias[:8].detach())
    norm = nn.BatchNorm2d(16)  # pruned too: its tensors hold 8 channels, num_features says 16
    norm.weight, norm.bias = nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8))
    norm.running_mean, norm.running_var = torch.zeros(8), torch.ones(8)
    return nn.Sequential(conv, norm, nn.Conv2d(8, 4, 1))


def _pruned_conv_transpose() -> nn.Module:
    up = nn.ConvTranspose2d(3, 8, 2, stride=2)
    up.weight = nn.Parameter(torch.randn(3, 4, 2, 2))
    up.bias = nn.Parameter(torch.randn(4))
    return nn.Sequential(up)


class _PaddedConv(nn.Conv2d):
    """Reflection padding in the conv's own ``_conv_forward`` (not ``forward``)."""

    def _conv_forward(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), weight, bias, self.stride)


class _AnyRankNorm(nn.BatchNorm2d):
    """A batch norm that takes (N, C, L) too: its own ``_check_input_dim``."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (3, 4):
            raise ValueError("expected 3-D or 4-D input")


_CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "pruned linear": (_pruned_linear, (2, 16)),
    "pruned conv and batch norm": (_pruned_conv, (1, 3, 16, 16)),
    "pruned transposed conv": (_pruned_conv_transpose, (1, 3, 16, 16)),
    "own _conv_forward": (lambda: nn.Sequential(_PaddedConv(3, 8, 5)), (1, 3, 16, 16)),
    "own _check_input_dim": (
        lambda: nn.Sequential(nn.Conv1d(3, 8, 3), _AnyRankNorm(8)),
        (2, 3, 20),
    ),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_layers_are_read_as_torch_runs_them(case: str) -> None:
    build, shape = _CASES[case]
    model = build().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(shape))
    graph = trace_torch(model, shape)
    assert graph.output.output_shape == tuple(out.shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    kinds = (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL)
    assert sum(n.macs for n in graph.nodes if n.kind in kinds) == counter.get_total_flops() // 2
    assert not graph.uncounted


def test_layers_whose_tensors_match_their_attributes_are_read_from_them() -> None:
    """The usual layer keeps its one node, named by its path (not the forward's F call)."""
    graph = trace_torch(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), (1, 3, 8, 8))
    assert [n.name for n in graph.nodes[1:]] == ["0", "1"]
