"""A geometry error reaches a user of the public API only as a one-line StridescopeError that
names the layer, whatever the model came from: PyTorch, Keras, a spec file, a layer
expression, or a user's operator in ``compare``. Each case here gives a layer a kernel larger
than its padded input (geometry: "output size would be 0").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
from torch import nn

import stridescope
from stridescope.analysis.compare import CompareOptions
from stridescope.cli.layer import analyse_layer
from stridescope.errors import StridescopeError

ROOT = Path(__file__).resolve().parents[1]


def _torch_model() -> nn.Module:
    return nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 8, 3), head=nn.Conv2d(8, 8, 5)))


def _keras_model() -> object:
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="stem")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(8, 5, name="head")(x))


# (what, target, input shape, the text that must name the layer)
CASES = [
    ("pytorch", _torch_model, (1, 3, 6, 6), "layer 'head': output size would be 0"),
    ("keras", _keras_model, (1, 6, 6, 3), "layer 'head': output size would be 0"),
    (
        "spec",
        lambda: str(ROOT / "examples" / "seed_cnn.toml"),
        (1, 2, 2, 3),
        "layers[0] Conv2D(32, (3, 3), activation='relu') on input (1, 2, 2, 3): "
        "layer 'conv2d': output size would be 0",
    ),
    (
        "keras factory",
        lambda: str(ROOT / "examples" / "seed_cnn_keras.py") + ":build",
        (1, 6, 6, 3),
        "layer 'conv2d_1': output size would be 0",
    ),
]


@pytest.mark.parametrize("entry", [stridescope.summary, stridescope.coverage])
@pytest.mark.parametrize(
    ("target", "shape", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_summary_and_coverage_name_the_layer(
    entry: Callable[..., object],
    target: Callable[[], object],
    shape: tuple[int, ...],
    names: str,
) -> None:
    with pytest.raises(StridescopeError) as caught:
        entry(target(), shape)
    message = str(caught.value)
    assert names in message and "\n" not in message


def test_a_layer_expression_names_the_expression() -> None:
    with pytest.raises(StridescopeError) as caught:
        analyse_layer("Conv2D(16, 7)", (1, 5, 5, 3), "nhwc")
    assert str(caught.value) == (
        "Conv2D(16, 7) on input (1, 5, 5, 3): output size would be 0 for input=5, kernel=7, "
        "stride=1, dilation=1, padding=(0, 0)"
    )


def test_a_part_of_a_layer_expression_keeps_its_name() -> None:
    with pytest.raises(StridescopeError, match=r"layer 'SeparableConv2D/depthwise': output size"):
        analyse_layer("SeparableConv2D(16, 7)", (1, 5, 5, 3), "nhwc")


def test_compare_names_the_layer_of_a_users_operator() -> None:
    def too_wide(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(OrderedDict(wide=nn.Conv2d(c_in, c_out, 9, stride=2)))

    with pytest.raises(StridescopeError) as caught:
        stridescope.compare(
            (3, 8, 8), 4, ["mine"], custom={"mine": too_wide}, options=CompareOptions(images=1)
        )
    message = str(caught.value)
    assert "layer 'wide': output size would be 0 for input=8, kernel=9" in message
    assert "\n" not in message
