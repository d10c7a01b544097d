"""More raw Keras operations in a Functional graph, one test per op (hand-written): writes
(``slice_update``, ``scatter_update``), segment sums, the products ``cross``, ``kron``,
``inner``, ``tensordot`` and ``trace``, ``moments`` and ``quantile``, ``select``,
``searchsorted``, the image ops, tensors made in a tensor's shape (``zeros_like``), copies,
``floor_divide``, ``mod`` and ``glu``: counted, with Keras's shapes and their MACs, the traced
input reaching the output (as the PyTorch tracer counts their torch counterparts)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import stridescope
from stridescope.frontends.keras import read_keras
from stridescope.ir import OpKind
from tests.frontends.reach import ancestors

# (the op on an (8, 8, 3) input, its MACs)
OPS: dict[str, tuple[Callable[[Any, Any], Any], int]] = {
    "slice_update": (
        lambda ops, x: ops.slice_update(ops.zeros((1, 10, 10, 3)), (0, 1, 1, 0), x),
        0,
    ),
    "scatter_update": (lambda ops, x: ops.scatter_update(x, [[0, 0, 0, 0]], ops.ones((1,))), 0),
    "segment_sum": (
        lambda ops, x: ops.segment_sum(
            ops.reshape(x, (-1,)), ops.zeros((192,), dtype="int32"), num_segments=2
        ),
        192,
    ),
    "cross": (lambda ops, x: ops.cross(x, x), 2 * 192),
    "kron": (lambda ops, x: ops.kron(x, ops.ones((1, 1, 2, 1))), 384),
    "inner": (lambda ops, x: ops.inner(x, ops.ones((5, 3))), 64 * 5 * 3),
    "tensordot": (lambda ops, x: ops.tensordot(x, ops.ones((3, 5)), axes=1), 64 * 5 * 3),
    "trace": (lambda ops, x: ops.trace(x, axis1=1, axis2=2), 3 * 8),
    "moments": (lambda ops, x: ops.moments(x, axes=[1, 2])[1], 2 * 192),
    "quantile": (lambda ops, x: ops.quantile(x, 0.5, axis=-1), 192),
    "select": (lambda ops, x: ops.select([x > 0, x < 0], [x, -x], 0.0), 0),
    "searchsorted": (lambda ops, x: ops.searchsorted(ops.arange(4.0), ops.reshape(x, (-1,))), 0),
    "crop_images": (lambda ops, x: ops.image.crop_images(x, 1, 1, 6, 6), 0),
    "pad_images": (lambda ops, x: ops.image.pad_images(x, 1, 1, 10, 10), 0),
    "rgb_to_grayscale": (lambda ops, x: ops.image.rgb_to_grayscale(x), 64 * 3),
    "zeros_like": (lambda ops, x: x + ops.zeros_like(x), 192),
    "ones_like": (lambda ops, x: ops.ones_like(x), 0),
    "full_like": (lambda ops, x: ops.full_like(x, 2.0), 0),
    "copy": (lambda ops, x: ops.copy(x), 0),
    "stop_gradient": (lambda ops, x: x + ops.stop_gradient(x), 192),
    "nan_to_num": (lambda ops, x: ops.nan_to_num(x), 0),
    "floor_divide": (lambda ops, x: ops.floor_divide(x, 2.0), 192),
    "mod": (lambda ops, x: ops.mod(x, 2.0), 192),
    "glu": (lambda ops, x: ops.glu(ops.concatenate([x, x], axis=-1)), 192),
}


@pytest.mark.parametrize("case", list(OPS))
def test_more_operations_are_counted_with_keras_shapes(keras: ModuleType, case: str) -> None:
    make, macs = OPS[case]
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, make(keras.ops, x))
    graph = read_keras(model)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    known = model.outputs[0].shape  # None where Keras does not know a size (the batch)
    assert len(graph.output.output_shape) == len(known)
    assert all(k in (None, d) for k, d in zip(known, graph.output.output_shape, strict=True))
    assert 0 in ancestors(graph, graph.output.id)
    assert graph.macs == macs


def test_a_strided_slice_is_an_exact_window(keras: ModuleType) -> None:
    """``x[:, ::2, 1:7]`` reads every other row of six columns: coverage knows it (it read the
    slice as moving data, so every position, before)."""
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.Conv2D(4, 1)(x[:, ::2, 1:7]))
    graph = read_keras(model)
    (node,) = [n for n in graph.nodes if n.op == "GetItem"]
    assert node.kind is OpKind.SLICE and node.output_shape == (1, 4, 6, 3)
    assert node.window is not None and node.window.stride == (2, 1)
    assert stridescope.summary(model).input_coverage == 4 * 6 / 64


@pytest.mark.parametrize("how", ["index", "index_last", "take", "lambda"])
def test_a_step_read_by_an_integer_index_covers_its_field(keras: ModuleType, how: str) -> None:
    """A causal TCN read at its last step (``y[:, -1, :]``, ``take(y, -1, axis=1)``, in a
    ``Lambda`` too) covers the 15 samples its dilated convs see, not the whole signal: a
    slice of one position and a reshape that drops the axis (data movement, before)."""
    x = keras.Input((64, 4))
    y = x
    for rate in (1, 2, 4):
        y = keras.layers.Conv1D(8, 3, dilation_rate=rate)(y)
    picks: dict[str, Callable[[Any], Any]] = {
        "index": lambda t: t[:, -1, :],
        "index_last": lambda t: t[:, -1],
        "take": lambda t: keras.ops.take(t, 49, axis=1),
        "lambda": lambda t: keras.layers.Lambda(lambda u: u[:, -1, :])(t),
    }
    model = keras.Model(x, keras.layers.Dense(2)(picks[how](y)))
    graph = read_keras(model)
    assert not graph.uncounted
    sliced = [n for n in graph.nodes if n.kind is OpKind.SLICE]
    assert len(sliced) == 1 and sliced[0].output_shape == (1, 1, 8)
    assert graph.nodes[sliced[0].id + 1].output_shape == (1, 8)
    assert stridescope.summary(model).input_coverage == 15 / 64


def test_an_integer_index_on_tokens_stays_data_movement(keras: ModuleType) -> None:
    x = keras.Input((8, 8, 3))
    tokens = keras.layers.Reshape((64, 3))(keras.layers.Conv2D(3, 1)(x))
    graph = read_keras(keras.Model(x, keras.layers.Dense(2)(tokens[:, 0])))
    (node,) = [n for n in graph.nodes if n.op == "GetItem"]
    assert node.kind is OpKind.MOVE


def test_cropped_images_are_an_exact_window(keras: ModuleType) -> None:
    x = keras.Input((8, 8, 3))
    cropped = keras.ops.image.crop_images(
        x, top_cropping=1, left_cropping=2, target_height=5, target_width=4
    )
    model = keras.Model(x, keras.layers.Conv2D(4, 1)(cropped))
    graph = read_keras(model)
    (node,) = [n for n in graph.nodes if n.op == "CropImages"]
    assert node.kind is OpKind.SLICE and node.output_shape == (1, 5, 4, 3)
    assert stridescope.summary(model).input_coverage == 5 * 4 / 64


def test_solarization_is_the_identity_and_contrast_layers_are_norms(keras: ModuleType) -> None:
    """``Solarization`` returns its input at inference (checked on Keras's own call), as the
    other augmentation layers; ``AutoContrast`` and CLAHE rescale every image, always."""
    import numpy as np

    image = (np.random.default_rng(0).random((1, 16, 16, 3)) * 255).astype("float32")
    solarize = keras.layers.Solarization(0.5)
    assert np.allclose(np.asarray(solarize(image, training=False)), image)
    x = keras.Input((16, 16, 3))
    y = keras.layers.AutoContrast()(solarize(x))
    y = keras.layers.ContrastLimitedAdaptiveHistogramEqualization()(y)
    graph = read_keras(keras.Model(x, keras.layers.Conv2D(4, 1)(y)))
    assert not graph.uncounted
    assert [(n.op, n.kind) for n in graph.nodes[1:]] == [
        ("AutoContrast", OpKind.NORM),
        ("ContrastLimitedAdaptiveHistogramEqualization", OpKind.NORM),
        ("Conv2D", OpKind.CONV),
    ]


def test_a_custom_layer_of_such_ops_is_read_through(keras: ModuleType) -> None:
    """A layer whose ``call`` uses them (keras.io's ViT ``Patches``: ``extract_patches`` and a
    reshape; a straight-through estimator's ``stop_gradient``) is read op by op: its matmul
    counted, where one op without a formula left the whole layer uncounted."""

    class Patches(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, images: Any) -> Any:
            patches = keras.ops.image.extract_patches(images, size=4)
            return keras.ops.reshape(patches, (-1, 4, 4 * 4 * 3))

    class StraightThrough(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.w = self.add_weight(shape=(48, 48))

        def call(self, x: Any) -> Any:
            q = keras.ops.matmul(x, self.w)
            return x + keras.ops.stop_gradient(q - x)

    x = keras.Input((8, 8, 3))
    model = keras.Model(x, StraightThrough()(Patches()(x)))
    graph = read_keras(model)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.params == model.count_params() == 48 * 48
    assert [n.macs for n in graph.nodes if n.op == "Matmul"] == [4 * 48 * 48]
