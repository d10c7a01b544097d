"""The Keras 3 frontend against Keras itself: output shapes and parameter counts."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends.keras import read_keras
from stridescope.frontends.load import load_graph
from stridescope.ir import Graph, OpKind

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _by_name(graph: Graph) -> dict[str, Any]:
    return {node.name: node for node in graph.nodes}


def _last_nodes(graph: Graph) -> dict[str, Any]:
    """Per layer name, its last node (a fused activation or squeeze is "<name>/<part>")."""
    return {node.name.split("/")[0]: node for node in graph.nodes}


def _seed(keras: ModuleType) -> Any:
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            L.Conv2D(32, (3, 3), activation="relu", name="c1"),
            L.MaxPooling2D((2, 2), name="p1"),
            L.Conv2D(64, (3, 3), activation="relu", name="c2"),
            L.Conv2D(64, (1, 1), strides=2, activation="relu", name="c3"),
            L.Flatten(name="flat"),
            L.Dense(10, activation="softmax", name="fc"),
        ]
    )


def _assert_matches_keras(graph: Graph, model: Any) -> None:
    """Every layer's node has Keras's own output shape; total params equal count_params()."""
    nodes = _last_nodes(graph)
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        ours = nodes[layer.name]
        assert tuple(layer.output.shape)[1:] == ours.output_shape[1:], layer.name
    assert graph.params == model.count_params()


def test_seed_sequential_matches_keras(keras: ModuleType) -> None:
    model = _seed(keras)
    graph = read_keras(model)
    _assert_matches_keras(graph, model)
    shapes = [n.output_shape for n in graph.nodes if n.kind is not OpKind.ACTIVATION]
    assert shapes == [
        (1, 32, 32, 3),
        (1, 30, 30, 32),
        (1, 15, 15, 32),
        (1, 13, 13, 64),
        (1, 7, 7, 64),
        (1, 3136),
        (1, 10),
    ]
    assert graph.params == 54_922
    assert graph.layout == "nhwc"
    assert _by_name(graph)["c1/relu"].kind is OpKind.ACTIVATION


def test_functional_residual_add_and_concat(keras: ModuleType) -> None:
    L = keras.layers
    x = keras.Input((16, 16, 8), name="x")
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="a")(x)
    b = L.DepthwiseConv2D(3, padding="same", name="b")(a)
    add = L.Add(name="add")([x, b])  # residual
    c = L.SeparableConv2D(4, 3, strides=2, padding="same", name="sep")(add)
    d = L.AveragePooling2D(2, name="avg")(add)
    cat = L.Concatenate(name="cat")([c, d])
    n = L.BatchNormalization(name="bn")(cat)
    g = L.GlobalAveragePooling2D(name="gap")(n)
    out = L.Dense(3, name="fc")(g)
    model = keras.Model(x, out)
    graph = read_keras(model)
    _assert_matches_keras(graph, model)
    nodes = _by_name(graph)
    assert [graph.nodes[p].name for p in nodes["add"].parents] == ["input", "b"]
    assert [graph.nodes[p].name for p in nodes["cat"].parents] == ["sep/pointwise", "avg"]
    assert nodes["cat"].output_shape == (1, 8, 8, 12)
    assert nodes["bn"].params == 4 * 12  # gamma, beta, moving mean and variance
    assert nodes["add"].macs == 16 * 16 * 8


def test_nested_model_and_random_crop_at_inference(keras: ModuleType) -> None:
    """A nested model's layers are named under it; RandomCrop crops only in training, and at
    inference resizes the whole image to its size: a resize, counted, of Keras's shape."""
    L = keras.layers
    inner = keras.Sequential(
        [keras.Input((8, 8, 4)), L.Conv2D(4, 1, name="inner_conv")], name="block"
    )
    x = keras.Input((8, 8, 4))
    y = inner(x)
    y = L.RandomCrop(6, 6, name="up")(y)
    model = keras.Model(x, y)
    graph = read_keras(model)
    nodes = _by_name(graph)
    assert "block.inner_conv" in nodes
    up = nodes["up"]
    assert up.counted and up.kind is OpKind.INTERPOLATE and up.op == "RandomCrop"
    assert up.output_shape == (1, *tuple(model.output.shape)[1:]) == (1, 6, 6, 4)
    assert not graph.uncounted
    assert graph.params == model.count_params()


def test_channels_first_layout(keras: ModuleType) -> None:
    L = keras.layers
    model = keras.Sequential(
        [keras.Input((3, 9, 9)), L.Conv2D(4, 3, strides=2, data_format="channels_first")]
    )
    graph = read_keras(model)
    assert graph.layout == "nchw"
    assert graph.output.output_shape[1:] == tuple(model.layers[-1].output.shape)[1:]


