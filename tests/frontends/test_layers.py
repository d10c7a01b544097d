"""One shared call per layer kind (``stridescope.frontends.layers``): the four ways a layer
reaches it -- a traced ``nn.Module``, a read Keras layer, and the layer expression in each
spelling -- give the same output shape, parameters and MACs for the same layer."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import add_layer, default_layout, parse_layer, read_keras, trace_torch
from stridescope.frontends import layers as shared
from stridescope.ir import Graph, GraphBuilder, OpKind

os.environ.setdefault("KERAS_BACKEND", "torch")


@dataclass(frozen=True)
class Case:
    """One layer in both frameworks: the module, the Keras layer (built from ``keras.layers``)
    and the two layer expressions, on an NCHW input and its NHWC twin."""

    kind: str
    module: Callable[[], nn.Module]
    torch_text: str | None
    keras_layer: Callable[[Any], Any]
    keras_text: str | None
    nchw: tuple[int, ...]


CASES = [
    Case(
        "conv",
        lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1),
        "nn.Conv2d(3, 8, 3, stride=2, padding=1)",
        lambda L: L.Conv2D(8, 3, strides=2, padding="same"),
        "Conv2D(8, 3, strides=2, padding='same')",
        (1, 3, 9, 9),
    ),
    Case(
        "conv_1d",
        lambda: nn.Conv1d(2, 4, 5, stride=3),
        "nn.Conv1d(2, 4, 5, stride=3)",
        lambda L: L.Conv1D(4, 5, strides=3),
        "Conv1D(4, 5, strides=3)",
        (1, 2, 17),
    ),
    Case(
        "conv_transpose",
        lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
        "nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)",
        lambda L: L.Conv2DTranspose(2, 3, strides=2, padding="same"),
        "Conv2DTranspose(2, 3, strides=2, padding='same')",
        (1, 4, 5, 5),
    ),
    Case(
        "depthwise",
        lambda: nn.Conv2d(4, 8, 3, groups=4),
        "nn.Conv2d(4, 8, 3, groups=4)",
        lambda L: L.DepthwiseConv2D(3, depth_multiplier=2),
        "DepthwiseConv2D(3, depth_multiplier=2)",
        (1, 4, 7, 7),
    ),
    Case(
        "max_pool_1d",
        lambda: nn.MaxPool1d(3, 2, 1),
        "nn.MaxPool1d(3, 2, 1)",
        lambda L: L.MaxPooling1D(3, strides=2, padding="same"),
        "MaxPooling1D(3, strides=2, padding='same')",
        (1, 3, 9),
    ),
    Case(
        "avg_pool_1d",
        lambda: nn.AvgPool1d(2),
        "nn.AvgPool1d(2)",
        lambda L: L.AveragePooling1D(2),
        "AveragePooling1D(2)",
        (1, 3, 9),
    ),
    Case(
        "avg_pool",
        lambda: nn.AvgPool2d(3, 2, 1),
        "nn.AvgPool2d(3, 2, 1)",
        lambda L: L.AveragePooling2D(3, strides=2, padding="same"),
        "AveragePooling2D(3, strides=2, padding='same')",
        (1, 3, 9, 9),
    ),
    Case(
        "global_pool",
        lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        None,
        lambda L: L.GlobalAveragePooling2D(),
        "GlobalAveragePooling2D()",
        (1, 6, 5, 7),
    ),
    Case(
        "conv_3d",
        lambda: nn.Conv3d(2, 4, (3, 3, 1), stride=(1, 2, 2), padding=(1, 1, 0)),
        "nn.Conv3d(2, 4, (3, 3, 1), stride=(1, 2, 2), padding=(1, 1, 0))",
        lambda L: L.Conv3D(4, (3, 3, 1), strides=(1, 2, 2), padding="same"),
        "Conv3D(4, (3, 3, 1), strides=(1, 2, 2), padding='same')",
        (1, 2, 5, 8, 8),
    ),
    Case(
        "conv_transpose_1d",
        lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1),
        "nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1)",
        lambda L: L.Conv1DTranspose(2, 4, strides=2, padding="same"),
        "Conv1DTranspose(2, 4, strides=2, padding='same')",
        (1, 3, 7),
    ),
    Case(
        "conv_transpose_3d",
        lambda: nn.ConvTranspose3d(3, 2, 2, stride=2),
        "nn.ConvTranspose3d(3, 2, 2, stride=2)",
        lambda L: L.Conv3DTranspose(2, 2, strides=2),
        "Conv3DTranspose(2, 2, strides=2)",
        (1, 3, 3, 4, 5),
    ),
    Case(
        "depthwise_1d",
        lambda: nn.Conv1d(3, 6, 5, stride=2, groups=3),
        "nn.Conv1d(3, 6, 5, stride=2, groups=3)",
        lambda L: L.DepthwiseConv1D(5, strides=2, depth_multiplier=2),
        "DepthwiseConv1D(5, strides=2, depth_multiplier=2)",
        (1, 3, 21),
    ),
    Case(
        "max_pool_3d",
        lambda: nn.MaxPool3d((1, 2, 2)),
        "nn.MaxPool3d((1, 2, 2))",
        lambda L: L.MaxPooling3D((1, 2, 2)),
        "MaxPooling3D((1, 2, 2))",
        (1, 3, 4, 9, 8),
    ),
    Case(
        "avg_pool_3d",
        lambda: nn.AvgPool3d(3, 2, 1),
        "nn.AvgPool3d(3, 2, 1)",
        lambda L: L.AveragePooling3D(3, strides=2, padding="same"),
        "AveragePooling3D(3, strides=2, padding='same')",
        (1, 2, 7, 7, 7),
    ),
    Case(
        "global_pool_1d",
        lambda: nn.Sequential(nn.AdaptiveMaxPool1d(1), nn.Flatten()),
        None,
        lambda L: L.GlobalMaxPooling1D(),
        "GlobalMaxPool1D()",
        (1, 6, 11),
    ),
    Case(
        "global_pool_3d",
        lambda: nn.AdaptiveAvgPool3d(1),
        "nn.AdaptiveAvgPool3d(1)",
        lambda L: L.GlobalAveragePooling3D(keepdims=True),
        "GlobalAvgPool3D(keepdims=True)",
        (1, 6, 3, 4, 5),
    ),
    Case(
        "dense",
        lambda: nn.Linear(12, 5),
        "nn.Linear(12, 5)",
        lambda L: L.Dense(5),
        "Dense(5)",
        (2, 12),
    ),
    Case(
        "flatten",
        lambda: nn.Flatten(),
        "nn.Flatten()",
        lambda L: L.Flatten(),
        "Flatten()",
        (1, 3, 4, 5),
    ),
    Case(
        "pointwise",
        lambda: nn.ReLU(),
        "nn.ReLU()",
        lambda L: L.ReLU(),
        "ReLU()",
        (1, 3, 4, 5),
    ),
]


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) == 2 else (shape[0], *shape[2:], shape[1])


def _expr(text: str, shape: tuple[int, ...]) -> Graph:
    call = parse_layer(text)
    builder = GraphBuilder(shape, default_layout(call))
    add_layer(builder, builder.input, call, "layer")
    return builder.build()


def _summary(graph: Graph) -> tuple[tuple[int | None, ...], int, int]:
    """Output shape in NCHW order, params and MACs."""
    shape = graph.output.output_shape
    if graph.layout == "nhwc" and len(shape) > 2:
        shape = (shape[0], shape[-1], *shape[1:-1])
    return shape, graph.params, graph.macs


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_the_four_frontends_agree(case: Case) -> None:
    keras = pytest.importorskip("keras")
    nhwc = _nhwc(case.nchw)
    model = keras.Sequential([keras.Input(nhwc[1:]), case.keras_layer(keras.layers)])
    graphs = {
        "torch module": trace_torch(case.module(), case.nchw),
        "keras layer": read_keras(model, nhwc),
    }
    if case.torch_text is not None:
        graphs["torch expression"] = _expr(case.torch_text, case.nchw)
    if case.keras_text is not None:
        graphs["keras expression"] = _expr(case.keras_text, nhwc)
    reference = _summary(graphs["torch module"])
    for label, graph in graphs.items():
        assert _summary(graph) == reference, f"{case.kind}: {label}"


def test_norm_params_differ_by_framework_as_each_counts_them() -> None:
    """Keras counts the moving mean and variance as (non-trainable) weights; PyTorch keeps
    them as buffers: 4 vs 2 per channel, through the same call."""
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((5, 5, 4)), keras.layers.BatchNormalization()])
    assert read_keras(model).params == _expr("BatchNormalization()", (1, 5, 5, 4)).params == 16
    assert trace_torch(nn.BatchNorm2d(4), (1, 4, 5, 5)).params == 8
    assert _expr("nn.BatchNorm2d(4)", (1, 4, 5, 5)).params == 8


def test_a_fused_activation_is_a_node_of_its_own() -> None:
    b = GraphBuilder((1, 6), "nhwc")
    node = shared.dense(b, b.input, "fc", "Dense", out_features=3, activation="relu")
    assert shared.fused_activation(b, node, "fc", "Dense", "linear") == node
    nodes = b.build().nodes
    assert [(n.name, n.kind, n.op) for n in nodes[1:]] == [
        ("fc", OpKind.LINEAR, "Dense"),
        ("fc/relu", OpKind.ACTIVATION, "Dense:relu"),
    ]


@pytest.mark.parametrize(
    ("start", "end", "shape", "kind"),
    [
        (1, -1, (1, 60), OpKind.FLATTEN),
        (1, 2, (1, 12, 5), OpKind.RESHAPE),
        (-3, -2, (1, 12, 5), OpKind.RESHAPE),
        (0, 0, (1, 3, 4, 5), OpKind.RESHAPE),
    ],
)
def test_flatten_merges_the_axes_it_names(
    start: int, end: int, shape: tuple[int, ...], kind: OpKind
) -> None:
    b = GraphBuilder((1, 3, 4, 5), "nchw")
    node = shared.flatten(b, b.input, "f", "flatten", start_dim=start, end_dim=end)
    assert (b.build().nodes[node].output_shape, b.build().nodes[node].kind) == (shape, kind)


def test_flatten_names_what_does_not_fit() -> None:
    b = GraphBuilder((1, 3, 4, 5), "nchw")
    with pytest.raises(StridescopeError, match=r"start_dim=2, end_dim=1 do not fit a 4-D input"):
        shared.flatten(b, b.input, "f", "nn.Flatten", start_dim=2, end_dim=1)


def test_adaptive_pool_keeps_the_axes_given_as_none() -> None:
    b = GraphBuilder((1, 3, 8, 6), "nchw")
    node = shared.adaptive_pool(b, b.input, "p", "op", mode="avg", output_size=(None, 2))
    assert b.build().nodes[node].output_shape == (1, 3, 8, 2)
    with pytest.raises(StridescopeError, match="one size per spatial axis"):
        shared.adaptive_pool(b, b.input, "q", "op", mode="avg", output_size=(None, 2, 2))
