"""Spec files (TOML): the seed network, the input override, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stridescope.errors import StridescopeError
from stridescope.frontends.spec import load_spec, parse_shape, read_spec

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed_cnn.toml"
KERAS_SHAPES = [(30, 30, 32), (15, 15, 32), (13, 13, 64), (7, 7, 64), (3136,), (10,)]


def test_seed_spec_gives_keras_shapes_and_params() -> None:
    graph = load_spec(SEED)
    layers = [n for n in graph.nodes[1:] if "/" not in n.name]  # fused activations apart
    assert [n.output_shape[1:] for n in layers] == KERAS_SHAPES
    assert [n.name for n in layers] == [
        "conv2d",
        "max_pooling2d",
        "conv2d_1",
        "conv2d_2",
        "flatten",
        "dense",
    ]
    assert graph.params == 54_922
    assert read_spec(SEED).layout == "nhwc"


def test_input_override_changes_every_shape() -> None:
    graph = load_spec(SEED, (2, 64, 64, 3))
    assert graph.input_shape == (2, 64, 64, 3)
    assert graph.nodes[1].output_shape == (2, 62, 62, 32)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'input = "1x8x8x3"\nlayers = ["Conv2D(4, 1)"]\nlayer = 1\n',
            "unknown key 'layer'; allowed",
        ),
        ('layers = ["Conv2D(4, 1)"]\n', "missing key 'input'"),
        ('input = "1x8x8x3"\nlayers = "Conv2D(4, 1)"\n', "key 'layers' must be a non-empty list"),
        ('input = "big"\nlayers = ["Conv2D(4, 1)"]\n', "key 'input'"),
        ('input = [1, 8, 8, 3]\nlayers = ["Conv9D(4, 1)"]\n', "layers\\[0\\]"),
        (
            'input = [1, 8, 8, 3]\nlayout = "hwc"\nlayers = ["Conv2D(4, 1)"]\n',
            "allowed: nhwc, nchw",
        ),
        ("input = [1, 8\n", "not valid TOML"),
    ],
)
def test_bad_spec_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(StridescopeError, match=message) as caught:
        load_spec(path)
    assert "\n" not in str(caught.value)


def test_missing_file_and_wrong_rank(tmp_path: Path) -> None:
    with pytest.raises(StridescopeError, match="cannot read spec file"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(StridescopeError, match="4-D input"):
        load_spec(SEED, (1, 32, 32))


def test_parse_shape_forms() -> None:
    assert parse_shape("1x3x32x32") == (1, 3, 32, 32)
    assert parse_shape("1,32,32,3") == (1, 32, 32, 3)
    assert parse_shape((1, 10)) == (1, 10)
    for bad in ("", "0x3", [1, -2], "1xx3"):
        with pytest.raises(StridescopeError, match="is not a shape"):
            parse_shape(bad)
    with pytest.raises(StridescopeError, match=r"needs at least 2 sizes.*received \(1,\)"):
        parse_shape("1")
