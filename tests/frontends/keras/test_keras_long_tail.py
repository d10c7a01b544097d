"""The long tail of Keras layers and raw operations beyond convolutions, one test per
pattern: operations along axes (``argmax``, ``logsumexp``, ``norm``, ``cumsum``, ``sort``,
``top_k``, ``rfft``) and lookups (``take``, ``one_hot``, so ``Embedding``), dot-product and
additive attention (also returning their scores), ``RNN`` of cells, an RMS ``LayerNormalization``
and augmentation layers at inference: counted, with Keras's shapes and parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, OpKind


def _read(keras: ModuleType, inputs: Any, outputs: Any) -> tuple[Any, Graph]:
    model = keras.Model(inputs, outputs)
    return model, read_keras(model)


OPS: dict[str, Callable[[Any, Any], Any]] = {
    "argmax": lambda ops, x: ops.argmax(x, axis=-1),
    "logsumexp": lambda ops, x: ops.logsumexp(x, axis=(1, 2)),
    "norm": lambda ops, x: ops.norm(x, axis=-1, keepdims=True),
    "var": lambda ops, x: ops.var(x, axis=1),
    "cumsum": lambda ops, x: ops.cumsum(x, axis=1),
    "sort": lambda ops, x: ops.sort(x, axis=2),
    "top_k": lambda ops, x: ops.top_k(x, 2)[0],
    "rfft": lambda ops, x: ops.rfft(x)[1],
    "take": lambda ops, x: ops.take(x, [0, 2], axis=3),
    "one_hot": lambda ops, x: ops.one_hot(ops.argmax(x, axis=-1), 5),
}


@pytest.mark.parametrize("case", list(OPS))
def test_operations_along_axes_are_counted_with_keras_shapes(keras: ModuleType, case: str) -> None:
    x = keras.Input((8, 6, 4))
    model, graph = _read(keras, x, OPS[case](keras.ops, x))
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.output.output_shape == (1, *model.outputs[0].shape[1:])


def test_a_scan_over_rows_reads_the_rows_above(keras: ModuleType) -> None:
    """``cumsum`` along the height of an NHWC image: output row ``h`` reads rows ``0..h``, a
    window the receptive field and coverage see (as in the PyTorch tracer)."""
    x = keras.Input((8, 6, 4))
    _, graph = _read(keras, x, keras.ops.cumsum(x, axis=1))
    scan = graph.output
    assert (scan.kind, scan.macs) == (OpKind.REDUCE, 8 * 6 * 4)
    assert scan.window is not None and scan.window.kernel == (8, 1)
    assert scan.window.padding == ((7, 0), (0, 0))


def test_an_embedding_is_a_lookup_with_its_table_counted(keras: ModuleType) -> None:
    tokens = keras.Input((10,), dtype="int32")
    model, graph = _read(keras, tokens, keras.layers.Embedding(50, 8)(tokens))
    assert not graph.uncounted and graph.params == model.count_params() == 400
    assert graph.output.output_shape == (1, 10, 8)


@pytest.mark.parametrize(
    ("make", "per_pair"),
    [
        (lambda layers: layers.Attention(), 6 + 6),  # q @ kᵀ, then the values
        (lambda layers: layers.Attention(score_mode="concat"), 2 * 6 + 6),
        (lambda layers: layers.AdditiveAttention(), 2 * 6 + 6),
    ],
)
def test_attention_layers_cost_their_scores_and_the_product_with_values(
    keras: ModuleType, make: Callable[[Any], Any], per_pair: int
) -> None:
    q, v = keras.Input((10, 6)), keras.Input((7, 6))
    model, graph = _read(keras, [q, v], make(keras.layers)([q, v]))
    assert not graph.uncounted and graph.params == model.count_params()
    assert graph.macs == 10 * 7 * per_pair and graph.output.output_shape == (1, 10, 6)


def test_attention_scores_returned_beside_the_output(keras: ModuleType) -> None:
    q, v = keras.Input((10, 6)), keras.Input((7, 6))
    out, scores = keras.layers.Attention(name="att")([q, v], return_attention_scores=True)
    _, graph = _read(keras, [q, v], [keras.layers.Dense(3, name="head")(out), scores])
    shapes = {n.name: n.output_shape for n in graph.nodes}
    assert shapes["att:1"] == (1, 10, 7) and shapes["head"] == (1, 10, 3)
    assert not graph.uncounted


def test_an_rnn_of_cells_costs_what_the_layer_of_that_cell_costs(keras: ModuleType) -> None:
    x = keras.Input((10, 6))
    _, cell = _read(keras, x, keras.layers.RNN(keras.layers.LSTMCell(4))(x))
    _, layer = _read(keras, x, keras.layers.LSTM(4)(x))
    assert cell.macs == layer.macs == 10 * 4 * 4 * (6 + 4) and not cell.uncounted
    stack = keras.layers.RNN([keras.layers.GRUCell(4), keras.layers.SimpleRNNCell(3)])
    model, stacked = _read(keras, x, stack(x))
    assert stacked.macs == 10 * (3 * 4 * (6 + 4) + 1 * 3 * (4 + 3))
    assert stacked.params == model.count_params() and not stacked.uncounted


def test_rms_layer_normalization_has_no_centre(keras: ModuleType) -> None:
    x = keras.Input((8, 8, 3))
    model, graph = _read(keras, x, keras.layers.LayerNormalization(rms_scaling=True)(x))
    assert graph.params == model.count_params() == 3


def test_augmentation_layers_are_the_identity_at_inference(keras: ModuleType) -> None:
    x = keras.Input((16, 16, 3))
    y = keras.layers.RandomGrayscale()(x)
    y = keras.layers.RandomErasing()(keras.layers.RandomGaussianBlur()(y))
    _, graph = _read(keras, x, keras.layers.Conv2D(4, 3)(y))
    assert [n.op for n in graph.nodes[1:]] == ["Conv2D"]


def test_patches_of_a_keras_vit_are_space_to_depth(keras: ModuleType) -> None:
    """``keras.ops.image.extract_patches`` in square patches (the keras.io ViT example's
    ``Patches`` layer) is space-to-depth, exact: an 18x18 image in 4x4 patches leaves its last
    two rows and columns unread; overlapping, dilated or padded patches are the windows of the
    convolution Keras computes them as (0 MACs, as PyTorch's ``F.unfold``), of Keras's shape
    (their coverage against autograd: ``test_keras_extract_patches``)."""
    import stridescope

    x = keras.Input((18, 18, 3))
    patches = keras.ops.image.extract_patches(x, 4)
    tokens = keras.ops.reshape(patches, (-1, 16, 48))
    model = keras.Model(x, keras.layers.Dense(8)(tokens))
    summary = stridescope.summary(model)
    assert summary.totals.uncounted == ()
    assert summary.input_coverage == pytest.approx(16 * 16 / (18 * 18))
    y = keras.Input((16, 16, 3))
    for patches, shape in [
        (keras.ops.image.extract_patches(y, 4, strides=2), (1, 7, 7, 48)),
        (
            keras.ops.image.extract_patches(y, (3, 5), strides=(1, 2), padding="same"),
            (1, 16, 8, 45),
        ),
        (keras.ops.image.extract_patches(y, 2, dilation_rate=2), (1, 7, 7, 12)),
    ]:
        _, graph = _read(keras, y, patches)
        assert not graph.uncounted
        (node,) = graph.nodes[1:]
        assert (node.kind, node.op, node.output_shape, node.macs) == (
            OpKind.PIXEL_UNSHUFFLE,
            "ExtractPatches",
            shape,
            0,
        )
