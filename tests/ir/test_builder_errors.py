"""Every GraphBuilder error names the layer, once, and is a one-line StridescopeError.

Frontends, spec files and layer expressions all add nodes through GraphBuilder, so a size
that geometry cannot compute reaches the user as ``"{layer}: {what geometry said}"``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stridescope.errors import StridescopeError
from stridescope.geometry import GeometryError
from stridescope.ir import GraphBuilder, LayerError, OpKind
from stridescope.ir.builder_core import names_layer

Build = Callable[[GraphBuilder], int]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda b: b.conv(0, "stem", out_channels=8, kernel=9),
            "stem: output size would be 0 for input=8, kernel=9",
        ),
        (
            lambda b: b.conv(0, "grouped", out_channels=8, kernel=1, groups=2),
            "grouped: in_channels=3 and out_channels=8 must both be positive multiples of groups=2",
        ),
        (
            lambda b: b.conv_transpose(0, "up", out_channels=6, kernel=1, groups=2),
            "up: in_channels=3 and out_channels=6 must both be positive multiples of groups=2",
        ),
        (
            lambda b: b.conv_transpose(0, "up", out_channels=3, kernel=(1, 1, 1)),
            "up: kernel has 3 values (1, 1, 1) but the input has 2 spatial axes",
        ),
        (
            lambda b: b.conv_transpose(0, "up", out_channels=3, kernel=1, padding=[(0, 0)]),
            "up: padding ((0, 0),) needs one (before, after) per spatial axis; the input "
            "(1, 3, 8, 8) (nchw) has 2",
        ),
        (
            lambda b: b.conv(0, "c", out_channels=3, kernel=3, padding=1, pad_mode="mirror"),
            "c: padding mode must be one of zeros, reflect, replicate, circular; received 'mirror'",
        ),
        (lambda b: b.pool(0, "pool", mode="max", kernel=16), "pool: output size would be 0"),
        (
            lambda b: b.adaptive_pool(0, "gap", mode="avg", output_size=(1, 1, 1)),
            "gap: output_size has 3 values",
        ),
        (lambda b: b.polyphase(0, "aps", factor=0), "aps: kernel must be a positive integer"),
        (lambda b: b.pixel_unshuffle(0, "s2d", factor=3), "s2d: pixel unshuffle by 3"),
        (
            lambda b: b.resize(
                0, "up", kind=OpKind.INTERPOLATE, output_shape=(1, 3, 9, 9), repeat=(2, 2)
            ),
            "up: repeating (1, 3, 8, 8) by (2, 2) does not give (1, 3, 9, 9)",
        ),
        (
            lambda b: b.slice(
                0, "x[..., 9:]", spatial=[(9, 10, 1), (0, 8, 1)], output_shape=(1, 3, 1, 8)
            ),
            "x[..., 9:]: slice 9:10:1 does not fit an axis of size 8",
        ),
        (lambda b: b.pad(0, "pad", padding=[(1, 1)]), "pad: padding ((1, 1),) needs one"),
        (
            lambda b: b.pad(0, "crop", padding=[(-4, -4), (0, 0)]),
            "crop: padding ((-4, -4), (0, 0)) leaves no positions of input (1, 3, 8, 8)",
        ),
        (
            lambda b: b.pad(0, "crop", padding=[(-1, 0), (0, 0)], mode="mirror"),
            "crop: padding mode must be one of zeros, reflect, replicate, circular",
        ),
        (lambda b: b.reduce(0, "mean", mode="median", axes=(2, 3)), "mean: reduce mode must be"),
        (lambda b: b.reduce(0, "mean", mode="avg", axes=(7,)), "mean: reduction axes (7,)"),
        (lambda b: b.permute(0, "t", dims=(0, 1, 2)), "t: dims (0, 1, 2) are not a permutation"),
        (
            lambda b: b.merge([0, b.pool(0, "p", mode="max", kernel=2)], "sum", kind=OpKind.ADD),
            "sum: operands of add differ in shape",
        ),
        (
            lambda b: b.elementwise([0], "gate", kind=OpKind.MUL, operand_shapes=[(1, 3, 2, 1)]),
            "gate: operands of mul do not broadcast",
        ),
    ],
)
def test_errors_name_the_layer_once(build: Build, message: str) -> None:
    """``message`` is ``"LAYER: reason"``; the error reads ``"layer 'LAYER': reason..."``."""
    layer, reason = message.split(": ", 1)
    builder = GraphBuilder((1, 3, 8, 8), "nchw")
    with pytest.raises(LayerError) as caught:
        build(builder)
    text = str(caught.value)
    assert text.startswith(f"layer {layer!r}: {reason}"), text
    assert caught.value.layer == layer and caught.value.reason.startswith(reason)
    assert text.count(f"layer {layer!r}") == 1 and "\n" not in text
    assert isinstance(caught.value, GeometryError) and isinstance(caught.value, StridescopeError)


def test_a_layer_error_survives_pickling() -> None:
    """Study and compare workers send errors between processes."""
    error = LayerError("features.0", "output size would be 0")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.layer, copy.reason) == (
        LayerError,
        str(error),
        "features.0",
        "output size would be 0",
    )


class _Nested(GraphBuilder):
    @names_layer
    def block(self, parent: int, name: str) -> int:
        return self.conv(parent, f"{name}.conv", out_channels=4, kernel=99)


def test_a_node_method_calling_another_keeps_the_inner_name() -> None:
    with pytest.raises(LayerError, match=r"^layer 'block\.conv': output size would be 0") as caught:
        _Nested((1, 3, 8, 8), "nchw").block(0, "block")
    assert caught.value.layer == "block.conv"
    assert str(caught.value).count("block") == 1


def test_names_given_by_keyword_are_named_too() -> None:
    with pytest.raises(LayerError, match=r"^layer 'head': the feature count must be known"):
        GraphBuilder((1, None), "nchw").linear(parent=0, name="head", out_features=4)
    builder = GraphBuilder((1, 3, 8, 8), "nchw")
    assert builder.conv(parent=0, name="ok", out_channels=4, kernel=1) == 1


def test_the_input_shape_is_not_a_layer() -> None:
    with pytest.raises(GeometryError) as caught:
        GraphBuilder((1, 0, 8, 8), "nchw")
    assert not isinstance(caught.value, LayerError)
    assert str(caught.value).startswith("input shape must have a batch axis")


@given(
    size=st.integers(1, 12),
    kernel=st.integers(1, 14),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", 0, 1, 3]),
    transposed=st.booleans(),
)
def test_any_window_either_builds_or_names_the_layer(
    size: int, kernel: int, stride: int, dilation: int, padding: str | int, transposed: bool
) -> None:
    builder = GraphBuilder((2, 4, size, size + 1), "nchw")
    steps = {"out_channels": 4, "kernel": kernel, "stride": stride, "dilation": dilation}
    try:
        if transposed:
            pad = padding if isinstance(padding, int) else 0
            builder.conv_transpose(0, "layer.7", padding=pad, **steps)
        else:
            builder.conv(0, "layer.7", padding=padding, **steps)
    except GeometryError as error:
        assert isinstance(error, LayerError) and isinstance(error, StridescopeError)
        assert str(error).startswith("layer 'layer.7': ") and str(error).count("layer.7") == 1
    else:
        out = builder.build().output.output_shape
        assert all(d is not None and d >= 1 for d in out)


def test_a_node_is_made_without_its_dataclass_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """The builder fills every field of a node in one dictionary update (nodes are the
    tracer's innermost object); a field added to Node without a value there would fall back
    to the frozen dataclass's __init__ for every node, a slowdown no result shows (``shares``
    cost the summary 10-30% so)."""
    from stridescope.ir import GraphBuilder, Node

    made: list[int] = []
    init = Node.__init__

    def counted(self: Node, **fields: object) -> None:
        made.append(1)
        init(self, **fields)  # type: ignore[arg-type]

    monkeypatch.setattr(Node, "__init__", counted)
    b = GraphBuilder((1, 3, 8, 8), "nchw")
    x = b.conv(b.input, "conv", out_channels=4, kernel=3, padding=1)
    b.pool(x, "pool", mode="max", kernel=2, stride=2)
    assert made == [] and len(b.build().nodes) == 3
