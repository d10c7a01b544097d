"""A layer's ``call`` that writes its variables (a step counter, a running average): reading
it ran the real write (a summary changed the model), and a write of a symbolic value failed,
leaving the whole layer uncounted. Now writes do nothing while a layer is read."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

import stridescope


def _counting(keras: ModuleType) -> Any:
    class Counting(keras.layers.Layer):  # type: ignore[misc, name-defined]
        """Counts its calls, keeps a running mean of its input, scales by a weight."""

        def build(self, shape: Any) -> None:
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.ema = self.add_weight(shape=(shape[-1],), initializer="ones", trainable=False)
            self.scale = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x: Any) -> Any:
            self.count.assign_add(1.0)
            self.ema.assign(self.ema * 0.9 + keras.ops.mean(x, axis=(0, 1, 2)) * 0.1)
            return x * self.scale

    return Counting


def _values(model: Any) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def test_a_layer_writing_its_variables_is_counted_and_left_as_it_was(keras: ModuleType) -> None:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = _counting(keras)(name="counting")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    before = _values(model)
    summary = stridescope.summary(model, input_shape=(2, 8, 8, 3))
    assert summary.totals.uncounted == ()
    assert summary.totals.params == model.count_params()
    scale = [r for r in summary.layers if r.path.startswith("counting")]
    assert sum(r.macs for r in scale) == 2 * 6 * 6 * 4  # x * scale, one MAC per element
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(model), strict=True))
    model(np.ones((2, 8, 8, 3), "float32"))  # a real call still writes
    assert float(model.get_layer("counting").count.numpy()) == 1.0


def test_a_subclassed_model_counting_its_steps_is_left_as_it_was(keras: ModuleType) -> None:
    class Stepped(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3)
            self.steps = keras.Variable(0.0, trainable=False)

        def call(self, x: Any) -> Any:
            self.steps.assign_add(1.0)
            return self.conv(x)

    model = Stepped()
    model(np.ones((1, 8, 8, 3), "float32"))
    summary = stridescope.summary(model, input_shape=(1, 8, 8, 3))
    # the counter is no layer's weight, but the call reads it (to add to it), and
    # count_params() counts it: counted, at the first node (its use is not in the graph)
    assert summary.totals.params == model.count_params() == 4 * 3 * 9 + 4 + 1
    assert not summary.notes
    assert float(model.steps.numpy()) == 1.0  # the real call's, not the read's


def test_other_threads_write_their_variables_while_a_layer_is_read(keras: ModuleType) -> None:
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, _counting(keras)(name="counting")(inputs))
    counter = keras.Variable(0.0)
    done = threading.Event()

    def worker() -> None:
        while not done.is_set():
            counter.assign_add(1.0)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for _ in range(5):
            stridescope.summary(model, input_shape=(1, 8, 8, 3))
    finally:
        done.set()
        thread.join()
    assert float(counter.numpy()) > 0
    assert float(model.get_layer("counting").count.numpy()) == 0.0
