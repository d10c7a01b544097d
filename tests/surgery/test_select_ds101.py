"""The DS101 stand-in (layers that skip input) against an independent computation from the
modules themselves, and what ``blurpool`` does to it: no changed layer skips input any
more, and input coverage goes back to 1.0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from resnet_models import resnet50, seed_cnn
from torch import nn

import stridescope
from stridescope.frontends import load_graph
from stridescope.surgery import fix, layers_for_code, policy_names, skipping_layers

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


@pytest.mark.parametrize(("v1", "count"), [(True, 6), (False, 3)])
def test_ds101_on_resnet50_matches_the_modules(v1: bool, count: int) -> None:
    model = resnet50(stride_in_1x1=v1, device="meta")
    graph = load_graph(model, (1, 3, 224, 224))
    assert set(skipping_layers(graph)) == _skips_by_modules(model)
    assert len(skipping_layers(graph)) == count
    assert layers_for_code(graph, "DS101") == skipping_layers(graph)


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
def test_after_blurpool_nothing_skips_and_coverage_is_whole(skips: int, size: int) -> None:
    shape = (1, 3, 32, 32)
    model = _chain(skips)
    before = stridescope.summary(model, shape)
    assert before.input_coverage == pytest.approx(0.25**skips)
    fixed = fix(model, "blurpool", input_shape=shape, filter_size=size, select="DS101")
    assert len(fixed.changes) == skips
    after = stridescope.summary(fixed.model, shape)
    assert after.input_coverage == 1.0
    assert skipping_layers(fixed.after) == ()
    changed = [
        r for r in after.layers if any(r.path.startswith(c.layer + ".") for c in fixed.changes)
    ]
    assert changed and all(r.read_fraction in (None, 1.0) for r in changed)
    x = torch.randn(2, 3, 32, 32)
    assert fixed.model(x).shape == model(x).shape


@pytest.mark.parametrize("policy", policy_names())
def test_every_policy_removes_ds101_on_the_layers_it_swaps(policy: str) -> None:
    model = resnet50(stride_in_1x1=True, device="meta")
    fixed = fix(model, policy, input_shape=(1, 3, 224, 224), select="DS101")
    assert {c.layer for c in fixed.changes} == set(skipping_layers(fixed.before))
    left = set(skipping_layers(fixed.after))
    assert not any(
        name.startswith(c.layer + ".") or name == c.layer for c in fixed.changes for name in left
    )
