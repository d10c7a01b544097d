"""A module whose forward is one function of its input, for tests of single torch calls (of
the input, or of a conv's output); a graph with torch's own output beside it; the model a
target file's source builds (:func:`built`), for tests that also run the file from the
command line; and :func:`odd_op`, an operator no table can know."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from stridescope.frontends import load_graph
from stridescope.ir import Graph


@torch.library.custom_op("stridescope_tests::odd", mutates_args=())
def odd_op(x: torch.Tensor) -> torch.Tensor:
    """An operator of a library of its own (``torch.ops.stridescope_tests.odd``), which no
    table can know: what stays uncounted, with the shape its fake kernel gives."""
    return x.sin()


@odd_op.register_fake
def _odd_shape(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Apply(nn.Module):
    """``forward(x)`` is ``fn(x)``."""

    def __init__(self, fn: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(x)


class AfterConv(nn.Module):
    """``forward(x)`` is ``fn(conv(x))``, a 1x1 conv of 3 channels to 4 (16 parameters): the
    function is handed a traced tensor a layer made, not the graph's input."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: Any) -> Any:
        return self.fn(self.conv(x))


def traced_and_real(model: nn.Module, shape: tuple[int, ...]) -> tuple[Graph, torch.Tensor]:
    """``model``'s graph for an input of ``shape``, and its output on a random such input."""
    graph = load_graph(model, shape)
    with torch.no_grad():
        real = model(torch.randn(shape))
    return graph, real


def built(source: str) -> nn.Module:
    """The model ``build()`` in ``source`` (a target file's text) returns, in eval mode."""
    space: dict[str, Any] = {}
    exec(source, space)
    model = space["build"]()
    assert isinstance(model, nn.Module)
    return model.eval()
