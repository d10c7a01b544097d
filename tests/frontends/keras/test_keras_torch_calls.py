"""Custom Keras layers that call torch functions themselves on the torch backend (keras_hub's
Depth Anything resizes with ``F.interpolate`` between two transposes; attention layers call
``F.scaled_dot_product_attention``), and layers given a list of tensors that read only some
(its head takes ``inputs[-1]``). Before, each such layer was one uncounted node. Each model
is hand-written; numbers are checked against ``count_params()``, hand counts and the same
network written in PyTorch."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, Node, OpKind
from tests.frontends.pytorch.applied import odd_op


def _named(graph: Graph, name: str) -> Node:
    (node,) = [n for n in graph.nodes if n.name == name]
    return node


def _channels_first_call(keras: ModuleType, fn: Any) -> Any:
    """A layer that runs ``fn`` (a torch function) on its input transposed to NCHW."""

    class Torchy(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, x: Any) -> Any:
            x = keras.ops.transpose(x, (0, 3, 1, 2))
            return keras.ops.transpose(fn(x), (0, 2, 3, 1))

    return Torchy


def test_f_interpolate_in_a_custom_layer_is_a_resize(keras: ModuleType) -> None:
    Up = _channels_first_call(
        keras, lambda x: F.interpolate(x, size=(16, 12), mode="bilinear", align_corners=True)
    )
    x = keras.Input((8, 6, 4))
    y = Up(name="up")(keras.layers.Conv2D(4, 3, padding="same", name="conv")(x))
    model = keras.Model(x, keras.layers.Conv2D(2, 1, name="out")(y))
    graph = read_keras(model)
    assert graph.uncounted == ()
    resize = _named(graph, "up/interpolate")
    assert resize.kind is OpKind.INTERPOLATE and resize.output_shape == (1, 4, 16, 12)
    assert _named(graph, "out").output_shape == (1, 16, 12, 2)
    assert model.output_shape == (None, 16, 12, 2)
    assert graph.params == model.count_params()


def test_a_strided_torch_pool_on_transposed_data_reads_as_in_pytorch(keras: ModuleType) -> None:
    """A 1x1 stride-2 max pool: the receptive field, coverage and lint of the same network
    written in PyTorch (the window is on the axes the transpose put after the channels)."""
    Pool = _channels_first_call(keras, lambda x: F.max_pool2d(x, 1, 2))
    x = keras.Input((8, 8, 4))
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    model = keras.Model(x, Pool(name="pool")(y))

    class Same(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.max_pool2d(self.conv(x), 1, 2)

    ours = stridescope.summary(model)
    theirs = stridescope.summary(Same(), input_shape=(1, 4, 8, 8))
    row = next(r for r in ours.layers if r.path == "pool/max_pool2d")
    (reference,) = [r for r in theirs.layers if r.path == "max_pool2d"]
    assert (row.rf_size, row.rf_jump, row.flags) == ((3, 3), (2, 2), ("DS101", "DS401"))
    assert (row.rf_size, row.rf_jump, row.flags) == (
        reference.rf_size,
        reference.rf_jump,
        reference.flags,
    )
    assert ours.input_coverage == theirs.input_coverage
    assert ours.totals.macs == theirs.totals.macs and ours.totals.params == theirs.totals.params


def test_scaled_dot_product_attention_in_a_custom_layer_counts_both_products(
    keras: ModuleType,
) -> None:
    class Attention(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.q = keras.layers.Dense(shape[-1], name="q")
            self.q.build(shape)

        def call(self, x: Any) -> Any:
            q = self.q(x)
            return F.scaled_dot_product_attention(q, q, q)

    x = keras.Input((10, 8))
    model = keras.Model(x, Attention(name="attn")(x))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert _named(graph, "attn/scaled_dot_product_attention").macs == 2 * 10 * 10 * 8
    assert graph.macs == 10 * 8 * 8 + 2 * 10 * 10 * 8
    assert graph.params == model.count_params()


def test_a_layer_given_a_list_that_reads_one_of_them(keras: ModuleType) -> None:
    """Keras refuses a graph from stand-ins no output depends on: the unused ones are left
    out (before, the layer stayed one uncounted node)."""

    class Head(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.conv = keras.layers.Conv2D(2, 1, name="conv")

        def build(self, shapes: Any) -> None:
            self.conv.build(shapes[-1])

        def call(self, inputs: Any) -> Any:
            return self.conv(inputs[-1])

        def compute_output_shape(self, shapes: Any) -> Any:
            return (*shapes[-1][:-1], 2)

    x = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = keras.layers.Conv2D(5, 3, padding="same", name="b")(x)
    model = keras.Model(x, Head(name="head")([a, b]))
    graph = read_keras(model)
    assert graph.uncounted == ()
    conv = _named(graph, "head.conv")
    assert conv.parents == (_named(graph, "b").id,) and conv.macs == 8 * 8 * 5 * 2
    assert graph.params == model.count_params()


def test_a_torch_function_no_handler_counts_leaves_the_layer_uncounted(
    keras: ModuleType,
) -> None:
    """What the PyTorch tracer does not count stays one node of Keras's shape, as before;
    nothing is left patched on ``KerasTensor`` after the read, even when a layer raises."""
    odd = odd_op  # (an operator of a library of its own, which no table can know)

    class Odd(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, x: Any) -> Any:
            return odd(x)

        def compute_output_shape(self, shape: Any) -> Any:
            return shape

    x = keras.Input((4, 4, 3))
    model = keras.Model(x, Odd(name="odd")(keras.layers.Conv2D(3, 1, name="c")(x)))
    graph = read_keras(model)
    assert [n.name for n in graph.uncounted] == ["odd"]
    assert _named(graph, "odd").output_shape == (1, 4, 4, 3)
    assert not hasattr(keras.KerasTensor, "__torch_function__")
    with pytest.raises(TypeError):  # outside a read, torch refuses a KerasTensor as before
        F.relu(keras.KerasTensor((1, 2)))


def test_torch_tensor_methods_in_a_custom_layer_are_counted(keras: ModuleType) -> None:
    """``x.permute(...).contiguous()`` on the torch backend (keras_hub's SAM3 attention):
    tensor methods the PyTorch tracer counts are recorded as torch calls; other names stay
    missing while a layer is read (``hasattr(x, "numpy")`` is still False) and after."""
    seen: list[bool] = []

    class Methods(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, x: Any) -> Any:
            if isinstance(x, keras.KerasTensor):  # (Keras itself calls it on torch tensors)
                seen.append(hasattr(x, "numpy"))
            y = x.permute(0, 3, 1, 2).contiguous()
            return keras.ops.transpose(F.max_pool2d(y, 1, 2), (0, 2, 3, 1))

    x = keras.Input((8, 8, 4))
    model = keras.Model(x, Methods(name="m")(keras.layers.Conv2D(4, 3, padding="same")(x)))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.output.output_shape == (1, 4, 4, 4)
    assert _named(graph, "m/permute").kind is OpKind.PERMUTE
    assert seen and not any(seen) and not hasattr(keras.KerasTensor, "__getattr__")


def test_a_keras_weight_handed_to_a_torch_function_is_counted_by_keras(
    keras: ModuleType,
) -> None:
    """``F.conv2d(x, self.kernel)`` with the layer's own Keras weight: the convolution's
    MACs as in PyTorch, its weight counted once (by the Keras reader). Before, the weight
    (a Keras variable, not a torch tensor) left the call uncounted."""

    class TorchConv(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.kernel = self.add_weight(shape=(5, shape[-1], 3, 3))

        def call(self, x: Any) -> Any:
            y = F.conv2d(keras.ops.transpose(x, (0, 3, 1, 2)), self.kernel, padding=1)
            return keras.ops.transpose(y, (0, 2, 3, 1))

    x = keras.Input((8, 6, 4))
    model = keras.Model(x, TorchConv(name="tc")(x))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.output.output_shape == (1, 8, 6, 5)
    assert _named(graph, "tc/conv2d").macs == 8 * 6 * 5 * 4 * 9
    assert graph.params == model.count_params() == 5 * 4 * 9