def test_input_shape_checks(keras: ModuleType) -> None:
    model = _seed(keras)
    assert read_keras(model, (4, 32, 32, 3)).output.output_shape == (4, 10)
    with pytest.raises(StridescopeError, match="rank 3"):
        read_keras(model, (1, 32, 32))
    with pytest.raises(StridescopeError, match="channels") as caught:
        read_keras(model, (1, 32, 32, 5))
    message = str(caught.value)
    assert "channels: 5" in message and "channels: 3" in message
    with pytest.raises(StridescopeError) as single:
        read_keras(model, (1, 32, 32, 1))
    assert "1 channels" not in str(single.value) and "channels: 1" in str(single.value)


def test_saved_keras_file_loads_with_safe_mode(keras: ModuleType, tmp_path: Path) -> None:
    model = _seed(keras)
    path = tmp_path / "seed.keras"
    model.save(path)
    graph = load_graph(str(path))
    assert graph.params == 54_922
    assert graph.output.output_shape == (1, 10)


def test_keras_factory_file_matches_spec(keras: ModuleType) -> None:
    from_keras = load_graph(f"{EXAMPLES / 'seed_cnn_keras.py'}:build")
    from_spec = load_graph(str(EXAMPLES / "seed_cnn.toml"))
    assert [(n.name, n.output_shape, n.params, n.macs) for n in from_keras.nodes[1:]] == [
        (n.name, n.output_shape, n.params, n.macs) for n in from_spec.nodes[1:]
    ]


def test_unbuilt_sequential_is_built_for_the_given_shape(keras: ModuleType) -> None:
    L = keras.layers
    model = keras.Sequential([L.Conv2D(4, 3, strides=2, name="c"), L.GlobalMaxPooling2D()])
    with pytest.raises(StridescopeError, match="no defined input"):
        read_keras(model)
    graph = read_keras(keras.Sequential([L.Conv2D(4, 3, strides=2, name="c")]), (1, 9, 9, 2))
    assert graph.output.output_shape == (1, 4, 4, 4)
    assert graph.params == 2 * 9 * 4 + 4


def test_more_layers_match_keras(keras: ModuleType) -> None:
    L = keras.layers
    x = keras.Input((12, 12, 4))
    y = L.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    y = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(y)
    y = L.LayerNormalization(name="ln")(y)
    y = L.Cropping2D(((1, 0), (0, 1)), name="crop")(y)
    y = L.UpSampling2D(2, name="up")(y)
    y = L.MaxPooling2D(3, strides=2, padding="same", name="pool")(y)
    z = L.AveragePooling2D(2, padding="same", name="avg")(y)
    z = L.UpSampling2D(2, name="up2")(z)
    y = L.Multiply(name="mul")([y, z])
    y = L.Dropout(0.5, name="drop")(y)
    y = L.Reshape((-1, 6), name="seq")(y)
    y = L.Conv1D(3, 5, strides=2, padding="causal", name="conv1d")(y)
    y = L.GlobalAveragePooling1D(name="gap")(y)
    model = keras.Model(x, L.Dense(2, activation="sigmoid", name="fc")(y))
    graph = read_keras(model)
    _assert_matches_keras(graph, model)
    assert not graph.uncounted
    nodes = _by_name(graph)
    assert nodes["pad"].kind is OpKind.PAD and nodes["up"].kind is OpKind.INTERPOLATE
    assert nodes["fc/sigmoid"].kind is OpKind.ACTIVATION


def test_permute_there_and_back_keeps_the_field_a_dense_on_moved_axes_does_not(
    keras: ModuleType,
) -> None:
    """Keras ``Permute``: a dense layer on the channels (moved to the last axis and back)
    keeps positions, as in the PyTorch frontend; one on a spatial axis mixes them (unknown)."""
    from stridescope.analysis.summary_rf import receptive_fields
    from stridescope.geometry import ReceptiveField

    L = keras.layers

    def model(first: tuple[int, int, int], back: tuple[int, int, int]) -> Any:
        inp = keras.Input((10, 8, 3))
        x = L.Conv2D(4, 3, strides=2)(inp)
        x = L.Dense(5)(L.Permute(first)(x))
        return keras.Model(inp, L.Conv2D(4, 1)(L.Permute(back)(x)))

    kept = read_keras(model((2, 1, 3), (2, 1, 3)))  # swap H and W, dense on the channels
    assert [n.kind for n in kept.nodes].count(OpKind.PERMUTE) == 2
    assert receptive_fields(kept)[-1] == (ReceptiveField(3, 2, 0), ReceptiveField(3, 2, 0))
    mixed = read_keras(model((3, 1, 2), (2, 3, 1)))  # the dense runs along W
    assert mixed.output.output_shape == (1, 4, 5, 4)
    assert receptive_fields(mixed)[-1] is None


