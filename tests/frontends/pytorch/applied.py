"""A module whose forward is one function of its input, for tests of single torch calls; and
the model a target file's source builds (:func:`built`), for tests that also run the file
from the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class Apply(nn.Module):
    """``forward(x)`` is ``fn(x)``."""

    def __init__(self, fn: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(x)


def built(source: str) -> nn.Module:
    """The model ``build()`` in ``source`` (a target file's text) returns, in eval mode."""
    space: dict[str, Any] = {}
    exec(source, space)
    model = space["build"]()
    assert isinstance(model, nn.Module)
    return model.eval()
