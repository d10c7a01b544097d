"""Activation memory is counted in the model's own dtype (2 bytes per value for a bf16 or fp16
model), and the summary says so: its footer said float32 whatever the model. Each node is
counted in the dtype torch computes it in (a softmax asked for in float32, a mask made
numeric, a power in double precision), found by ``test_pytorch_opinfo``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import stridescope
from stridescope.analysis.summary_format import footer_lines


@pytest.mark.parametrize(
    ("dtype", "size"), [(torch.bfloat16, 2), (torch.float16, 2), (torch.float32, 4)]
)
def test_activation_memory_is_in_the_models_dtype(dtype: torch.dtype, size: int) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).to(dtype)
    summary = stridescope.summary(model, input_shape=(2, 3, 8, 8))
    conv = summary.layers[0]
    assert conv.activation_bytes == size * math.prod(conv.output_shape)
    assert summary.bytes_per_value == summary.to_dict()["bytes_per_value"] == size
    memory = next(line for line in footer_lines(summary) if line.startswith("activation memory"))
    assert ("2 bytes per value" in memory) == (size == 2)
    assert ("float32" in memory) == (size == 4)


class _Attend(nn.Module):
    """Attention as transformers' eager code writes it in a bf16 model: the softmax in
    float32 (``dtype=torch.float32``), cast back; a mask made numeric by ``+ 0`` (int64), a
    power in double precision. Each node's values were counted in the input's dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.proj(x)
        scores = x @ x.transpose(-1, -2)  # (N, L, L) in bf16
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(x.dtype)
        counts = (x > 0) + 0  # a mask made numeric: int64
        return weights @ x, counts, torch.float_power(x, 2)


def test_each_node_is_counted_in_the_dtype_torch_computes_it_in() -> None:
    model = _Attend().to(torch.bfloat16)
    out, counts, power = model(torch.randn(2, 5, 8, dtype=torch.bfloat16))
    graph = stridescope.frontends.load_graph(model, (2, 5, 8))
    made = {n.name: n.activation_bytes for n in graph.nodes}
    assert made["softmax"] == 2 * 5 * 5 * torch.float32.itemsize  # computed in float32
    assert made["matmul_1"] == out.numel() * out.element_size() == 2 * 5 * 8 * 2  # cast back
    assert made["add"] == counts.numel() * counts.element_size() == 2 * 5 * 8 * 8
    assert made["float_power"] == power.numel() * power.element_size() == 2 * 5 * 8 * 8
    assert out.dtype is torch.bfloat16
