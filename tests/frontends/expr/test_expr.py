"""Layer expressions: parsing, errors, and shapes/params against Keras and PyTorch layers
built from the same parsed arguments."""

from __future__ import annotations

import os
import re

import pytest
import torch

from stridescope.errors import StridescopeError
from stridescope.frontends import LayerCall, add_layer, default_layout, parse_layer
from stridescope.ir import GraphBuilder, OpKind

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.mark.parametrize(
    ("text", "layer", "framework", "args"),
    [
        (
            "Conv2D(16, 1, strides=2, padding='same')",
            "Conv2D",
            "keras",
            (("filters", 16), ("kernel_size", 1), ("strides", 2), ("padding", "same")),
        ),
        (
            "keras.layers.Conv2D(filters=16, kernel_size=1)",
            "Conv2D",
            "keras",
            (("filters", 16), ("kernel_size", 1)),
        ),
        ("tf.keras.layers.MaxPooling2D([2, 2])", "MaxPooling2D", "keras", (("pool_size", (2, 2)),)),
        ("layers.MaxPool2D(pool_size=2)", "MaxPool2D", "keras", (("pool_size", 2),)),
        (
            "DepthwiseConv2D(3, 2, 'same', 2)",
            "DepthwiseConv2D",
            "keras",
            (("kernel_size", 3), ("strides", 2), ("padding", "same"), ("depth_multiplier", 2)),
        ),
        (
            "nn.Conv2d(3, 16, kernel_size=1, stride=2)",
            "nn.Conv2d",
            "torch",
            (("in_channels", 3), ("out_channels", 16), ("kernel_size", 1), ("stride", 2)),
        ),
        ("torch.nn.MaxPool2d(2)", "nn.MaxPool2d", "torch", (("kernel_size", 2),)),
        (
            "Conv2d(3, 8, 3)",
            "nn.Conv2d",
            "torch",
            (("in_channels", 3), ("out_channels", 8), ("kernel_size", 3)),
        ),
        ("ReLU()", "ReLU", "keras", ()),
        ("nn.ReLU()", "nn.ReLU", "torch", ()),
        ("Dense(10, 'softmax')", "Dense", "keras", (("units", 10), ("activation", "softmax"))),
        ("nn.Dropout(p=0.1)", "nn.Dropout", "torch", (("p", 0.1),)),
    ],
)
def test_parse_layer(text: str, layer: str, framework: str, args: tuple[object, ...]) -> None:
    call = parse_layer(text)
    assert (call.layer, call.framework, call.args) == (layer, framework, args)
    assert default_layout(call) == ("nhwc" if framework == "keras" else "nchw")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Conv2D(16,", "cannot parse layer expression"),
        ("Conv4D(16, 3)", "unknown layer 'Conv4D'; known: Conv1D, Conv1DTranspose, Conv2D"),
        ("nn.Conv4d(1, 2, 3)", "unknown layer 'nn.Conv4d'"),
        ("DepthwiseConv3D(3)", "unknown layer 'DepthwiseConv3D'"),
        ("Conv2D(16, 3, padding='causal')", "padding must be 'valid' or 'same'"),
        ("Conv1D(16, 3, padding='full')", "padding must be 'valid', 'same' or 'causal'"),
        ("nn.AdaptiveAvgPool3d((2, 0, 1))", "output_size must be a positive int or a tuple"),
        ("nn.AvgPool3d(2, 2, 0, False, True, 1, 9)", "takes at most 6 positional"),
        ("Conv2D(16, 3, stride=2)", "unknown argument 'stride'; allowed: filters, kernel_size"),
        ("Conv2D(16)", "missing required argument(s) kernel_size"),
        ("Conv2D('16', 3)", "filters must be a positive int; received '16'"),
        ("Conv2D(16, 3, use_bias=1)", "use_bias must be True or False"),
        ("Conv2D(16, k)", "must be a literal"),
        ("Conv2D(16, __import__('os'))", "must be a literal"),
        ("Conv2D(16, 3, filters=8)", "argument 'filters' twice"),
        ("Conv2D(*a)", "*args are not allowed"),
        ("nn.MaxPool2d(2, 2, 0, 1, False, False, 3)", "takes at most 6 positional"),
        ("x + 1", "is not a call"),
        ("nn.Conv2d(3, 8, 3, padding_mode='mirror')", "padding_mode must be 'zeros'"),
        ("nn.AvgPool1d(2, divisor_override=2)", "unknown argument 'divisor_override'"),
        ("nn.AvgPool1d(2, 2, 0, False, True, 1)", "takes at most 5 positional"),
    ],
)
def test_parse_errors_are_one_line(text: str, fragment: str) -> None:
    with pytest.raises(StridescopeError) as error:
        parse_layer(text)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def _build(text: str, shape: tuple[int | None, ...]) -> tuple[LayerCall, GraphBuilder, int]:
    call = parse_layer(text)
    builder = GraphBuilder(shape, default_layout(call))
    return call, builder, add_layer(builder, builder.input, call, "x")


