"""``fix`` and ``lint`` on models in the states users leave them in (found by a probe of 213
cases): a layer called twice that has no weights (a max pool), a later call selected by name,
weights tied between layers or held as plain tensors, TorchScript models, models used in
``torch.inference_mode``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.errors import StridescopeError

SHAPE = (1, 8, 16, 16)


class _PoolTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, 1, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.pool(x)))


class _DownTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(8, 8, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.relu(self.down(x)))


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(8, 8, 1)
        self.b = nn.Conv2d(8, 8, 1, stride=2)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.relu(self.a(x)))


def _fixed_difference(model: nn.Module, policy: str) -> tuple[int, int, int, int]:
    """(reported Δparams, Δparams of the two summaries, reported ΔMACs, ΔMACs of the two)."""
    fixed = stridescope.fix(model, policy, input_shape=SHAPE)
    before = stridescope.summary(model, SHAPE).totals
    after = stridescope.summary(fixed.model, SHAPE).totals
    return (
        sum(c.delta_params for c in fixed.changes),
        after.params - before.params,
        sum(c.delta_macs for c in fixed.changes),
        after.macs - before.macs,
    )


@pytest.mark.parametrize("policy", ["blurpool", "aps"])
def test_a_max_pool_called_twice_is_reported_at_both_calls(policy: str) -> None:
    """fix swaps the module, so both calls change; the second was listed unchanged ('not a
    module path') and its MACs left out of the report (40,992 reported, 50,752 real)."""
    model = _PoolTwice().eval()
    fixed = stridescope.fix(model, policy, input_shape=SHAPE)
    assert [c.layer for c in fixed.changes] == ["pool", "pool_1"]
    assert fixed.unchanged == ()
    reported, real, reported_macs, real_macs = _fixed_difference(model, policy)
    assert (reported, reported_macs) == (real, real_macs)
    priced = [f for f in stridescope.lint(model, SHAPE).findings if f.layer == "pool_1"]
    assert priced and all(f.fix is not None for f in priced)


def test_selecting_a_later_call_swaps_the_layer() -> None:
    """Lint prices the later call ``down_1``; ``select=['down_1']`` swapped nothing."""
    model = _DownTwice().eval()
    finding = next(
        f for f in stridescope.lint(model, SHAPE).findings if f.layer == "down_1" and f.fix
    )
    assert finding.fix is not None
    fixed = stridescope.fix(model, finding.fix.policy, select=["down_1"], input_shape=SHAPE)
    change = {c.layer: c for c in fixed.changes}["down_1"]
    assert (change.delta_params, change.delta_macs) == (
        finding.fix.delta_params,
        finding.fix.delta_macs,
    )


@pytest.mark.parametrize("policy", ["blurpool", "resnet-d", "aps"])
def test_a_weight_tied_to_another_layer_stays_tied(policy: str) -> None:
    """The swapped conv holds the layer's own weight (it was a copy: +64 parameters the
    report did not show, and the tie broken)."""
    model = _Tied().eval()
    fixed = stridescope.fix(model, policy, input_shape=SHAPE)
    assert fixed.model.a.weight is fixed.model.b.conv.weight
    reported, real, _, _ = _fixed_difference(model, policy)
    assert reported == real == 0
    assert model.b.weight is model.a.weight  # (the model passed in: as it was)


def test_a_plain_tensor_weight_stays_a_plain_tensor() -> None:
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 1, 2))
    held = model[2].weight.detach().clone()
    del model[2].weight
    model[2].weight = held
    fixed = stridescope.fix(model.eval(), "blurpool", input_shape=SHAPE)
    names = [n for n, _ in fixed.model.named_parameters()]
    assert "2.conv.weight" not in names and "2.conv.bias" in names
    assert sum(p.numel() for p in fixed.model.parameters()) == sum(
        p.numel() for p in model.parameters()
    )


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_models_are_refused_by_fix_and_unpriced_by_lint(how: str) -> None:
    """lint and fix leaked torch's RuntimeError ('get_submodule is not supported on
    ScriptModules')."""
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1, 2)).eval()
    scripted = (
        torch.jit.script(model) if how == "script" else torch.jit.trace(model, torch.randn(SHAPE))
    )
    with pytest.raises(StridescopeError, match="received a TorchScript one"):
        stridescope.fix(scripted, "s2d", input_shape=SHAPE)
    findings = stridescope.lint(scripted, SHAPE).findings
    assert any(f.policy for f in findings) and all(f.fix is None for f in findings)


def test_a_model_used_in_inference_mode_is_summarised() -> None:
    """Its buffers are inference tensors, which keep no version counter: the trace read it and
    failed ('Inference tensors do not track version counter')."""
    with torch.inference_mode():
        model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)).eval()
        inside = stridescope.summary(model, SHAPE).totals.params
    assert inside == stridescope.summary(model, SHAPE).totals.params == 8 * 8 * 9 + 8 + 16
