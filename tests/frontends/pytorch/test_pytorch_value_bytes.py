"""Activation memory is counted in the model's own dtype (2 bytes per value for a bf16 or fp16
model), and the summary says so: its footer said float32 whatever the model."""

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