@pytest.mark.parametrize(
    ("text", "shape", "fragment"),
    [
        ("nn.Conv2d(4, 8, 3)", (1, 3, 8, 8), "in_channels=4 but the input has 3 channels"),
        ("nn.Linear(4, 8)", (1, 5), "in_features=4 but the input's last axis has 5"),
        ("nn.BatchNorm2d(4)", (1, 3, 8, 8), "num_features=4 but the input has 3"),
        ("Conv2D(8, 3)", (1, 8, 3), "Conv2D needs a 4-D input"),
        ("Conv2D(8, 3, strides=2, dilation_rate=2)", (1, 9, 9, 3), "strides > 1 together"),
        ("nn.MaxPool2d(3, padding=2)", (1, 3, 9, 9), "at most half of kernel_size"),
        ("nn.MaxPool1d(3, padding=2)", (1, 3, 9), "at most half of kernel_size"),
        ("nn.MaxPool1d(2)", (1, 3, 9, 9), "nn.MaxPool1d needs a 3-D input"),
        ("MaxPooling1D(2)", (1, 9, 9, 3), "MaxPooling1D needs a 3-D input"),
        ("nn.PixelUnshuffle(2)", (1, 3, 9, 9), "divisible by 2"),
        ("Conv2D(8, 3, groups=2)", (1, 9, 9, 3), "multiples of groups=2"),
        ("nn.Conv3d(3, 8, 3)", (1, 3, 9, 9), "nn.Conv3d needs a 5-D input"),
        ("Conv3D(8, (3, 3))", (1, 5, 9, 9, 3), "kernel has 2 values (3, 3) but the input has 3"),
        ("nn.MaxPool3d(3, padding=(1, 2, 1))", (1, 3, 9, 9, 9), "at most half of kernel_size"),
        ("nn.ConvTranspose3d(4, 2, 3)", (1, 3, 5, 5, 5), "in_channels=4 but the input has 3"),
        ("Conv3D(8, 3, strides=2, dilation_rate=2)", (1, 9, 9, 9, 3), "strides > 1 together"),
        ("GlobalAveragePooling1D()", (1, 9, 9, 3), "GlobalAveragePooling1D needs a 3-D input"),
        ("nn.AdaptiveMaxPool1d((2, 2))", (1, 3, 9), "one size per spatial axis"),
        ("nn.AvgPool3d(2, padding=1)", (1, 3, 1, 4, 4), "smaller than kernel_size"),
    ],
)
def test_add_layer_errors(text: str, shape: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(ValueError) as error:  # StridescopeError or GeometryError
        _build(text, shape)
    assert fragment in str(error.value)


def test_seed_cnn_matches_keras_shapes_and_params() -> None:
    lines = [
        "Conv2D(32, (3,3), activation='relu')",
        "MaxPooling2D((2,2))",
        "Conv2D(64,(3,3),activation='relu')",
        "Conv2D(64,(1,1),strides=(2,2),activation='relu')",
        "Flatten()",
        "Dense(10, activation='softmax')",
    ]
    builder = GraphBuilder((None, 32, 32, 3), "nhwc")
    node, shapes = builder.input, []
    for i, line in enumerate(lines):
        node = add_layer(builder, node, parse_layer(line), f"layer{i}")
        shapes.append(builder.shape(node))
    assert shapes == [
        (None, 30, 30, 32),
        (None, 15, 15, 32),
        (None, 13, 13, 64),
        (None, 7, 7, 64),
        (None, 3136),
        (None, 10),
    ]
    graph = builder.build()
    assert graph.params == 54_922
    activations = [n.op for n in graph.nodes if n.kind is OpKind.ACTIVATION]
    assert activations == ["Conv2D:relu"] * 3 + ["Dense:softmax"]


KERAS_CASES = [
    ("Conv2D(16, 1, strides=2, padding='same')", (32, 32, 3)),
    ("Conv2D(8, (3, 2), strides=(2, 1), padding='same', use_bias=False)", (9, 10, 4)),
    ("Conv2D(8, 3, dilation_rate=2, groups=2)", (12, 12, 4)),
    ("Conv1D(5, 4, strides=3, padding='same')", (17, 2)),
    ("DepthwiseConv2D(3, strides=2, padding='same', depth_multiplier=2)", (11, 11, 3)),
    ("SeparableConv2D(16, 3, padding='same', activation='relu')", (8, 8, 5)),
    ("MaxPooling1D(3, strides=2, padding='same')", (9, 2)),
    ("MaxPool1D()", (8, 3)),
    ("AveragePooling1D(3, 2)", (10, 2)),
    ("AvgPool1D(2, padding='same')", (7, 2)),
    ("MaxPool2D(pool_size=2)", (32, 32, 3)),
    ("MaxPooling2D(3, strides=2, padding='same')", (15, 15, 2)),
    ("AveragePooling2D((2, 3))", (9, 9, 2)),
    ("GlobalAveragePooling2D()", (7, 7, 6)),
    ("GlobalMaxPooling2D(keepdims=True)", (7, 7, 6)),
    ("Flatten()", (4, 4, 3)),
    ("Dense(7)", (4, 4, 3)),
    ("BatchNormalization()", (4, 4, 3)),
    ("BatchNormalization(center=False)", (4, 4, 3)),
    ("Activation('relu')", (4, 4, 3)),
    ("ReLU(max_value=6.0)", (4, 4, 3)),
    ("Dropout(0.5)", (4, 4, 3)),
    ("ZeroPadding2D()", (5, 6, 3)),
    ("ZeroPadding2D((1, 2))", (5, 6, 3)),
    ("ZeroPadding2D(((1, 0), (2, 3)))", (5, 6, 3)),
    ("Conv2DTranspose(4, 3, strides=2, padding='same')", (7, 5, 3)),
    ("Conv2DTranspose(4, 4, 2, 'same', activation='relu')", (6, 6, 2)),
    ("Conv2DTranspose(2, (2, 3), strides=(3, 1), output_padding=(1, 0))", (5, 4, 3)),
    ("Conv2DTranspose(2, 3, padding='valid', dilation_rate=2, use_bias=False)", (5, 4, 3)),
    ("Conv1DTranspose(3, 5, strides=3)", (9, 2)),
    ("Conv1D(4, 3, padding='causal', dilation_rate=2)", (10, 2)),
    ("Conv1D(512, 10, 5, use_bias=False)", (400, 1)),
    ("DepthwiseConv1D(5, strides=2, padding='same', depth_multiplier=2)", (21, 3)),
    ("SeparableConv1D(8, 3, strides=2, activation='relu')", (16, 4)),
    ("Conv3D(8, 3, strides=(1, 2, 2), padding='same')", (4, 9, 10, 3)),
    ("Conv3D(6, (3, 1, 1), dilation_rate=(2, 1, 1), groups=3, use_bias=False)", (9, 5, 5, 3)),
    ("Conv3DTranspose(4, 3, strides=2, padding='same')", (3, 5, 4, 2)),
    ("Conv3DTranspose(2, 2, 2, 'valid', None, (1, 0, 1))", (3, 5, 4, 2)),
    ("Conv3DTranspose(2, (2, 3, 1), strides=(1, 3, 2), output_padding=(0, 1, 1))", (3, 4, 4, 2)),
    ("MaxPooling3D(2)", (4, 8, 9, 3)),
    ("MaxPool3D((1, 3, 3), strides=(1, 2, 2), padding='same')", (4, 9, 9, 2)),
    ("AveragePooling3D(3, 2, 'same')", (5, 7, 9, 2)),
    ("AvgPool3D((2, 1, 2))", (4, 5, 6, 2)),
    ("GlobalAveragePooling1D()", (9, 5)),
    ("GlobalAvgPool1D(keepdims=True)", (9, 5)),
    ("GlobalMaxPooling1D()", (9, 5)),
    ("GlobalMaxPool1D()", (9, 5)),
    ("GlobalAveragePooling3D()", (3, 4, 5, 6)),
    ("GlobalAvgPool3D()", (3, 4, 5, 6)),
    ("GlobalMaxPooling3D(keepdims=True)", (3, 4, 5, 6)),
    ("GlobalMaxPool3D()", (3, 4, 5, 6)),
]


@pytest.mark.parametrize(("text", "shape"), KERAS_CASES)
def test_keras_layers_match_keras(text: str, shape: tuple[int, ...]) -> None:
    keras = pytest.importorskip("keras")
    call, builder, node = _build(text, (None, *shape))
    layer = getattr(keras.layers, call.layer)(**dict(call.args))
    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer(inputs))
    assert builder.shape(node) == tuple(model.output.shape)
    assert builder.build().params == model.count_params()


