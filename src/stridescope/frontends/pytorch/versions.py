"""A tensor's version counter (how many in-place writes it has seen), which the trace reads to
find the tensors a forward wrote into. An inference tensor (made under
``torch.inference_mode()``, as a model built there holds) has none: torch raises when it is
read, and such a tensor cannot be written in place outside inference mode; it reads as -1.

>>> import torch
>>> with torch.inference_mode():
...     made = torch.zeros(2)
>>> version(torch.zeros(2)), version(made)
(0, -1)
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["version", "versions"]


def version(tensor: Tensor) -> int:
    """``tensor._version``; -1 for an inference tensor."""
    try:
        return int(tensor._version)
    except RuntimeError:  # "Inference tensors do not track version counter"
        return -1


def versions(tensors: list[Tensor]) -> list[int]:
    """:func:`version` of each (one list comprehension where none is an inference tensor)."""
    try:
        return [t._version for t in tensors]
    except RuntimeError:
        return [version(t) for t in tensors]
