"""The ``fix`` of every lint finding, priced by the fix policies: on a ResNet-50 v1 each one
equals the difference of the two summaries (the model before, and the model ``fix`` returns
for that policy and those layers); a policy that cannot swap a layer, or whose swap would not
remove the finding, gives ``None``; and on random layers the price is never a wrong number:
where lint quotes one, ``fix`` swaps the layer at that cost and lint no longer finds the code
there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.analysis.lint import Finding, LintOptions, lint_graph
from stridescope.ir import Graph, GraphBuilder
from stridescope.surgery import fix_estimate
from stridescope.surgery.plans import BlurStep, Plan
from stridescope.surgery.policies import policy_plan
from tests.frontends.pytorch.resnet_models import resnet50

SHAPE = (1, 3, 224, 224)


def _layers(graph: Graph, finding: Finding) -> list[str]:
    return [graph.nodes[i].name for i in finding.nodes]


def test_resnet50_v1_every_fix_equals_the_difference_of_the_summaries() -> None:
    model = resnet50(stride_in_1x1=True, device="meta")
    graph = stridescope.summary(model, SHAPE)
    report = stridescope.lint(model, SHAPE)
    priced = [f for f in report.findings if f.fix is not None]
    # 6 DS101 (resnet-d) and 8 DS401 (the stem conv and max pool: blurpool; the six 1x1
    # stride-2 convs: blurpool-first)
    assert sorted({(f.code, f.fix.policy) for f in priced if f.fix}) == [
        ("DS101", "resnet-d"),
        ("DS401", "blurpool"),
        ("DS401", "blurpool-first"),
    ]
    assert len(priced) == len(report.findings) == 14
    before = stridescope.frontends.load_graph(model, SHAPE)
    for finding in priced:
        assert finding.fix is not None
        fixed = stridescope.fix(
            model, finding.fix.policy, select=_layers(before, finding), input_shape=SHAPE
        )
        after = stridescope.summary(fixed.after)
        assert finding.fix.delta_params == after.totals.params - graph.totals.params
        assert finding.fix.delta_macs == after.totals.macs - graph.totals.macs, finding.layer
        assert (fixed.delta_params, fixed.delta_macs) == (
            finding.fix.delta_params,
            finding.fix.delta_macs,
        )


def _one(
    kind: str, *, size: int = 16, kernel: int = 1, stride: int = 2, padding: int = 0, **kw: bool
) -> Graph:
    b = GraphBuilder((1, 4, size, size), "nchw")
    if kind == "conv":
        b.conv(b.input, "layer", out_channels=4, kernel=kernel, stride=stride, padding=padding)
    elif kind == "blur":
        b.conv(b.input, "layer", out_channels=4, kernel=kernel, stride=stride, groups=4, params=0)
    else:
        b.pool(b.input, "layer", mode=kind, kernel=kernel, stride=stride, padding=padding, **kw)
    return b.build()


@pytest.mark.parametrize(
    ("graph", "code", "policy"),
    [
        # a ceil-mode pool whose last window hangs over the edge: a blur cannot reproduce it
        (_one("max", size=15, kernel=2, stride=2, ceil_mode=True), "DS401", "blurpool"),
    ],
)
def test_a_policy_that_cannot_remove_the_finding_gives_no_price(
    graph: Graph, code: str, policy: str
) -> None:
    (finding,) = [
        f for f in lint_graph(graph, LintOptions(measure=False)).findings if f.code == code
    ]
    assert finding.policy == policy
    assert fix_estimate(graph, finding) is None


@pytest.mark.parametrize(
    ("graph", "policies"),
    [
        (_one("avg", kernel=1), {"DS101": None, "DS401": None}),  # fix leaves average pools
        (_one("blur", kernel=3, stride=4), {"DS101": None}),  # and fixed filters alone
        (_one("conv", kernel=1, padding=1), {"DS101": "blurpool", "DS401": "blurpool"}),
        (_one("conv", kernel=1), {"DS101": "resnet-d", "DS401": "blurpool-first"}),
        # stride 8: a blur at it needs 8 taps (fix blurs with 5 at most), one before it does not
        (
            _one("conv", kernel=3, stride=8, padding=1),
            {"DS101": None, "DS201": None, "DS401": "blurpool-first"},
        ),
        (_one("max", kernel=8, stride=8), {"DS401": None}),
    ],
)
def test_lint_names_only_policies_that_swap_the_layer(
    graph: Graph, policies: dict[str, str | None]
) -> None:
    report = lint_graph(graph, LintOptions(measure=False), fix_estimate=fix_estimate)
    found = {f.code: f for f in report.findings if f.layer == "layer"}
    assert {code: f.policy for code, f in found.items()} == policies
    for f in found.values():
        assert (f.fix is None) == (f.policy is None)


@st.composite
def _layer(draw: st.DrawFn) -> tuple[nn.Module, int]:
    size = draw(st.integers(5, 14))
    kernel = draw(st.integers(1, 3))
    stride = draw(st.integers(2, 3))
    padding = draw(st.integers(0, kernel // 2))
    kind = draw(st.sampled_from(["conv", "max"]))
    if kind == "conv":
        layer: nn.Module = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding)
    else:
        ceil = draw(st.booleans())
        layer = nn.MaxPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil)
    return nn.Sequential(nn.Conv2d(3, 3, 1), layer, nn.Flatten()), size


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_layer())
def test_a_quoted_price_is_what_fix_does_and_removes_the_finding(
    case: tuple[nn.Module, int],
) -> None:
    model, size = case
    shape = (1, 3, size, size)
    report = stridescope.lint(model, shape, select="DS1,DS2,DS4")
    graph = stridescope.frontends.load_graph(model, shape)
    for finding in report.findings:
        if finding.policy is None:
            continue
        layers = _layers(graph, finding)
        fixed = stridescope.fix(model, finding.policy, select=layers, input_shape=shape)
        after = stridescope.lint(fixed.model, shape, select=finding.code)
        if finding.layer is None:  # DS202: the pixels are read now, or they are not
            gone = after.input_coverage == 1.0
        else:
            gone = not [f for f in after.findings if (f.layer or "").startswith(finding.layer)]
        if finding.fix is None:  # no price: fix leaves a layer, or the finding stays
            assert len(fixed.changes) < len(layers) or not gone
            continue
        assert {c.layer for c in fixed.changes} == set(layers), fixed.unchanged
        assert (fixed.delta_params, fixed.delta_macs) == (
            finding.fix.delta_params,
            finding.fix.delta_macs,
        )
        assert gone
        x = torch.randn(2, *shape[1:])
        assert fixed.model(x).shape == model(x).shape


def test_pricing_the_fixes_of_a_spec_file_never_imports_torch() -> None:
    code = (
        "import sys, stridescope\n"
        "r = stridescope.lint('examples/seed_cnn.toml', ignore='DS4')\n"
        "assert r.findings[0].fix is not None, r.findings\n"
        "print('torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_a_blur_at_a_stride_above_its_size_gets_a_tap_per_step() -> None:
    """A 3x3 stride-4 conv: blurpool's blur at stride 4 gets 4 taps (3 would leave every
    fourth position unread, a skip fix would have made), so the skip is priced as removed."""
    graph = _one("conv", kernel=3, stride=4, padding=1)
    plan = policy_plan("blurpool", graph, graph.nodes[1])
    assert isinstance(plan, Plan) and plan.steps[1] == BlurStep((4, 4), (4, 4), ((1, 2), (1, 2)))
    finding = next(f for f in lint_graph(graph).findings if f.code == "DS101")
    assert finding.policy == "blurpool" and fix_estimate(graph, finding) is not None
    coarse = _one("conv", kernel=3, stride=8, padding=1)
    assert "needs as many taps" in str(policy_plan("blurpool", coarse, coarse.nodes[1]))
