"""``select`` by lint code runs lint's own rules: DS101 against an independent computation
from the modules themselves, every code lint knows (prefixes too; codes no policy acts on
refused in one line); and what ``blurpool`` does to the findings: lint reports no DS101 or
DS401 on the changed layers, and input coverage goes back to 1.0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import stridescope
from stridescope.analysis.lint import LintReport
from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.frontends import load_graph
from stridescope.ir import Graph, GraphBuilder, OpKind
from stridescope.surgery import fix, layers_for_code, policy_names, selectable_codes
from tests.frontends.pytorch.resnet_models import resnet50, seed_cnn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _skips_by_modules(model: nn.Module) -> set[str]:
    """Modules whose stride exceeds the dilated kernel on some axis, read off the modules."""
    found = set()
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            kernel = _pair(m.kernel_size)
            stride = _pair(m.stride)
            dilation = _pair(getattr(m, "dilation", 1))
            if any(s > d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True)):
                found.add(name)
    return found


def _pair(value: object) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def skipping_layers(graph: Graph) -> tuple[str, ...]:
    return layers_for_code(graph, "DS101")


def _on(report: LintReport, layers: set[str], codes: tuple[str, ...]) -> list[str]:
    """The findings of ``codes`` on ``layers`` or on the layers under them."""
    return [
        f"{f.code} {f.layer}"
        for f in report.findings
        if f.code in codes
        and f.layer is not None
        and any(f.layer == name or f.layer.startswith(name + ".") for name in layers)
    ]


@pytest.mark.parametrize(("v1", "count"), [(True, 6), (False, 3)])
def test_ds101_on_resnet50_matches_the_modules(v1: bool, count: int) -> None:
    model = resnet50(stride_in_1x1=v1, device="meta")
    graph = load_graph(model, (1, 3, 224, 224))
    assert set(skipping_layers(graph)) == _skips_by_modules(model)
    assert len(skipping_layers(graph)) == count
    assert layers_for_code(graph, "ds101") == skipping_layers(graph)


def test_ds101_flags_strided_slicing_and_the_seed() -> None:
    spec = importlib.util.spec_from_file_location("resnet20_a", EXAMPLES / "resnet20_option_a.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = load_graph(module.resnet20(), (1, 3, 32, 32))
    assert skipping_layers(graph) == ("blocks.3.getitem", "blocks.6.getitem")
    seed = load_graph(seed_cnn(), (1, 3, 32, 32))
    assert skipping_layers(seed) == ("5",)
    assert skipping_layers(load_graph(str(EXAMPLES / "seed_cnn.toml"))) == ("conv2d_2",)


def _chain(skips: int) -> nn.Sequential:
    """1x1 stride-2 convs, each reading one pixel in four: coverage 0.25 ** skips."""
    layers: list[nn.Module] = [nn.Conv2d(3, 8, 1, stride=2)]
    for _ in range(skips - 1):
        layers += [nn.ReLU(), nn.Conv2d(8, 8, 1, stride=2)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("skips", [1, 2])
@pytest.mark.parametrize("size", [3, 4])
def test_after_blurpool_lint_finds_nothing_on_the_changed_layers(skips: int, size: int) -> None:
    shape = (1, 3, 32, 32)
    model = _chain(skips)
    before = stridescope.lint(model, shape, select="DS1,DS2,DS4")
    assert before.input_coverage == pytest.approx(0.25**skips)
    assert [f.code for f in before.findings].count("DS101") == skips
    fixed = fix(model, "blurpool", input_shape=shape, filter_size=size, select="DS101")
    assert len(fixed.changes) == skips
    changed = {c.layer for c in fixed.changes}
    after = stridescope.lint(fixed.model, shape, select="DS1,DS2,DS4")
    assert after.input_coverage == 1.0
    assert _on(after, changed, ("DS101", "DS401")) == []
    assert after.findings == ()  # nothing else appeared either
    # the blur the fix inserts is what makes DS401 go: a parameter-free depthwise filter
    blurs = [n for n in fixed.after.nodes if n.name.endswith(".blur")]
    assert len(blurs) == skips and all(n.params == 0 and n.window for n in blurs)
    x = torch.randn(2, 3, 32, 32)
    assert fixed.model(x).shape == model(x).shape


def test_after_blurpool_a_keras_model_has_no_ds101_or_ds401_either() -> None:
    """The Keras BlurPool layer fix inserts reads as the same fixed depthwise filter."""
    keras_seed = stridescope.frontends.load_model(str(EXAMPLES / "seed_cnn_keras.py") + ":build")
    before = stridescope.lint(keras_seed, select="DS1,DS4")
    assert {(f.code, f.layer) for f in before.findings} == {
        ("DS101", "conv2d_2"),
        ("DS401", "conv2d_2"),
        ("DS401", "max_pooling2d"),
    }
    fixed = fix(keras_seed, "blurpool")
    assert {c.layer for c in fixed.changes} == {"conv2d_2", "max_pooling2d"}
    after = stridescope.lint(fixed.model, select="DS1,DS2,DS4")
    assert after.findings == () and after.input_coverage == 1.0


@pytest.mark.parametrize("policy", policy_names())
def test_every_policy_removes_ds101_on_the_layers_it_swaps(policy: str) -> None:
    model = resnet50(stride_in_1x1=True, device="meta")
    fixed = fix(model, policy, input_shape=(1, 3, 224, 224), select="DS101")
    assert {c.layer for c in fixed.changes} == set(skipping_layers(fixed.before))
    after = stridescope.lint(fixed.after, select="DS101")
    assert _on(after, {c.layer for c in fixed.changes}, ("DS101",)) == []


def _stem_and_shortcut() -> Graph:
    """A 3x3 stride-2 stem without padding on an even size (DS201, DS202) and a 1x1 stride-2
    conv (DS101, DS401), then a merge of misaligned branches (DS301)."""
    b = GraphBuilder((1, 3, 16, 16), "nchw")
    stem = b.conv(b.input, "stem", out_channels=8, kernel=3, stride=2)  # 7x7, last row unread
    down = b.conv(stem, "down", out_channels=8, kernel=1, stride=2)  # 4x4
    main = b.conv(stem, "main", out_channels=8, kernel=3, stride=2, padding=1)  # 4x4
    b.merge([down, main], "add", kind=OpKind.ADD)
    return b.build()


@pytest.mark.parametrize(
    ("code", "layers"),
    [
        ("DS101", ("down",)),
        ("DS201", ("stem",)),
        ("DS202", ("stem",)),  # the main path reads every pixel the shortcut skips
        ("DS401", ("stem", "down", "main")),
        ("DS2", ("stem",)),  # a prefix: DS201 and DS202
        ("DS101,DS201", ("stem", "down")),
    ],
)
def test_every_code_a_policy_acts_on_selects_its_layers(code: str, layers: tuple[str, ...]) -> None:
    graph = _stem_and_shortcut()
    assert layers_for_code(graph, code) == layers
    assert set(layers) <= {n.name for n in graph.nodes}


@pytest.mark.parametrize("code", ["DS001", "DS301", "DS501", "DS5"])
def test_codes_without_layers_to_swap_are_refused_in_one_line(code: str) -> None:
    with pytest.raises(StridescopeError, match="flags nothing a fix swaps") as error:
        layers_for_code(_stem_and_shortcut(), code)
    assert "\n" not in str(error.value) and "DS101, DS201, DS202, DS401" in str(error.value)
    assert set(selectable_codes()) == {"DS101", "DS201", "DS202", "DS401"}


def test_an_unknown_code_lists_the_known_ones() -> None:
    model = _chain(1)
    with pytest.raises(UnknownNameError, match="unknown lint code 'DS999'; known: DS001"):
        fix(model, "blurpool", input_shape=(1, 3, 8, 8), select="DS999")
