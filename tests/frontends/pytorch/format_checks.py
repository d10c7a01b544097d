"""A helper module of model code that imports torch only inside the function that asks (as
a library's box-format conversions do), for ``test_pytorch_tensor_checks``."""

from __future__ import annotations


def is_a_tensor(value: object) -> bool:
    import torch

    return isinstance(value, torch.Tensor)
