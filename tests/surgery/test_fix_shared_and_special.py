"""``fix`` on layers held or used more than once, and on layers it cannot swap as they are:
a conv registered at two paths or called twice is swapped wherever the forward calls it (it
was swapped at one path while the forward called the old one at the other, and the report
said changed); a parametrized or hooked conv is left as it is with the reason (the swap
dropped its weight norm silently); a lazy model is refused in one line (its trace made its
weights, in the model passed); a model torch cannot copy is refused in one line (a traceback);
``--save`` to a path it cannot write is refused before the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils import prune
from typer.testing import CliRunner

import stridescope
from stridescope.cli import app
from stridescope.errors import StridescopeError

SHAPE = (1, 3, 32, 32)


class Alias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 1, 2)
        self.alias = self.down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alias(x)


def _twice() -> nn.Module:
    conv = nn.Conv2d(3, 3, 1, 2)
    return nn.Sequential(conv, nn.ReLU(), conv)


@pytest.mark.parametrize("policy", ["resnet-d", "blurpool", "s2d", "aps"])
@pytest.mark.parametrize("build", [Alias, _twice], ids=["two paths", "called twice"])
def test_a_layer_used_twice_is_swapped_wherever_it_is_called(build: type, policy: str) -> None:
    model = build().eval()
    fixed = stridescope.fix(model, policy, input_shape=SHAPE)
    before = stridescope.summary(model, SHAPE).totals
    after = stridescope.summary(fixed.model, SHAPE).totals
    assert sum(c.delta_params for c in fixed.changes) == after.params - before.params
    assert sum(c.delta_macs for c in fixed.changes) == after.macs - before.macs
    assert "DS101" not in [f.code for f in stridescope.lint(fixed.model, SHAPE).findings]
    real = sum(p.numel() for p in fixed.model.parameters())  # (a shared layer stays shared)
    assert real == after.params


def test_parametrized_and_hooked_layers_are_left_with_the_reason() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 1, 2))
    model[0] = nn.utils.parametrizations.weight_norm(model[0])
    model[2].register_forward_hook(lambda m, i, o: o)
    fixed = stridescope.fix(model, "blurpool", input_shape=SHAPE)
    assert fixed.changes == ()
    assert [u.layer for u in fixed.unchanged] == ["0", "2"]
    assert all("parametrized or it has hooks" in u.reason for u in fixed.unchanged)


def test_a_lazy_model_is_refused_and_left_as_it_was() -> None:
    model = nn.Sequential(nn.LazyConv2d(8, 1, 2), nn.ReLU())
    before = repr(model)
    assert stridescope.summary(model, SHAPE).totals.params == 3 * 8 + 8
    assert repr(model) == before  # (the trace made a copy's weights)
    with pytest.raises(StridescopeError, match=r"0 \(LazyConv2d\) has none yet"):
        stridescope.fix(model, "resnet-d", input_shape=SHAPE)
    assert repr(model) == before


def _old_weight_norm(model: nn.Sequential) -> None:
    with pytest.warns(FutureWarning):
        model[0] = nn.utils.weight_norm(model[0])


def _pruned(model: nn.Sequential) -> None:
    prune.l1_unstructured(model[0], "weight", amount=0.3)


@pytest.mark.parametrize("hook", [_old_weight_norm, _pruned], ids=["weight_norm", "prune"])
def test_a_model_whose_hooks_hold_computed_weights_is_fixed(hook: Any) -> None:
    """The old ``weight_norm`` and ``prune`` (before ``prune.remove``) keep the weight a hook
    computes as a plain attribute; after a forward it holds autograd history, which torch
    will not deep-copy: fix refused the whole model ('torch cannot copy this one', blaming
    weight_norm for a pruned one). The copy now takes it detached: the hooked layer is left
    with the reason, the others are swapped, and the model passed in keeps its tensor."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 1, 2))
    hook(model)
    model(torch.randn(SHAPE))  # (its weight now holds autograd history)
    held = model[0].weight
    fixed = stridescope.fix(model, "blurpool-first", input_shape=SHAPE)
    assert [c.layer for c in fixed.changes] == ["2"]
    assert [u.layer for u in fixed.unchanged] == ["0"]
    assert "hooks" in fixed.unchanged[0].reason
    assert model[0].weight is held and held.grad_fn is not None
    assert fixed.model(torch.randn(SHAPE)).shape == model(torch.randn(SHAPE)).shape


def test_save_to_a_path_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    target = ["fix", "examples/seed_cnn_torch.py:build", "--policy", "resnet-d"]
    target += ["--input", "1x3x32x32", "--save"]
    for path, said in [
        (tmp_path / "missing" / "x.pt", "does not exist"),
        (tmp_path, "names a directory"),
    ]:
        result = runner.invoke(app, [*target, str(path)])
        assert result.exit_code == 2 and said in result.output
        assert len(result.output.strip().splitlines()) == 1
