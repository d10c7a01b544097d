"""``fix`` on layers held or used more than once, and on layers it cannot swap as they are:
a conv registered at two paths or called twice is swapped wherever the forward calls it (it
was swapped at one path while the forward called the old one at the other, and the report
said changed); a parametrized or hooked conv is left as it is with the reason (the swap
dropped its weight norm silently); a lazy model is refused in one line (its trace made its
weights, in the model passed); a model torch cannot copy is refused in one line (a traceback);
``--save`` to a path it cannot write is refused before the work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
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


def test_a_model_torch_cannot_copy_is_refused_in_one_line() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1, 2))
    with pytest.warns(FutureWarning):
        model[0] = nn.utils.weight_norm(model[0])
    with pytest.raises(StridescopeError, match="torch cannot copy this one"):
        stridescope.fix(model, "resnet-d", input_shape=SHAPE)


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