TORCH_CASES = [
    ("nn.Conv2d(3, 16, kernel_size=1, stride=2)", (1, 3, 32, 32)),
    ("nn.Conv2d(4, 8, 3, padding='same', dilation=2, groups=4, bias=False)", (1, 4, 9, 9)),
    ("nn.Conv2d(4, 8, (3, 1), stride=(2, 1), padding=(1, 0))", (1, 4, 9, 9)),
    ("nn.Conv1d(2, 3, 5, stride=2, padding=2)", (1, 2, 17)),
    ("nn.MaxPool1d(3, 2, 1, ceil_mode=True)", (1, 3, 10)),
    ("nn.MaxPool1d(2, dilation=2)", (1, 3, 9)),
    ("nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False)", (2, 4, 8)),
    ("nn.MaxPool2d(2)", (1, 3, 32, 32)),
    ("nn.MaxPool2d(3, 2, 1, ceil_mode=True)", (1, 3, 10, 10)),
    ("nn.AvgPool2d(2, ceil_mode=True)", (1, 3, 7, 7)),
    ("nn.AdaptiveAvgPool2d((2, 3))", (1, 3, 7, 10)),
    ("nn.AdaptiveMaxPool2d(1)", (1, 3, 7, 10)),
    ("nn.Linear(10, 4)", (2, 10)),
    ("nn.Flatten()", (1, 3, 4, 4)),
    ("nn.Flatten(1, 2)", (1, 3, 4, 4)),
    ("nn.BatchNorm2d(3)", (1, 3, 4, 4)),
    ("nn.BatchNorm2d(3, affine=False)", (1, 3, 4, 4)),
    ("nn.ReLU(inplace=True)", (1, 3, 4, 4)),
    ("nn.Dropout(0.2)", (1, 3, 4, 4)),
    ("nn.PixelUnshuffle(2)", (1, 3, 8, 8)),
    ("nn.ZeroPad2d((1, 0, 2, 3))", (1, 3, 5, 6)),
    ("nn.ReflectionPad2d(2)", (1, 3, 5, 6)),
    ("nn.ReplicationPad2d((0, 1, 1, 0))", (1, 3, 5, 6)),
    ("nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode='reflect')", (1, 3, 9, 8)),
    ("nn.ConvTranspose2d(4, 6, 2, stride=2)", (1, 4, 7, 5)),
    ("nn.ConvTranspose2d(4, 6, 3, 2, 1, 1, groups=2, bias=False)", (1, 4, 7, 5)),
    ("nn.ConvTranspose2d(4, 2, (3, 2), stride=(1, 3), padding=(2, 0), dilation=2)", (1, 4, 7, 5)),
    ("nn.ConvTranspose1d(2, 3, 5, stride=3, padding=2, output_padding=2)", (1, 2, 9)),
    ("nn.ConvTranspose1d(4, 4, 4, 2, 1, groups=4, bias=False, dilation=2)", (1, 4, 9)),
    ("nn.Conv1d(1, 512, 10, 5, bias=False)", (1, 1, 16000)),
    ("nn.Conv1d(4, 8, 3, padding='same', dilation=3, padding_mode='replicate')", (1, 4, 9)),
    ("nn.Conv3d(3, 8, 3, stride=2, padding=1)", (1, 3, 8, 16, 16)),
    (
        "nn.Conv3d(4, 8, (3, 1, 1), padding='same', groups=2, padding_mode='circular')",
        (1, 4, 5, 6, 7),
    ),
    ("nn.Conv3d(2, 4, (1, 3, 3), stride=(1, 2, 2), dilation=(1, 2, 1))", (2, 2, 3, 9, 9)),
    ("nn.ConvTranspose3d(4, 6, 2, stride=2)", (1, 4, 3, 4, 5)),
    ("nn.ConvTranspose3d(4, 2, 3, (1, 2, 2), (1, 1, 1), (0, 1, 1), groups=2)", (1, 4, 3, 4, 5)),
    ("nn.MaxPool3d(2)", (1, 3, 4, 8, 8)),
    ("nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1), ceil_mode=True)", (1, 3, 4, 10, 10)),
    ("nn.MaxPool3d(3, 2, dilation=2)", (1, 2, 9, 9, 9)),
    ("nn.AvgPool3d(2, ceil_mode=True)", (1, 3, 5, 7, 7)),
    ("nn.AvgPool3d(3, 2, 1, count_include_pad=False, divisor_override=4)", (1, 3, 5, 7, 7)),
    ("nn.AdaptiveAvgPool1d(4)", (1, 3, 10)),
    ("nn.AdaptiveMaxPool1d(3, return_indices=False)", (1, 3, 10)),
    ("nn.AdaptiveAvgPool3d((1, 2, None))", (1, 3, 4, 7, 10)),
    ("nn.AdaptiveMaxPool3d(2)", (1, 3, 4, 7, 10)),
    ("nn.AdaptiveAvgPool2d((None, 3))", (1, 3, 7, 10)),
]


