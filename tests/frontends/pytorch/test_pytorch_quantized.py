"""A quantized model (``torch.ao.quantization``'s ``convert`` or ``quantize_dynamic``) is
refused in one line that says why and what to summarise instead: its operators have no shape
function for meta tensors, and the trace failed with torch's message about a missing "fake
impl" for ``quantized::linear_dynamic``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))


def test_a_quantized_model_is_refused_with_what_to_do() -> None:
    quantized = torch.ao.quantization.quantize_dynamic(_model().eval(), {nn.Linear})
    with pytest.raises(StridescopeError) as error:
        load_graph(quantized, (1, 3, 8, 8))
    message = str(error.value)
    assert "\n" not in message
    assert "1 quantized layer (3 (Linear))" in message
    assert "summarise the float model" in message


def test_the_float_model_is_summarised() -> None:
    model = _model().eval()
    assert load_graph(model, (1, 3, 8, 8)).params == sum(p.numel() for p in model.parameters())
