"""Under a mixed-precision policy Keras computes in ``float16`` / ``bfloat16`` with ``float32``
weights: activation memory is 2 bytes per element (it was counted at 4, as for
``float32``); parameters are the same."""

from __future__ import annotations

import math
from types import ModuleType

import pytest

import stridescope


@pytest.mark.parametrize(
    ("policy", "size"), [("mixed_float16", 2), ("mixed_bfloat16", 2), ("float32", 4)]
)
def test_activation_bytes_follow_the_compute_dtype(
    keras: ModuleType, policy: str, size: int
) -> None:
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    finally:
        keras.mixed_precision.set_global_policy(before)
    summary = stridescope.summary(model, input_shape=(2, 8, 8, 3))
    conv = next(r for r in summary.layers if r.path == "conv")
    assert conv.activation_bytes == size * math.prod(conv.output_shape)
    assert summary.totals.params == model.count_params() == 4 * 3 * 9 + 4
    assert summary.bytes_per_value == size