def test_norms_prelu_dropouts_and_identities_are_counted(keras: ModuleType) -> None:
    """GroupNormalization, UnitNormalization and PReLU keep positions with Keras's own
    params; the noise layers are dropout; Identity and ActivityRegularization add no node."""
    L = keras.layers
    inp = keras.Input((12, 12, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same")(inp)
    x = L.GroupNormalization(groups=4, name="gn")(x)
    x = L.PReLU(shared_axes=[1, 2], name="prelu")(x)
    x = L.ActivityRegularization(name="reg")(L.Identity(name="same")(x))
    x = L.AlphaDropout(0.1)(L.GaussianDropout(0.1)(L.SpatialDropout2D(0.1)(x)))
    x = L.UnitNormalization()(x)
    model = keras.Model(inp, L.Conv2D(4, 1, strides=2)(x))
    graph = read_keras(model)
    assert not graph.uncounted
    assert graph.params == model.count_params()
    nodes = _by_name(graph)
    assert nodes["gn"].params == 16 and nodes["prelu"].params == 8
    assert "same" not in nodes and "reg" not in nodes
    assert graph.output.output_shape[1:] == tuple(model.output.shape)[1:]
    assert [n.kind for n in graph.nodes].count(OpKind.DROPOUT) == 3


def test_multi_head_attention_costs_what_torch_attention_costs(keras: ModuleType) -> None:
    """Keras MultiHeadAttention (called positionally or by keyword, on tokens or on a feature
    map) counts the same MACs as ``nn.MultiheadAttention`` traced by the PyTorch frontend."""
    import torch
    from torch import nn

    from stridescope.frontends.pytorch import trace_torch

    L = keras.layers
    tokens = keras.Input((10, 16))
    first = L.MultiHeadAttention(num_heads=2, key_dim=8, name="first")(tokens, tokens)
    second = L.MultiHeadAttention(num_heads=2, key_dim=8, name="second")(query=first, value=tokens)
    model = keras.Model(tokens, second)
    graph = read_keras(model)
    _assert_matches_keras(graph, model)
    nodes = _by_name(graph)
    assert [graph.nodes[p].name for p in nodes["second"].parents] == ["first", "input"]

    class Torch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x)[0]

    assert nodes["first"].macs == trace_torch(Torch(), (1, 10, 16)).macs == 13_440

    image = keras.Input((4, 6, 8))  # attention over the 24 positions of a feature map
    attended = L.MultiHeadAttention(num_heads=2, key_dim=4, name="spatial")(image, image)
    spatial = read_keras(keras.Model(image, attended))
    assert _by_name(spatial)["spatial"].output_shape == (1, 4, 6, 8)
    projections = 3 * 24 * 8 * 2 * 4 + 24 * 2 * 4 * 8
    assert _by_name(spatial)["spatial"].macs == projections + 24 * 24 * 2 * (4 + 4)


def test_each_layers_row_has_the_layers_output_shape(keras: ModuleType) -> None:
    """The row named as a layer has the shape Keras gives its output: a global pool without
    ``keepdims`` is ``(N, C)`` (its pooled ``(N, 1, 1, C)`` is the row ``<name>/pool``), as
    in squeeze-and-excitation blocks."""
    inputs = keras.Input((16, 24, 8))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    s = keras.layers.GlobalAveragePooling2D(name="squeeze")(x)
    s = keras.layers.Reshape((1, 1, 8), name="reshape")(s)
    s = keras.layers.Conv2D(8, 1, activation="sigmoid", name="gate")(s)
    x = keras.layers.Multiply(name="excite")([x, s])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    kept = keras.layers.GlobalMaxPooling2D(keepdims=True, name="kept")(x)
    head = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flat")(kept))
    model = keras.Model(inputs, head)
    rows = {
        r.path: r.output_shape
        for r in stridescope.summary(model, input_shape=(2, 16, 24, 8)).layers
    }
    for layer in model.layers[1:]:
        expected = tuple(2 if d is None else d for d in layer.output.shape)
        assert rows[layer.name] == expected, layer.name
    assert rows["squeeze/pool"] == (2, 1, 1, 8)