@pytest.mark.parametrize(("text", "shape"), TORCH_CASES)
def test_torch_layers_match_torch(text: str, shape: tuple[int, ...]) -> None:
    call, builder, node = _build(text, shape)
    module = getattr(torch.nn, call.layer.removeprefix("nn."))(**dict(call.args))
    with torch.no_grad():
        out = module.eval()(torch.zeros(shape))
    assert builder.shape(node) == tuple(out.shape)
    assert builder.build().params == sum(p.numel() for p in module.parameters())


def test_macs_follow_the_builder_convention() -> None:
    _, builder, _ = _build("Conv2D(16, 1, strides=2, padding='same')", (1, 32, 32, 3))
    assert builder.build().macs == 16 * 16 * 16 * 3  # outputs x C_in x kernel area
    _, builder, _ = _build("nn.MaxPool2d(2)", (1, 3, 32, 32))
    assert builder.build().macs == 3 * 16 * 16 * 4  # one per window element
    _, builder, _ = _build("SeparableConv2D(8, 3, padding='same')", (1, 4, 4, 2))
    assert builder.build().macs == 4 * 4 * 2 * 9 + 4 * 4 * 8 * 2


def test_keras_data_format_channels_first_runs_in_nchw() -> None:
    call, builder, node = _build("MaxPool2D(2, data_format='channels_first')", (1, 3, 8, 8))
    assert default_layout(call) == "nchw"
    assert builder.shape(node) == (1, 3, 4, 4)
    assert call.to_dict()["args"] == {"pool_size": 2, "data_format": "channels_first"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ZeroPadding2D(-1)", "padding must be an int >= 0, (rows, cols)"),
        ("ZeroPadding2D(((1, 0), 2, 3))", "padding must be an int >= 0"),
        ("nn.ZeroPad2d((1, 2))", "(left, right, top, bottom)"),
        ("nn.Conv2d(3, 4, 1, padding_mode='mirror')", "'zeros', 'reflect', 'replicate'"),
    ],
)
def test_bad_padding_arguments(text: str, message: str) -> None:
    with pytest.raises(StridescopeError, match=re.escape(message)):
        parse_layer(text)
