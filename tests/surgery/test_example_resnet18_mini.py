"""The example model of docs/own-model.md (examples/resnet18_mini.py): what lint finds in it,
what each fix policy does to those findings, and the fixed factories the docs load trained
weights into."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

import stridescope

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (1, 1, 28, 28)
SHORTCUTS = [f"layer{i}.0.downsample.0" for i in (2, 3, 4)]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "resnet18_mini", ROOT / "examples/resnet18_mini.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layers(report: stridescope.analysis.lint.LintReport, code: str) -> list[str | None]:
    return [f.layer for f in report.findings if f.code == code]


def test_lint_finds_the_three_shortcuts_and_six_strided_convs(example: ModuleType) -> None:
    report = stridescope.lint(example.build(), SHAPE)
    assert _layers(report, "DS101") == SHORTCUTS
    reads = [f.evidence["read_fraction"] for f in report.findings if f.code == "DS101"]
    assert reads == [0.25, 0.25, 16 / 49]  # 4x4 of the 7x7 map in stage 4
    assert len(_layers(report, "DS401")) == 6
    assert report.counts == {"error": 0, "warning": 3, "info": 6}
    assert all(f.fix is not None for f in report.findings)


@pytest.mark.parametrize(
    ("policy", "after"),
    [
        ("resnet-d", {"DS301": 3, "DS401": 3}),  # shortcuts half a pixel off the main paths
        ("blurpool", {}),
        # the 3x3 main paths still sample without a low-pass; the 2x2 phases of space-to-depth
        # are centred where a 2x2 average pool's are
        ("s2d", {"DS301": 3, "DS401": 3}),
    ],
)
def test_each_policy_removes_the_skipped_input(
    example: ModuleType, policy: str, after: dict[str, int]
) -> None:
    fixed = stridescope.fix(example.build(), policy, input_shape=SHAPE)
    report = stridescope.lint(fixed.model, SHAPE)
    found: dict[str, int] = {}
    for finding in report.findings:
        found[finding.code] = found.get(finding.code, 0) + 1
    assert found == after


@pytest.mark.parametrize("factory", ["build", "blurpool", "resnet_d", "s2d"])
def test_the_factories_build_the_fixed_networks_with_the_same_weights(
    example: ModuleType, factory: str
) -> None:
    torch.manual_seed(0)
    model = getattr(example, factory)(num_classes=5)
    torch.manual_seed(0)
    plain = example.build(num_classes=5)
    x = torch.randn(2, *SHAPE[1:])
    assert model.eval()(x).shape == (2, 5)
    assert torch.equal(model.state_dict()["fc.weight"], plain.state_dict()["fc.weight"])
