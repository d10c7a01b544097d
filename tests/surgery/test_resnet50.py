"""A ResNet-50 v1 fixed with each policy: the Δparams/ΔMACs a fix reports equal the
difference of the two summaries, layer by layer as in total, and ``fix_cost`` on the IR
gives the same numbers without a model."""

from __future__ import annotations

import pytest

import stridescope
from stridescope.surgery import fix, fix_cost, policy_names
from tests.frontends.pytorch.resnet_models import resnet50

SHAPE = (1, 3, 224, 224)
V1_SKIPPING = {f"layer{i}.0.{part}" for i in (2, 3, 4) for part in ("conv1", "downsample.0")}
# the layers each policy swaps in ResNet-50 v1: the stem conv, the max pool, and the six
# 1x1 stride-2 convs (three main paths, three shortcuts)
SWAPPED = {
    "blurpool": {"conv1", "maxpool", *V1_SKIPPING},
    "blurpool-first": {"conv1", "maxpool", *V1_SKIPPING},
    "resnet-d": V1_SKIPPING,
    "s2d": V1_SKIPPING,
    "aps": {"conv1", "maxpool", *V1_SKIPPING},
}


@pytest.mark.parametrize("policy", policy_names())
def test_reported_costs_equal_the_difference_of_the_summaries(policy: str) -> None:
    fixed = fix(resnet50(stride_in_1x1=True, device="meta"), policy, input_shape=SHAPE)
    assert {c.layer for c in fixed.changes} == SWAPPED[policy]
    assert {u.layer for u in fixed.unchanged} == {"conv1", "maxpool"} - SWAPPED[policy]
    before = stridescope.summary(fixed.before)
    after = stridescope.summary(fixed.after)
    assert before.totals.params == 25_557_032 and before.totals.uncounted == ()
    assert after.totals.uncounted == ()
    assert fixed.delta_params == after.totals.params - before.totals.params
    assert fixed.delta_macs == after.totals.macs - before.totals.macs
    for change in fixed.changes:  # per layer: the rows under the layer's path
        rows_before = [r for r in before.layers if r.path == change.layer]
        rows_after = [r for r in after.layers if r.path.startswith(change.layer + ".")]
        macs = sum(r.macs for r in rows_after) - sum(r.macs for r in rows_before)
        params = sum(r.params for r in rows_after) - sum(r.params for r in rows_before)
        assert (change.delta_params, change.delta_macs) == (params, macs), change.layer


@pytest.mark.parametrize("policy", policy_names())
def test_fix_cost_on_the_ir_equals_what_fix_reports(policy: str) -> None:
    model = resnet50(stride_in_1x1=True, device="meta")
    fixed = fix(model, policy, input_shape=SHAPE)
    for change in fixed.changes:
        cost = fix_cost(fixed.before, policy, change.layer)
        assert cost is not None
        assert (cost.delta_params, cost.delta_macs) == (change.delta_params, change.delta_macs)
        assert cost.output_at_start == change.output_at_start
    for kept in fixed.unchanged:
        assert fix_cost(fixed.before, policy, kept.layer) is None
    direct = fix_cost(model, policy, "layer2.0.downsample.0", SHAPE)
    assert direct is not None and direct.layer == "layer2.0.downsample.0"
