"""``keras.layers.TorchModuleWrapper`` (a torch ``nn.Module`` as a Keras layer, on the torch
backend) in a subclassed model, whose ``call`` is read by running it on symbolic inputs:
without an ``output_shape`` the wrapper has no shape function (Keras's own
``compute_output_shape`` raises ``NotImplementedError``), and the read failed. While a model
is read (:func:`shaped`), a wrapper without one computes its output (``compute_output_spec``)
by running its module on meta tensors (its parameters and buffers stood in for by meta
tensors of their shapes: nothing is computed, no weight is touched); the wrapper's own
``call`` is then read as any custom layer's, its torch module traced by the PyTorch frontend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stridescope.frontends.keras.patches import ClassPatch

__all__ = ["shaped"]


def _output_spec(self: Any, *args: Any, **kwargs: Any) -> Any:
    """The wrapper's output on symbolic inputs: Keras's own where it has an ``output_shape``,
    else its module's outputs on meta inputs of the arguments' shapes (an unknown batch taken
    as 1, given back as unknown), as ``KerasTensor`` s."""
    import keras
    import torch

    if self.output_shape is not None:  # (the wrapper has none of its own: a layer's)
        return keras.layers.Layer.compute_output_spec(self, *args, **kwargs)
    module = self.module
    state = {
        name: torch.empty_like(value, device="meta")
        for name, value in (*module.named_parameters(), *module.named_buffers())
    }
    as_meta = lambda v: _meta(v.shape) if isinstance(v, keras.KerasTensor) else v  # noqa: E731
    with torch.no_grad():
        out = torch.func.functional_call(
            module, state, keras.tree.map_structure(as_meta, args), kwargs
        )
    return keras.tree.map_structure(
        lambda t: (
            keras.KerasTensor((None, *t.shape[1:]), dtype=self.compute_dtype)
            if isinstance(t, torch.Tensor)
            else t
        ),
        out,
    )


def _meta(shape: Any) -> Any:
    import torch

    return torch.empty([1 if d is None else int(d) for d in shape], device="meta")


_PATCH = ClassPatch("compute_output_spec", _output_spec)


@contextmanager
def shaped() -> Iterator[None]:
    """Wrappers without an ``output_shape`` compute theirs while the block runs."""
    from keras.layers import TorchModuleWrapper

    with _PATCH.on(TorchModuleWrapper):
        yield
