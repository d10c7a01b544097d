"""Inputs given by keyword (``attention_mask=1x8:int64``, ``{"pixel_mask": ...}``): the
forward's parameter of that name takes the tensor, wherever the parameter stands (a model
whose second positional parameter is a cache, a keyword-only parameter). The forms: an item
``NAME=SHAPE`` in the list of inputs, a mapping of names to shapes in the Python API, and
``--input NAME=SHAPE`` on the command line; keyword inputs follow the positional ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from stridescope.api import summary
from stridescope.cli import app
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.ir import Graph, OpKind
from tests.frontends.pytorch.applied import built

runner = CliRunner()


CACHED_TEXT = '''
from typing import Any

import torch
from torch import nn


class CachedText(nn.Module):
    """Token ids, then a cache, then the mask by keyword only; the mask's values pick the
    path (all kept: no masking)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, ids, cache: Any = None, *, attention_mask=None):
        x = self.embed(ids)
        if cache is not None:
            x = x + cache
        if attention_mask is not None and not attention_mask.all():
            x = x * attention_mask[..., None]
        return self.head(x)


def build():
    return CachedText()
'''


def _cached_text() -> nn.Module:
    return built(CACHED_TEXT)


class _PixelsAndMask(nn.Module):
    """Pixels and a keyword-only pixel mask, which scales the features (read as a tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, pixels: torch.Tensor, *, pixel_mask: torch.Tensor) -> torch.Tensor:
        mask = nn.functional.interpolate(pixel_mask[:, None].float(), size=pixels.shape[-2:])
        return self.conv(pixels * mask)


def _inputs(graph: Graph) -> list[tuple[int, ...]]:
    return [n.output_shape for n in graph.nodes if n.kind is OpKind.INPUT]


@pytest.mark.parametrize(
    "given",
    [
        ["1x8:int64", "attention_mask=1x8:int64"],
        {"ids": "1x8:int64", "attention_mask": "1x8:int64"},
        ["ids = 1x8:int64", "attention_mask=1,8:int64"],
    ],
)
def test_a_mask_by_keyword_reaches_its_parameter_past_a_cache(given: object) -> None:
    model = _cached_text()
    ids = torch.randint(0, 50, (1, 8))
    with torch.no_grad(), FlopCounterMode(display=False) as flops:
        real = model(ids, attention_mask=torch.ones(1, 8, dtype=torch.int64))
    graph = load_graph(model, given)  # type: ignore[arg-type]
    assert _inputs(graph) == [(1, 8), (1, 8)]
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.nodes[-1].macs == flops.get_total_flops() // 2
    assert any("attention_mask by keyword" in note for note in graph.notes)
    assert any("input 2 (attention_mask), a mask" in note for note in graph.notes)
    assert not any("discards" in note for note in graph.notes)  # (the read decided a branch)


def test_the_same_tensors_by_position_and_by_keyword_make_the_same_graph() -> None:
    model = _PixelsAndMask()
    by_keyword = load_graph(model, ["1x3x16x16", "pixel_mask=1x16x16:bool"])
    by_names = load_graph(model, {"pixels": (1, 3, 16, 16), "pixel_mask": "1x16x16:bool"})
    for graph in (by_keyword, by_names):
        assert _inputs(graph) == [(1, 3, 16, 16), (1, 16, 16)]
        assert graph.nodes[-1].output_shape == (1, 8, 8, 8)
        assert graph.params == sum(p.numel() for p in model.parameters())
    assert [(n.op, n.output_shape, n.macs) for n in by_keyword.nodes] == [
        (n.op, n.output_shape, n.macs) for n in by_names.nodes
    ]
    assert any("pixels=(1, 3, 16, 16)" in note for note in by_names.notes)  # measured on it


def test_a_list_of_tensors_may_be_given_by_keyword() -> None:
    class Clips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.slow, self.fast = nn.Conv3d(3, 8, 1), nn.Conv3d(3, 4, (4, 1, 1), stride=(4, 1, 1))

        def forward(self, *, clips: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat([self.slow(clips[0]), self.fast(clips[1])], dim=1)

    graph = load_graph(Clips(), ["clips=1x3x2x8x8+1x3x8x8x8"])
    assert _inputs(graph) == [(1, 3, 2, 8, 8), (1, 3, 8, 8, 8)]
    assert graph.nodes[-1].output_shape == (1, 12, 2, 8, 8)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["1x8:int64", "attention_mak=1x8:int64"], "its forward takes ids, cache, attention_mask"),
        (["attention_mask=1x8", "1x8:int64"], "a positional input cannot follow one given by"),
        (["1x8:int64", "m=1x8", "m=1x8"], "received 'm' twice"),
        (["1x8:int64", "attention mask=1x8"], "not a Python identifier"),
        ({}, "need at least one name"),
        (["1x8:int64", "attention_mask=1xq"], "input attention_mask's shape must be positive"),
    ],
)
def test_bad_keyword_inputs_are_one_line_errors(given: object, said: str) -> None:
    with pytest.raises(StridescopeError, match=said) as raised:
        load_graph(_cached_text(), given)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)


def test_a_forward_that_passes_keywords_on_names_no_parameters_of_its_own() -> None:
    """A wrapper's ``forward(x, **kwargs)`` hands an unknown name to its inner model, which
    raises: the message is the inner forward's, without the wrapper's parameter list."""

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = _cached_text()

        def forward(self, ids: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            return self.inner(ids, **kwargs)

    with pytest.raises(StridescopeError, match="unexpected keyword argument 'mask'") as raised:
        load_graph(Wrapper(), ["1x8:int64", "mask=1x8:int64"])
    assert "its forward takes" not in str(raised.value)


def test_the_command_line_takes_name_equals_shape(tmp_path: Path) -> None:
    (tmp_path / "cached_text.py").write_text(CACHED_TEXT)
    target = f"{tmp_path / 'cached_text.py'}:build"
    given = ["--input", "1x8:int64", "--input", "attention_mask=1x8:int64"]
    result = runner.invoke(app, ["summary", target, *given, "--format", "json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.output)["notes"]
    assert any("attention_mask by keyword" in note for note in notes)
    bad = runner.invoke(app, ["summary", target, "--input", "x=1x8", "--input", "1x8"])
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1 and "cannot follow one given by keyword" in bad.output
    given_api = {"ids": "1x8:int64", "attention_mask": "1x8:int64"}
    assert summary(_cached_text(), given_api).totals.params == 50 * 16 + 16 * 4 + 4


def test_an_input_node_is_named_by_its_keyword_unless_a_module_has_that_path() -> None:
    graph = load_graph(_cached_text(), ["1x8:int64", "attention_mask=1x8:int64"])
    assert [n.name for n in graph.nodes if n.kind is OpKind.INPUT][1:] == ["attention_mask"]

    class Clashing(nn.Module):  # a module at the path the keyword names
        def __init__(self) -> None:
            super().__init__()
            self.mask = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor, *, mask: torch.Tensor) -> torch.Tensor:
            return self.mask(x) * mask

    clashing = load_graph(Clashing(), ["1x8", "mask=1x8"])
    assert [n.name for n in clashing.nodes if n.kind is OpKind.INPUT][1:] == ["input1"]
    assert [n.name for n in clashing.nodes if n.kind is not OpKind.INPUT] == ["mask", "mul"]


def test_a_keras_model_takes_keywords_by_its_input_names() -> None:
    keras = pytest.importorskip("keras")
    ids, mask = keras.Input((8,), name="ids"), keras.Input((4,), name="mask")
    joined = keras.ops.concatenate([ids, mask], axis=-1)
    model = keras.Model([ids, mask], keras.layers.Dense(2)(joined))
    in_order = load_graph(model, ["1x8", "1x4"])
    for given in (["mask=1x4", "ids=1x8"], {"ids": "1x8", "mask": "1x4"}, ["1x8", "mask=1x4"]):
        graph = load_graph(model, given)  # type: ignore[arg-type]
        assert [(n.name, n.output_shape, n.macs) for n in graph.nodes] == [
            (n.name, n.output_shape, n.macs) for n in in_order.nodes
        ]
    for given, said in (
        (["x=1x8"], "has no input named 'x'; its inputs: ids, mask"),
        (["1x8", "ids=1x8"], "got its input 'ids' twice, by position and by keyword"),
        (["mask=1x4"], "takes its inputs ids, mask; received none for ids"),
    ):
        with pytest.raises(StridescopeError, match=said):
            load_graph(model, given)


def test_spec_files_and_unbuilt_keras_models_take_their_inputs_in_order() -> None:
    keras = pytest.importorskip("keras")
    spec = Path(__file__).resolve().parents[3] / "examples" / "seed_cnn.toml"
    with pytest.raises(StridescopeError, match=r"a spec file takes its inputs in order; "):
        load_graph(str(spec), "x=1x3x8x8")
    model = keras.Sequential([keras.layers.Conv2D(4, 1)])  # no keras.Input: no names
    with pytest.raises(StridescopeError, match="takes its inputs in order; received x=1x8x8x3"):
        load_graph(model, ["x=1x8x8x3"])


def test_a_forward_of_keyword_only_inputs_given_a_positional_one_says_how_to_name_them() -> None:
    class Pixels(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, *, pixel_values: torch.Tensor, mask: Any = None) -> torch.Tensor:
            return self.conv(pixel_values)

    with pytest.raises(StridescopeError) as raised:
        load_graph(Pixels(), (1, 3, 8, 8))
    assert str(raised.value).endswith(
        "takes 1 positional argument but 2 were given; its forward takes pixel_values by "
        "keyword only: give its shape as pixel_values=SHAPE"
    )
    assert load_graph(Pixels(), ["pixel_values=1x3x8x8"]).nodes[-1].output_shape == (1, 4, 6, 6)
