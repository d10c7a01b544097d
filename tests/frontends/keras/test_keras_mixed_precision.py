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


def test_each_output_counts_the_bytes_of_its_own_dtype(keras: ModuleType) -> None:
    """A float32 input and a float32 head (``dtype="float32"``, as Keras advises for the last
    layer) under ``mixed_float16``, an argmax (int32) and a comparison (bool) beside: each
    at the size of the tensor Keras makes, in Functional and Sequential models."""
    import numpy as np

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
        head = keras.layers.Dense(5, dtype="float32", name="head")(
            keras.layers.GlobalAveragePooling2D(name="pool")(x)
        )
        outputs = [head, keras.ops.argmax(x, axis=-1), keras.ops.greater(x, 0.0)]
        model = keras.Model(inputs, outputs)
        layers = [keras.layers.Conv2D(4, 3, name="c"), keras.layers.Flatten()]
        sequential = keras.Sequential(
            [keras.Input((8, 8, 3)), *layers, keras.layers.Dense(3, dtype="float32", name="d")]
        )
    finally:
        keras.mixed_precision.set_global_policy(before)
    real = model(np.zeros((1, 8, 8, 3), dtype="float32"))
    graph = stridescope.frontends.load_graph(model)
    found = {n.name: n.activation_bytes for n in graph.nodes}  # (raw ops: named by Keras)
    found |= {n.op: n.activation_bytes for n in graph.nodes if n.op in ("Argmax", "Greater")}
    assert [found[k] for k in ("head", "Argmax", "Greater")] == [t.nbytes for t in real]
    assert found["input"] == 8 * 8 * 3 * 4 and found["conv"] == 8 * 8 * 4 * 2
    assert found["output"] == found["head"]  # the first output, after the others
    rows = {r.path: r for r in stridescope.summary(sequential, input_shape=(1, 8, 8, 3)).layers}
    assert (rows["c"].activation_bytes, rows["d"].activation_bytes) == (6 * 6 * 4 * 2, 3 * 4)
