"""``keras.layers.TorchModuleWrapper`` (a torch module as a Keras layer, torch backend) in a
subclassed model, with torch functions between the layers: the model's ``call`` run on
symbolic inputs failed, as a wrapper without ``output_shape`` has no shape function
("TorchModuleWrapper does not have a `compute_output_shape` method implemented") and
``torch.relu`` refuses a ``KerasTensor``. The wrapper's module now runs on meta tensors for
its output while the model is read, the torch calls are recorded, and both are counted by the
PyTorch tracer's handlers."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

import stridescope


def _model(keras: ModuleType, **wrapped: Any) -> Any:
    from keras.layers import TorchModuleWrapper

    class Hybrid(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv = TorchModuleWrapper(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), **wrapped)
            self.pool = TorchModuleWrapper(torch.nn.AdaptiveAvgPool2d(1))
            self.head = keras.layers.Dense(5)

        def call(self, x: Any) -> Any:
            x = self.pool(torch.relu(self.conv(x)))
            return self.head(torch.flatten(x, 1))

    model = Hybrid()
    model(torch.zeros(1, 3, 16, 16))
    return model


def test_a_wrapped_torch_module_and_torch_calls_are_counted(keras: ModuleType) -> None:
    from keras.layers import TorchModuleWrapper

    own = TorchModuleWrapper.compute_output_spec
    model = _model(keras)
    summary = stridescope.summary(model, input_shape=(1, 3, 16, 16))
    assert summary.totals.uncounted == ()
    assert summary.totals.params == model.count_params() == 224 + 45
    conv = 8 * 27 * 64
    assert [r.kind for r in summary.layers][:2] == ["conv", "activation"]
    assert summary.layers[0].macs == conv
    assert summary.layers[-1].output_shape == (1, 5)
    assert TorchModuleWrapper.compute_output_spec is own  # (Keras's own again)


def test_a_wrapper_given_its_output_shape_keeps_it(keras: ModuleType) -> None:
    model = _model(keras, output_shape=(None, 8, 8, 8))
    summary = stridescope.summary(model, input_shape=(1, 3, 16, 16))
    assert summary.totals.uncounted == ()
    assert summary.totals.params == model.count_params()
